// Distributed sampling: every rank the same index and batch counts, one shared
// order, padding by wrap-around or a dropped tail, world_size 1 equal to the
// DataLoader's own shuffle, length-bucketed global batches sliced per rank,
// evaluation shards that cover each example once, and errors naming the values.
// The ranks are simulated in one process: rank is a plain argument.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "datasets/dataloader.h"
#include "datasets/distributed_sampler.h"
#include "datasets/sequence_batch.h"

using namespace focus;
using namespace focus::data;
using Ids = std::vector<int64_t>;
using Batches = std::vector<Ids>;

namespace {

constexpr uint64_t kSeed = 1234;

class NumberDataset : public Dataset<int64_t> {
 public:
  explicit NumberDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  int64_t get(int64_t index) const override { return index; }

 private:
  int64_t n_;
};

DistributedSamplerOptions options_for(int64_t rank, int64_t world_size, bool drop_last, bool shuffle = true) {
  return {.rank = rank, .world_size = world_size, .shuffle = shuffle, .seed = kSeed, .drop_last = drop_last};
}

// What every simulated rank gets for (n, world_size, drop_last, epoch).
std::vector<Ids> all_shards(int64_t n, int64_t world_size, bool drop_last, int64_t epoch, bool shuffle = true) {
  std::vector<Ids> shards;
  for (int64_t rank = 0; rank < world_size; ++rank)
    shards.push_back(distributed_indices(n, epoch, options_for(rank, world_size, drop_last, shuffle)));
  return shards;
}

Ids flatten(const Batches& batches) {
  Ids all;
  for (const Ids& batch : batches) all.insert(all.end(), batch.begin(), batch.end());
  return all;
}

// Sentence-like lengths: mostly 3-12 tokens with a long tail.
Ids corpus_like_lengths(int64_t count, uint64_t seed) {
  Generator generator(seed);
  Ids lengths(static_cast<size_t>(count));
  for (int64_t& length : lengths)
    length = std::clamp<int64_t>(std::llround(std::exp(1.9 + 0.45 * generator.normal())), 1, 60);
  return lengths;
}

}  // namespace

TEST_CASE("distributed_indices: every rank gets the same count, ceil or floor of n / world_size", "[data][distributed]") {
  for (bool drop_last : {false, true}) {
    for (int64_t world = 1; world <= 4; ++world) {
      for (int64_t n = 0; n <= 17; ++n) {
        const int64_t expected = drop_last ? n / world : (n + world - 1) / world;
        for (int64_t rank = 0; rank < world; ++rank) {
          INFO("n " << n << " world " << world << " rank " << rank << " drop_last " << drop_last);
          const DistributedSamplerOptions options = options_for(rank, world, drop_last);
          CHECK(distributed_shard_size(n, options) == expected);
          const Ids shard = distributed_indices(n, 3, options);
          CHECK(static_cast<int64_t>(shard.size()) == expected);
          for (int64_t index : shard) CHECK((index >= 0 && index < n));
        }
      }
    }
  }
}

TEST_CASE("distributed_indices: the ranks' strided shards reassemble into one shared permutation", "[data][distributed]") {
  for (bool drop_last : {false, true}) {
    for (int64_t world = 1; world <= 4; ++world) {
      for (int64_t n = 0; n <= 17; ++n) {
        INFO("n " << n << " world " << world << " drop_last " << drop_last);
        const std::vector<Ids> shards = all_shards(n, world, drop_last, 5);
        const Ids permutation = epoch_permutation(n, kSeed, 5);
        const int64_t per_rank = static_cast<int64_t>(shards[0].size());
        // Position i of the shared order went to rank i % world, slot i / world;
        // past n it wraps around to the start of the permutation.
        for (int64_t i = 0; i < per_rank * world; ++i)
          CHECK(shards[static_cast<size_t>(i % world)][static_cast<size_t>(i / world)] ==
                permutation[static_cast<size_t>(i % n)]);
      }
    }
  }
}

TEST_CASE("distributed_indices: disjoint shards with drop_last, every index covered without", "[data][distributed]") {
  for (int64_t world = 1; world <= 4; ++world) {
    for (int64_t n = 0; n <= 17; ++n) {
      INFO("n " << n << " world " << world);
      {
        Ids all = flatten(all_shards(n, world, /*drop_last=*/true, 2));
        std::sort(all.begin(), all.end());
        CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
        CHECK(static_cast<int64_t>(all.size()) == n / world * world);
      }
      {
        const Ids all = flatten(all_shards(n, world, /*drop_last=*/false, 2));
        const std::set<int64_t> seen(all.begin(), all.end());
        CHECK(static_cast<int64_t>(seen.size()) == n);
        // Padding repeats at most world - 1 examples (or more when world > n).
        CHECK(static_cast<int64_t>(all.size()) - n == (n == 0 ? 0 : (world - n % world) % world));
      }
    }
  }
}

TEST_CASE("distributed_indices: same epoch same order, new epoch new order, no shuffle in order", "[data][distributed]") {
  for (int64_t rank = 0; rank < 3; ++rank) {
    const DistributedSamplerOptions options = options_for(rank, 3, false);
    CHECK(distributed_indices(60, 4, options) == distributed_indices(60, 4, options));
    CHECK(distributed_indices(60, 4, options) != distributed_indices(60, 5, options));
  }
  // The order depends on the seed, never on the rank: a different seed changes it.
  DistributedSamplerOptions other_seed = options_for(0, 3, false);
  other_seed.seed = kSeed + 1;
  CHECK(distributed_indices(60, 4, other_seed) != distributed_indices(60, 4, options_for(0, 3, false)));

  CHECK(all_shards(7, 3, false, 9, /*shuffle=*/false) == std::vector<Ids>{{0, 3, 6}, {1, 4, 0}, {2, 5, 1}});
  CHECK(all_shards(7, 3, true, 9, /*shuffle=*/false) == std::vector<Ids>{{0, 3}, {1, 4}, {2, 5}});
  CHECK(all_shards(2, 4, false, 0, /*shuffle=*/false) == std::vector<Ids>{{0}, {1}, {0}, {1}});
}

TEST_CASE("distributed batches: the same batch count and batch sizes on every rank", "[data][distributed]") {
  for (bool drop_last : {false, true}) {
    for (int64_t world = 1; world <= 4; ++world) {
      for (int64_t n = 0; n <= 17; ++n) {
        for (int64_t batch_size = 1; batch_size <= 5; ++batch_size) {
          INFO("n " << n << " world " << world << " batch " << batch_size << " drop_last " << drop_last);
          std::vector<Batches> per_rank;
          for (int64_t rank = 0; rank < world; ++rank) {
            const BatchSampler sampler = make_distributed_batch_sampler(n, batch_size, options_for(rank, world, drop_last));
            per_rank.push_back(sampler(1));
            // The batches are the rank's indices, in order (less the short last batch with drop_last).
            Ids order = distributed_indices(n, 1, options_for(rank, world, drop_last));
            if (drop_last) order.resize(order.size() / static_cast<size_t>(batch_size) * static_cast<size_t>(batch_size));
            CHECK(flatten(per_rank.back()) == order);
          }
          const int64_t shard = drop_last ? n / world : (n + world - 1) / world;
          const int64_t expected = drop_last ? shard / batch_size : (shard + batch_size - 1) / batch_size;
          for (const Batches& batches : per_rank) {
            REQUIRE(static_cast<int64_t>(batches.size()) == expected);
            for (size_t b = 0; b < batches.size(); ++b) {
              CHECK(batches[b].size() == per_rank[0][b].size());
              CHECK(!batches[b].empty());
              if (drop_last) CHECK(static_cast<int64_t>(batches[b].size()) == batch_size);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("distributed batches: world_size 1 is the DataLoader's own shuffle", "[data][distributed]") {
  for (bool drop_last : {false, true}) {
    for (bool shuffle : {false, true}) {
      for (int64_t n : {0, 1, 7, 16, 17}) {
        INFO("n " << n << " drop_last " << drop_last << " shuffle " << shuffle);
        const DataLoader<int64_t, Ids> loader(
            std::make_shared<NumberDataset>(n),
            {.batch_size = 4, .shuffle = shuffle, .seed = kSeed, .drop_last = drop_last, .prefetch = false},
            [](Ids&& examples) { return std::move(examples); });
        const BatchSampler sampler = make_distributed_batch_sampler(n, 4, options_for(0, 1, drop_last, shuffle));
        for (int64_t epoch : {0, 1, 2}) CHECK(sampler(epoch) == loader.batch_indices(epoch));
        CHECK(distributed_indices(n, 2, options_for(0, 1, false)) == epoch_permutation(n, kSeed, 2));
      }
    }
  }
}

TEST_CASE("distributed batches: a DataLoader per rank walks the same number of steps", "[data][distributed]") {
  const int64_t n = 23;
  const int64_t world = 4;
  std::vector<int64_t> steps;
  std::set<int64_t> seen;
  for (int64_t rank = 0; rank < world; ++rank) {
    DataLoader<int64_t, Ids> loader(std::make_shared<NumberDataset>(n),
                                    make_distributed_batch_sampler(n, 2, options_for(rank, world, false)),
                                    [](Ids&& examples) { return std::move(examples); });
    int64_t count = 0;
    for (Ids& batch : loader.epoch(0)) {
      ++count;
      seen.insert(batch.begin(), batch.end());
    }
    steps.push_back(count);
  }
  CHECK(steps == std::vector<int64_t>(world, 3));  // ceil(23 / 4) = 6 indices per rank, 3 batches of 2
  CHECK(static_cast<int64_t>(seen.size()) == n);
}

TEST_CASE("distributed bucket batches: every rank the same count, global batches of similar lengths", "[data][distributed]") {
  const Ids lengths = corpus_like_lengths(203, 11);
  const int64_t n = static_cast<int64_t>(lengths.size());
  const int64_t per_rank_batch = 6;
  for (bool drop_last : {false, true}) {
    for (int64_t world = 1; world <= 4; ++world) {
      INFO("world " << world << " drop_last " << drop_last);
      const int64_t global_batch = world * per_rank_batch;
      // One chunk holds the whole corpus: then the global batches are consecutive
      // runs of the length-sorted corpus, so their length ranges cannot overlap.
      const int64_t whole_corpus = n / global_batch + 1;
      std::vector<Batches> per_rank;
      for (int64_t rank = 0; rank < world; ++rank) {
        const BatchSampler sampler =
            make_distributed_bucket_sampler(lengths, per_rank_batch, options_for(rank, world, drop_last), whole_corpus);
        per_rank.push_back(sampler(3));
        CHECK(per_rank.back() == sampler(3));
        CHECK(per_rank.back() != sampler(4));
      }
      const int64_t expected = drop_last ? n / global_batch : (n + global_batch - 1) / global_batch;
      for (const Batches& batches : per_rank) REQUIRE(static_cast<int64_t>(batches.size()) == expected);

      std::vector<std::pair<int64_t, int64_t>> ranges;  // (shortest, longest) of each global batch
      Ids all;
      for (int64_t b = 0; b < expected; ++b) {
        Ids global;
        for (const Batches& batches : per_rank) {
          const Ids& batch = batches[static_cast<size_t>(b)];
          CHECK(!batch.empty());
          CHECK(static_cast<int64_t>(batch.size()) <= per_rank_batch);
          CHECK(batch.size() == per_rank[0][static_cast<size_t>(b)].size());
          if (drop_last) CHECK(static_cast<int64_t>(batch.size()) == per_rank_batch);
          global.insert(global.end(), batch.begin(), batch.end());
        }
        all.insert(all.end(), global.begin(), global.end());
        int64_t shortest = 1 << 30, longest = 0;
        for (int64_t index : global) {
          shortest = std::min(shortest, lengths[static_cast<size_t>(index)]);
          longest = std::max(longest, lengths[static_cast<size_t>(index)]);
        }
        ranges.emplace_back(shortest, longest);
      }
      std::sort(ranges.begin(), ranges.end());
      for (size_t i = 1; i < ranges.size(); ++i) CHECK(ranges[i - 1].second <= ranges[i].first);

      std::sort(all.begin(), all.end());
      const std::set<int64_t> seen(all.begin(), all.end());
      if (drop_last) {
        CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
        CHECK(static_cast<int64_t>(all.size()) == expected * global_batch);
      } else {
        CHECK(static_cast<int64_t>(seen.size()) == n);
      }
    }
  }
}

TEST_CASE("distributed bucket batches: default chunks pad far less than random batches, world 1 is bucket_batches",
          "[data][distributed]") {
  const Ids lengths = corpus_like_lengths(2000, 5);
  const int64_t world = 4;
  const int64_t per_rank_batch = 8;
  Batches global_batches;
  for (int64_t rank = 0; rank < world; ++rank) {
    const Batches batches = distributed_bucket_batches(lengths, per_rank_batch, 0, options_for(rank, world, false));
    if (global_batches.empty()) global_batches.resize(batches.size());
    REQUIRE(batches.size() == global_batches.size());
    for (size_t b = 0; b < batches.size(); ++b)
      global_batches[b].insert(global_batches[b].end(), batches[b].begin(), batches[b].end());
  }
  const double bucketed = padding_fraction(global_batches, lengths);
  const double random = padding_fraction(random_batches(2000, world * per_rank_batch, kSeed, 0), lengths);
  CHECK(bucketed < 0.5 * random);

  for (bool drop_last : {false, true})
    for (int64_t epoch : {0, 1})
      CHECK(distributed_bucket_batches(lengths, 16, epoch, options_for(0, 1, drop_last), 7) ==
            bucket_batches(lengths, 16, kSeed, epoch, {.chunk_batches = 7, .drop_last = drop_last}));
}

TEST_CASE("distributed bucket batches: a corpus smaller than the world still gives every rank a batch",
          "[data][distributed]") {
  const Ids lengths{5, 3, 9};
  for (int64_t rank = 0; rank < 4; ++rank) {
    const Batches batches = distributed_bucket_batches(lengths, 2, 0, options_for(rank, 4, false));
    REQUIRE(batches.size() == 1);
    CHECK(batches[0].size() == 1);
    CHECK(distributed_bucket_batches(lengths, 2, 0, options_for(rank, 4, true)).empty());
  }
  CHECK(distributed_bucket_batches({}, 2, 0, options_for(1, 4, false)).empty());
}

TEST_CASE("evaluation_shard: contiguous ranges that cover 0 .. n-1 exactly once", "[data][distributed]") {
  for (int64_t world = 1; world <= 4; ++world) {
    for (int64_t n = 0; n <= 17; ++n) {
      INFO("n " << n << " world " << world);
      int64_t next = 0;
      for (int64_t rank = 0; rank < world; ++rank) {
        const IndexRange range = evaluation_shard(n, rank, world);
        CHECK(range.begin == next);
        CHECK((range.size() == n / world || range.size() == n / world + 1));
        CHECK(static_cast<int64_t>(range.indices().size()) == range.size());
        if (range.size() > 0) CHECK(range.indices().front() == range.begin);
        next = range.end;
      }
      CHECK(next == n);
    }
  }
  CHECK(evaluation_shard(10, 0, 4).size() == 3);
  CHECK(evaluation_shard(10, 3, 4).begin == 8);
  CHECK(evaluation_shard(2, 3, 4).size() == 0);
}

TEST_CASE("distributed sampling: bad options throw and name the values", "[data][distributed]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(distributed_indices(10, 0, {.rank = 4, .world_size = 4}),
                    Contains("rank 4 is out of range for world_size 4"));
  CHECK_THROWS_WITH(distributed_indices(10, 0, {.rank = -1, .world_size = 2}),
                    Contains("rank -1 is out of range for world_size 2"));
  CHECK_THROWS_WITH(make_distributed_batch_sampler(10, 2, {.rank = 0, .world_size = 0}),
                    Contains("world_size must be >= 1, got 0"));
  CHECK_THROWS_WITH(make_distributed_batch_sampler(10, 0, {}), Contains("per_rank_batch_size must be >= 1, got 0"));
  CHECK_THROWS_WITH(make_distributed_batch_sampler(-3, 2, {}), Contains("dataset size must be >= 0, got -3"));
  CHECK_THROWS_WITH(make_distributed_bucket_sampler({1, 2}, 0, {}), Contains("per_rank_batch_size must be >= 1, got 0"));
  CHECK_THROWS_WITH(make_distributed_bucket_sampler({1, 2}, 2, {.rank = 2, .world_size = 2}),
                    Contains("rank 2 is out of range for world_size 2"));
  CHECK_THROWS_WITH(make_distributed_bucket_sampler({1, 2}, 2, {.shuffle = false}), Contains("shuffle = false"));
  CHECK_THROWS_WITH(make_distributed_bucket_sampler({1, 2}, 2, {}, 0), Contains("chunk_batches must be >= 1, got 0"));
  CHECK_THROWS_WITH(evaluation_shard(5, 3, 3), Contains("rank 3 is out of range for world_size 3"));
  CHECK_THROWS_WITH(evaluation_shard(5, 0, 0), Contains("world_size must be >= 1, got 0"));
  CHECK_THROWS_WITH(evaluation_shard(-1, 0, 1), Contains("dataset size must be >= 0, got -1"));
}
