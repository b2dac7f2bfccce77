#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "tensor/generator.h"

namespace focus::data {

/// Which batches an epoch visits, in order: each inner vector holds the dataset
/// indices of one batch. A DataLoader can take one of these in place of its
/// built-in (optionally shuffled) sampler, e.g. to bucket sentences by length.
/// It must return the same batches for the same epoch (seed your own
/// shuffling with `derive_seed`), so runs are reproducible.
using BatchSampler = std::function<std::vector<std::vector<int64_t>>(int64_t epoch)>;

/// Independent random streams drawn from one user seed. Distinct streams keep,
/// for example, the shuffle order from changing when augmentation is turned on.
enum class SeedStream : uint64_t { Shuffle = 1, Transform = 2, Split = 3, User = 4, Flip = 5 };

/// A 64-bit seed for one (stream, epoch, index) derived from `seed` with the
/// splitmix64 finaliser. Nearby inputs give unrelated outputs, so a generator
/// per example is as good as one long stream, and it does not depend on which
/// thread or in which order examples are produced.
uint64_t derive_seed(uint64_t seed, SeedStream stream, uint64_t epoch, uint64_t index = 0);

/// The generator the DataLoader hands to the transform of example `index` in
/// `epoch`: call it yourself to reproduce one example's augmentation.
Generator example_generator(uint64_t seed, int64_t epoch, int64_t index);

/// Where an example is drawn: the loader's seed, the epoch and the example's dataset index.
/// A position-aware transform (DataLoader::set_transform) gets it beside the generator, for
/// augmentations planned across epochs rather than drawn afresh (data::alternating_flip).
struct ExamplePosition {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t index = 0;
};

/// 0 .. n-1 in a random order that depends only on (seed, epoch): the same for a
/// given epoch, different from one epoch to the next (Fisher–Yates).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

/// Cuts `order` into consecutive batches of `batch_size`. The last, shorter batch
/// is kept unless `drop_last`. Throws if batch_size < 1.
std::vector<std::vector<int64_t>> chunk_batches(const std::vector<int64_t>& order, int64_t batch_size,
                                                bool drop_last);

/// Number of batches `chunk_batches` makes from n indices.
int64_t count_batches(int64_t n, int64_t batch_size, bool drop_last);

}  // namespace focus::data
