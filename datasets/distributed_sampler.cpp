#include "datasets/distributed_sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "datasets/sequence_batch.h"

namespace focus::data {

namespace {

void check_size(int64_t n, const char* caller) {
  if (n < 0) throw std::invalid_argument(fmt::format("{}: dataset size must be >= 0, got {}", caller, n));
}

void check_per_rank_batch_size(int64_t per_rank_batch_size, const char* caller) {
  if (per_rank_batch_size < 1) {
    throw std::invalid_argument(
        fmt::format("{}: per_rank_batch_size must be >= 1, got {}", caller, per_rank_batch_size));
  }
}

void check_rank(int64_t rank, int64_t world_size, const char* caller) {
  if (world_size < 1) throw std::invalid_argument(fmt::format("{}: world_size must be >= 1, got {}", caller, world_size));
  if (rank < 0 || rank >= world_size) {
    throw std::invalid_argument(fmt::format("{}: rank {} is out of range for world_size {} (need 0 <= rank < {})",
                                            caller, rank, world_size, world_size));
  }
}

void check_bucket_shuffle(const DistributedSamplerOptions& options, const char* caller) {
  if (!options.shuffle) {
    throw std::invalid_argument(fmt::format(
        "{}: shuffle = false is not supported (length bucketing shuffles by design; "
        "for a fixed order use make_distributed_batch_sampler)",
        caller));
  }
}

// Entries rank, rank + world, rank + 2 world, ... of `items`.
std::vector<int64_t> strided_slice(const std::vector<int64_t>& items, int64_t rank, int64_t world_size) {
  std::vector<int64_t> slice;
  slice.reserve(items.size() / static_cast<size_t>(world_size) + 1);
  for (size_t i = static_cast<size_t>(rank); i < items.size(); i += static_cast<size_t>(world_size)) {
    slice.push_back(items[i]);
  }
  return slice;
}

}  // namespace

void check_distributed_options(const DistributedSamplerOptions& options, const char* caller) {
  check_rank(options.rank, options.world_size, caller);
}

int64_t distributed_shard_size(int64_t n, const DistributedSamplerOptions& options) {
  check_size(n, "distributed_shard_size");
  check_distributed_options(options, "distributed_shard_size");
  return options.drop_last ? n / options.world_size : (n + options.world_size - 1) / options.world_size;
}

std::vector<int64_t> distributed_indices(int64_t n, int64_t epoch, const DistributedSamplerOptions& options) {
  check_size(n, "distributed_indices");
  check_distributed_options(options, "distributed_indices");
  std::vector<int64_t> order;
  if (options.shuffle) {
    order = epoch_permutation(n, options.seed, epoch);
  } else {
    order.resize(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  // One length for all ranks: pad by wrapping around (when world_size > n the
  // order repeats more than once), or cut the uneven tail.
  const int64_t total = distributed_shard_size(n, options) * options.world_size;
  std::vector<int64_t> shard;
  shard.reserve(static_cast<size_t>(total / options.world_size));
  for (int64_t i = options.rank; i < total; i += options.world_size) shard.push_back(order[static_cast<size_t>(i % n)]);
  return shard;
}

std::vector<std::vector<int64_t>> distributed_batches(int64_t n, int64_t per_rank_batch_size, int64_t epoch,
                                                      const DistributedSamplerOptions& options) {
  check_per_rank_batch_size(per_rank_batch_size, "distributed_batches");
  // Every rank's shard has the same length, so chunking gives every rank the
  // same batch count and the same size for batch b.
  return chunk_batches(distributed_indices(n, epoch, options), per_rank_batch_size, options.drop_last);
}

BatchSampler make_distributed_batch_sampler(int64_t n, int64_t per_rank_batch_size,
                                            DistributedSamplerOptions options) {
  check_size(n, "make_distributed_batch_sampler");
  check_per_rank_batch_size(per_rank_batch_size, "make_distributed_batch_sampler");
  check_distributed_options(options, "make_distributed_batch_sampler");
  return [n, per_rank_batch_size, options](int64_t epoch) {
    return distributed_batches(n, per_rank_batch_size, epoch, options);
  };
}

std::vector<std::vector<int64_t>> distributed_bucket_batches(const std::vector<int64_t>& lengths,
                                                             int64_t per_rank_batch_size, int64_t epoch,
                                                             const DistributedSamplerOptions& options,
                                                             int64_t chunk_batches) {
  const char* caller = "distributed_bucket_batches";
  check_per_rank_batch_size(per_rank_batch_size, caller);
  check_distributed_options(options, caller);
  check_bucket_shuffle(options, caller);
  const int64_t world = options.world_size;
  const std::vector<std::vector<int64_t>> global_batches =
      bucket_batches(lengths, world * per_rank_batch_size, options.seed, epoch,
                     {.chunk_batches = chunk_batches, .drop_last = options.drop_last});

  std::vector<std::vector<int64_t>> batches;
  batches.reserve(global_batches.size());
  for (const std::vector<int64_t>& global : global_batches) {
    const auto size = static_cast<int64_t>(global.size());
    const int64_t padded_size = (size + world - 1) / world * world;
    if (padded_size == size) {
      batches.push_back(strided_slice(global, options.rank, world));
      continue;
    }
    // The short global batch (only without drop_last): repeating its own
    // examples keeps every rank's share non-empty and its lengths bucketed.
    std::vector<int64_t> padded(global);
    for (int64_t i = size; i < padded_size; ++i) padded.push_back(global[static_cast<size_t>(i % size)]);
    batches.push_back(strided_slice(padded, options.rank, world));
  }
  return batches;
}

BatchSampler make_distributed_bucket_sampler(std::vector<int64_t> lengths, int64_t per_rank_batch_size,
                                             DistributedSamplerOptions options, int64_t chunk_batches) {
  const char* caller = "make_distributed_bucket_sampler";
  check_per_rank_batch_size(per_rank_batch_size, caller);
  check_distributed_options(options, caller);
  check_bucket_shuffle(options, caller);
  if (chunk_batches < 1) {
    throw std::invalid_argument(fmt::format("{}: chunk_batches must be >= 1, got {}", caller, chunk_batches));
  }
  return [lengths = std::move(lengths), per_rank_batch_size, options, chunk_batches](int64_t epoch) {
    return distributed_bucket_batches(lengths, per_rank_batch_size, epoch, options, chunk_batches);
  };
}

std::vector<int64_t> IndexRange::indices() const {
  std::vector<int64_t> out(static_cast<size_t>(size()));
  std::iota(out.begin(), out.end(), begin);
  return out;
}

IndexRange evaluation_shard(int64_t n, int64_t rank, int64_t world_size) {
  check_size(n, "evaluation_shard");
  check_rank(rank, world_size, "evaluation_shard");
  const int64_t base = n / world_size;
  const int64_t remainder = n % world_size;
  // The first `remainder` ranks take one extra example each.
  const int64_t begin = rank * base + std::min(rank, remainder);
  return {begin, begin + base + (rank < remainder ? 1 : 0)};
}

}  // namespace focus::data
