#pragma once
#include <cstdint>
#include <vector>

#include "datasets/sampler.h"

namespace focus::data {

/// Which share of a dataset one process of a data-parallel run visits. Pure
/// arithmetic: the rank and world size are plain numbers (from MPI, NCCL or a
/// launcher's environment), so the sampling is tested without any of them.
///
/// Conventions, the same in every function of this file:
/// - Every rank builds the SAME order of the whole dataset from (seed, epoch),
///   `epoch_permutation(n, seed, epoch)`, never from seed + rank: the ranks then
///   agree on which examples were seen, and world_size 1 visits exactly what a
///   DataLoader with {shuffle, seed, drop_last} visits.
/// - Shards are rank-strided, order[rank], order[rank + world], ... (as PyTorch's
///   DistributedSampler does), so consecutive examples of the order go to
///   different ranks.
/// - Every rank gets the same number of indices and the same number of batches,
///   so a collective (the gradient all-reduce) is called equally often on each
///   rank and never hangs waiting for a rank that has run out of data.
struct DistributedSamplerOptions {
  /// This process, 0 .. world_size - 1.
  int64_t rank = 0;
  /// Number of processes that train together.
  int64_t world_size = 1;
  /// Visit the examples in a new random order each epoch; otherwise 0 .. n-1.
  bool shuffle = true;
  /// Seeds the order; must be the same on every rank.
  uint64_t seed = 0;
  /// false: the order's tail is padded by wrapping around to its start, so each
  ///   rank gets ceil(n / world_size) indices and a few examples are seen twice;
  ///   the last batch of a rank may be short.
  /// true: the tail that does not divide evenly is dropped, so each rank gets
  ///   floor(n / world_size) indices, the shards are disjoint, and (as the
  ///   DataLoader's drop_last) the short last batch is dropped too.
  bool drop_last = false;
};

/// Throws std::invalid_argument naming the values unless 1 <= world_size and
/// 0 <= rank < world_size. `caller` starts the message.
void check_distributed_options(const DistributedSamplerOptions& options, const char* caller);

/// How many indices every rank gets from a dataset of n examples:
/// ceil(n / world_size), or floor(n / world_size) with drop_last (0 when n is 0).
int64_t distributed_shard_size(int64_t n, const DistributedSamplerOptions& options);

/// This rank's indices of a dataset of n examples for `epoch`, in visiting
/// order: the shared order of all n (padded by wrap-around, or cut, to a
/// multiple of world_size), then every world_size-th entry from position rank.
/// Size: distributed_shard_size(n, options).
std::vector<int64_t> distributed_indices(int64_t n, int64_t epoch, const DistributedSamplerOptions& options);

/// This rank's batches for `epoch`: distributed_indices cut into batches of
/// per_rank_batch_size (the short last batch kept, unless drop_last). Every
/// rank gets the same number of batches, and batch b of every rank has the same
/// size. The global batch of one step is world_size × per_rank_batch_size.
std::vector<std::vector<int64_t>> distributed_batches(int64_t n, int64_t per_rank_batch_size, int64_t epoch,
                                                      const DistributedSamplerOptions& options);

/// A DataLoader batch sampler that calls distributed_batches for each epoch:
///
///     DataLoader<ImageExample, ImageBatch> loader(
///         train, make_distributed_batch_sampler(train->size(), 64, {.rank = rank, .world_size = world, .seed = 7}),
///         collate_images);
///
/// Throws at once (not at the first epoch) on bad options or per_rank_batch_size < 1.
BatchSampler make_distributed_batch_sampler(int64_t n, int64_t per_rank_batch_size,
                                            DistributedSamplerOptions options);

/// This rank's share of the length-bucketed batches of `bucket_batches` for
/// `epoch`. All ranks cut the same global batches of world_size ×
/// per_rank_batch_size similar lengths (shuffled, sorted by length within
/// chunks of `chunk_batches` global batches, batch order shuffled; seeded by
/// options.seed), and rank r takes entries r, r + world, ... of each, so every
/// rank's batch spans the same range of lengths and no rank waits on longer
/// sentences at the all-reduce. The one global batch that may be short:
/// - without drop_last it is padded, by repeating its own examples (which keeps
///   its lengths similar), to a multiple of world_size, so every rank gets
///   ceil(size / world_size) >= 1 of it;
/// - with drop_last it is dropped, and the ranks' batches are disjoint.
/// Same batch count on every rank. world_size 1 gives exactly
/// bucket_batches(lengths, per_rank_batch_size, seed, epoch, {chunk_batches, drop_last}).
/// Throws if options.shuffle is false (bucketing shuffles by design).
std::vector<std::vector<int64_t>> distributed_bucket_batches(const std::vector<int64_t>& lengths,
                                                             int64_t per_rank_batch_size, int64_t epoch,
                                                             const DistributedSamplerOptions& options,
                                                             int64_t chunk_batches = 50);

/// A DataLoader batch sampler that calls distributed_bucket_batches for each
/// epoch; the lengths are copied in. The distributed form of make_bucket_sampler:
///
///     DataLoader<SentencePair, SequenceBatch> loader(
///         train, make_distributed_bucket_sampler(train->source_lengths(), 64, {.rank = r, .world_size = w}),
///         collate_sequences);
BatchSampler make_distributed_bucket_sampler(std::vector<int64_t> lengths, int64_t per_rank_batch_size,
                                             DistributedSamplerOptions options, int64_t chunk_batches = 50);

/// A half-open range of dataset indices, begin .. end-1.
struct IndexRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  /// begin, begin + 1, ..., end - 1 (e.g. for a Subset).
  std::vector<int64_t> indices() const;
};

/// The examples rank `rank` evaluates: a contiguous range, disjoint from the
/// other ranks', so that together the ranks evaluate 0 .. n-1 exactly once (no
/// padding: a padded example would be counted twice in the metric). The first
/// n % world_size ranks get one example more; a rank gets none when n <
/// world_size, so sum the metric's numerator and denominator over ranks with an
/// all-reduce rather than averaging per-rank averages.
IndexRange evaluation_shard(int64_t n, int64_t rank, int64_t world_size);

}  // namespace focus::data
