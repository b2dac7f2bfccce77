// DataLoader: coverage of each epoch, seeded shuffling, drop_last, prefetching
// on a worker thread (same results, errors re-thrown, early exit), custom batch
// samplers; Subset and random_split.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

#include "datasets/dataloader.h"
#include "datasets/subset.h"

using namespace focus;
using namespace focus::data;

namespace {

// Example i is the number i; optionally throws at one index and counts calls.
class NumberDataset : public Dataset<int64_t> {
 public:
  explicit NumberDataset(int64_t n, int64_t throw_at = -1) : n_(n), throw_at_(throw_at) {}
  int64_t size() const override { return n_; }
  int64_t get(int64_t index) const override {
    ++calls;
    if (index == throw_at_) throw std::runtime_error("NumberDataset: cannot load index " + std::to_string(index));
    return index;
  }
  mutable std::atomic<int64_t> calls{0};

 private:
  int64_t n_;
  int64_t throw_at_;
};

using Batch = std::vector<int64_t>;
Batch keep(std::vector<int64_t>&& examples) { return std::move(examples); }
using Loader = DataLoader<int64_t, Batch>;

std::vector<Batch> run_epoch(Loader& loader, int64_t epoch) {
  std::vector<Batch> batches;
  for (Batch& batch : loader.epoch(epoch)) batches.push_back(batch);
  return batches;
}

std::vector<int64_t> flatten(const std::vector<Batch>& batches) {
  std::vector<int64_t> all;
  for (const Batch& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

std::vector<int64_t> iota_vector(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

}  // namespace

TEST_CASE("every example appears exactly once per epoch, in batches of batch_size", "[data][dataloader]") {
  auto dataset = std::make_shared<NumberDataset>(50);
  for (bool prefetch : {true, false}) {
    Loader loader(dataset, {.batch_size = 7, .shuffle = true, .seed = 3, .prefetch = prefetch}, keep);
    REQUIRE(loader.num_batches() == 8);  // 7 full batches and one of 1
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      std::vector<Batch> batches = run_epoch(loader, epoch);
      REQUIRE(batches.size() == 8);
      for (size_t b = 0; b < 7; ++b) REQUIRE(batches[b].size() == 7);
      REQUIRE(batches[7].size() == 1);
      std::vector<int64_t> seen = flatten(batches);
      std::sort(seen.begin(), seen.end());
      REQUIRE(seen == iota_vector(50));
    }
  }
}

TEST_CASE("without shuffle the batches are consecutive indices", "[data][dataloader]") {
  Loader loader(std::make_shared<NumberDataset>(5), {.batch_size = 2}, keep);
  REQUIRE(run_epoch(loader, 0) == std::vector<Batch>{{0, 1}, {2, 3}, {4}});
  REQUIRE(run_epoch(loader, 9) == std::vector<Batch>{{0, 1}, {2, 3}, {4}});
}

TEST_CASE("shuffling is reproducible from the seed and differs between epochs", "[data][dataloader]") {
  auto dataset = std::make_shared<NumberDataset>(100);
  Loader a(dataset, {.batch_size = 10, .shuffle = true, .seed = 42}, keep);
  Loader b(dataset, {.batch_size = 10, .shuffle = true, .seed = 42}, keep);
  Loader other_seed(dataset, {.batch_size = 10, .shuffle = true, .seed = 43}, keep);

  const std::vector<int64_t> epoch0 = flatten(run_epoch(a, 0));
  const std::vector<int64_t> epoch1 = flatten(run_epoch(a, 1));
  REQUIRE(epoch0 != iota_vector(100));  // actually shuffled
  REQUIRE(epoch0 == flatten(run_epoch(b, 0)));
  REQUIRE(epoch1 == flatten(run_epoch(b, 1)));
  REQUIRE(epoch0 != epoch1);
  REQUIRE(epoch0 != flatten(run_epoch(other_seed, 0)));
  // The order does not depend on what ran before: epoch 1 first gives the same.
  Loader fresh(dataset, {.batch_size = 10, .shuffle = true, .seed = 42}, keep);
  REQUIRE(flatten(run_epoch(fresh, 1)) == epoch1);
  // The plan the loader exposes is the order it delivers.
  REQUIRE(flatten(a.batch_indices(0)) == epoch0);
}

TEST_CASE("begin()/end() iterate successive epochs of an internal counter", "[data][dataloader]") {
  auto dataset = std::make_shared<NumberDataset>(20);
  Loader loader(dataset, {.batch_size = 6, .shuffle = true, .seed = 7}, keep);
  Loader reference(dataset, {.batch_size = 6, .shuffle = true, .seed = 7}, keep);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    REQUIRE(loader.next_epoch() == epoch);
    std::vector<Batch> batches;
    for (Batch& batch : loader) batches.push_back(batch);
    REQUIRE(batches == run_epoch(reference, epoch));
  }
  REQUIRE(loader.next_epoch() == 3);
  loader.set_next_epoch(1);  // resuming a run replays epoch 1
  std::vector<Batch> replay;
  for (Batch& batch : loader) replay.push_back(batch);
  REQUIRE(replay == run_epoch(reference, 1));
}

TEST_CASE("drop_last drops the short final batch", "[data][dataloader]") {
  auto dataset = std::make_shared<NumberDataset>(50);
  Loader loader(dataset, {.batch_size = 7, .shuffle = true, .seed = 1, .drop_last = true}, keep);
  REQUIRE(loader.num_batches() == 7);
  std::vector<Batch> batches = run_epoch(loader, 0);
  REQUIRE(batches.size() == 7);
  for (const Batch& b : batches) REQUIRE(b.size() == 7);
  std::set<int64_t> distinct;
  for (int64_t i : flatten(batches)) distinct.insert(i);
  REQUIRE(distinct.size() == 49);
  // Without shuffle the dropped example is always the last one.
  Loader ordered(dataset, {.batch_size = 7, .drop_last = true}, keep);
  REQUIRE(flatten(run_epoch(ordered, 0)) == iota_vector(49));
  // Exactly divisible: nothing is dropped.
  Loader even(std::make_shared<NumberDataset>(14), {.batch_size = 7, .drop_last = true}, keep);
  REQUIRE(even.num_batches() == 2);
}

TEST_CASE("prefetching on a worker thread gives the same batches, transforms included", "[data][dataloader]") {
  using Pair = std::pair<int64_t, double>;
  using PairBatch = std::vector<Pair>;
  // Example = (index, 0); the transform draws a number from the example's generator.
  class PairDataset : public Dataset<Pair> {
   public:
    int64_t size() const override { return 37; }
    Pair get(int64_t index) const override { return {index, 0.0}; }
  };
  auto collate = [](std::vector<Pair>&& examples) { return PairBatch(std::move(examples)); };
  auto transform = [](Pair&& example, Generator& gen) {
    example.second = gen.uniform();
    return example;
  };
  auto dataset = std::make_shared<PairDataset>();
  auto epoch_of = [&](bool prefetch, int64_t epoch) {
    DataLoader<Pair, PairBatch> loader(dataset, {.batch_size = 4, .shuffle = true, .seed = 9, .prefetch = prefetch},
                                       collate);
    loader.set_transform(transform);
    std::vector<Pair> all;
    for (PairBatch& batch : loader.epoch(epoch)) all.insert(all.end(), batch.begin(), batch.end());
    return all;
  };
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const std::vector<Pair> threaded = epoch_of(true, epoch);
    REQUIRE(threaded == epoch_of(false, epoch));
    // Each example's randomness is that of its own (seed, epoch, index) generator.
    for (const auto& [index, value] : threaded) {
      Generator gen = example_generator(9, epoch, index);
      REQUIRE(value == gen.uniform());
    }
  }
  // ... so the same example gets different augmentations in different epochs.
  REQUIRE(epoch_of(true, 0) != epoch_of(true, 1));
}

TEST_CASE("an exception in the dataset or collate reaches the loop after the good batches", "[data][dataloader]") {
  for (bool prefetch : {true, false}) {
    DYNAMIC_SECTION("prefetch " << prefetch) {
      auto dataset = std::make_shared<NumberDataset>(30, /*throw_at=*/13);
      Loader loader(dataset, {.batch_size = 5, .prefetch = prefetch}, keep);
      std::vector<Batch> delivered;
      auto consume = [&] {
        for (Batch& batch : loader.epoch(0)) delivered.push_back(batch);
      };
      REQUIRE_THROWS_WITH(consume(), Catch::Contains("cannot load index 13"));
      REQUIRE(delivered.size() == 2);  // batches [0, 5) and [5, 10); [10, 15) failed
      REQUIRE(delivered[1] == Batch{5, 6, 7, 8, 9});
      // The loader is usable again afterwards.
      Loader healthy(std::make_shared<NumberDataset>(4), {.batch_size = 2, .prefetch = prefetch}, keep);
      REQUIRE(run_epoch(healthy, 0).size() == 2);

      Loader bad_collate(std::make_shared<NumberDataset>(4), {.batch_size = 2, .prefetch = prefetch},
                         [](std::vector<int64_t>&&) -> Batch { throw std::invalid_argument("collate: bad batch"); });
      REQUIRE_THROWS_WITH(run_epoch(bad_collate, 0), "collate: bad batch");
    }
  }
}

TEST_CASE("leaving the loop early stops the worker without hanging", "[data][dataloader]") {
  auto dataset = std::make_shared<NumberDataset>(100000);
  Loader loader(dataset, {.batch_size = 10, .shuffle = true}, keep);
  int64_t taken = 0;
  for (Batch& batch : loader.epoch(0)) {
    REQUIRE(batch.size() == 10);
    if (++taken == 2) break;
  }
  // The loop's iterator is gone, so the worker has been joined: no more loads.
  const int64_t calls = dataset->calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(dataset->calls.load() == calls);
  // Two taken, at most two queued and one being built when the loop ended.
  REQUIRE(calls <= 5 * 10);

  // Destroying a loader while an iterator it made is still alive is safe too.
  auto iterator = std::make_unique<Loader::Iterator>(Loader(dataset, {.batch_size = 10}, keep).epoch(0).begin());
  REQUIRE((**iterator).size() == 10);
  iterator.reset();
}

TEST_CASE("the prefetch queue holds at most two batches", "[data][dataloader]") {
  auto dataset = std::make_shared<NumberDataset>(1000);
  Loader loader(dataset, {.batch_size = 10}, keep);
  auto range = loader.epoch(0);
  auto it = range.begin();  // first batch taken
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The one handed out plus two ready; the worker waits for room before loading more.
  REQUIRE(dataset->calls.load() == 30);
  ++it;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(dataset->calls.load() == 40);
}

TEST_CASE("a custom batch sampler decides the batches of each epoch", "[data][dataloader]") {
  auto dataset = std::make_shared<NumberDataset>(6);
  // E.g. length buckets: a different grouping on odd epochs, batches of unequal size.
  BatchSampler sampler = [](int64_t epoch) -> std::vector<std::vector<int64_t>> {
    if (epoch % 2 == 0) return {{4, 1}, {0, 2, 5}, {3}};
    return {{5, 4, 3, 2, 1, 0}};
  };
  for (bool prefetch : {true, false}) {
    Loader loader(dataset, sampler, keep, {.prefetch = prefetch});
    REQUIRE(loader.num_batches(0) == 3);
    REQUIRE(loader.num_batches(1) == 1);
    REQUIRE(run_epoch(loader, 0) == std::vector<Batch>{{4, 1}, {0, 2, 5}, {3}});
    REQUIRE(run_epoch(loader, 1) == std::vector<Batch>{{5, 4, 3, 2, 1, 0}});
  }
  Loader broken(dataset, [](int64_t) { return std::vector<std::vector<int64_t>>{{0, 1}, {6}}; }, keep);
  REQUIRE_THROWS_WITH(run_epoch(broken, 2), Catch::Contains("batch 1 of epoch 2 asks for index 6 of a dataset of size 6"));
  REQUIRE_THROWS_WITH(Loader(dataset, BatchSampler(), keep), Catch::Contains("batch sampler is empty"));
}

TEST_CASE("an empty dataset gives an empty epoch, bad options are rejected", "[data][dataloader]") {
  Loader empty_loader(std::make_shared<NumberDataset>(0), {.batch_size = 4, .shuffle = true}, keep);
  REQUIRE(empty_loader.num_batches() == 0);
  REQUIRE(run_epoch(empty_loader, 0).empty());
  REQUIRE_THROWS_WITH(Loader(std::make_shared<NumberDataset>(3), {.batch_size = 0}, keep),
                      Catch::Contains("batch_size must be >= 1, got 0"));
  REQUIRE_THROWS_WITH(Loader(nullptr, {.batch_size = 1}, keep), Catch::Contains("dataset is null"));
}

TEST_CASE("random_split makes disjoint subsets of the requested sizes", "[data][subset]") {
  auto dataset = std::make_shared<NumberDataset>(100);
  auto parts = random_split(dataset, {80, 20}, 5);
  REQUIRE(parts.size() == 2);
  REQUIRE(parts[0]->size() == 80);
  REQUIRE(parts[1]->size() == 20);
  std::vector<int64_t> all;
  for (const auto& part : parts)
    for (int64_t i = 0; i < part->size(); ++i) all.push_back(part->get(i));
  std::sort(all.begin(), all.end());
  REQUIRE(all == iota_vector(100));
  REQUIRE(parts[1]->get(3) == parts[1]->indices()[3]);  // Subset maps through its indices

  REQUIRE(random_split(dataset, {80, 20}, 5)[1]->indices() == parts[1]->indices());
  REQUIRE(random_split(dataset, {80, 20}, 6)[1]->indices() != parts[1]->indices());

  // A subset is a dataset: it can feed a loader.
  Loader loader(parts[1], {.batch_size = 8}, keep);
  REQUIRE(loader.num_batches() == 3);

  REQUIRE_THROWS_WITH(random_split(dataset, {80, 30}, 5),
                      Catch::Contains("lengths [80, 30] add up to 110, but the dataset has 100 examples"));
  REQUIRE_THROWS_WITH(parts[1]->get(20), Catch::Contains("index 20 is out of range for size 20"));
  REQUIRE_THROWS_WITH(Subset<int64_t>(dataset, {3, 100}), Catch::Contains("index 100 (position 1)"));
}

TEST_CASE("derived seeds separate streams, epochs and indices", "[data][sampler]") {
  std::set<uint64_t> seeds;
  for (uint64_t epoch = 0; epoch < 20; ++epoch)
    for (uint64_t index = 0; index < 20; ++index) seeds.insert(derive_seed(1, SeedStream::Transform, epoch, index));
  REQUIRE(seeds.size() == 400);
  REQUIRE(derive_seed(1, SeedStream::Transform, 1, 2) != derive_seed(1, SeedStream::Transform, 2, 1));
  REQUIRE(derive_seed(1, SeedStream::Shuffle, 0) != derive_seed(1, SeedStream::Transform, 0));
  REQUIRE(derive_seed(1, SeedStream::Shuffle, 0) == derive_seed(1, SeedStream::Shuffle, 0));
  std::vector<int64_t> p = epoch_permutation(10, 3, 0);
  std::sort(p.begin(), p.end());
  REQUIRE(p == iota_vector(10));
}
