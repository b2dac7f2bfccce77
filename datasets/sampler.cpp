#include "datasets/sampler.h"

#include <fmt/format.h>

#include <numeric>
#include <stdexcept>
#include <utility>

namespace focus::data {

namespace {
// splitmix64's output function (Steele, Lea, Flood 2014): a bijection on 64 bits
// that flips about half the output bits for any one flipped input bit.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

uint64_t derive_seed(uint64_t seed, SeedStream stream, uint64_t epoch, uint64_t index) {
  // Chaining (rather than XOR-ing the keys together) keeps (epoch 1, index 2)
  // and (epoch 2, index 1) apart.
  uint64_t h = mix(seed);
  h = mix(h ^ static_cast<uint64_t>(stream));
  h = mix(h ^ epoch);
  return mix(h ^ index);
}

Generator example_generator(uint64_t seed, int64_t epoch, int64_t index) {
  return Generator(derive_seed(seed, SeedStream::Transform, static_cast<uint64_t>(epoch),
                               static_cast<uint64_t>(index)));
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  if (n < 0) throw std::invalid_argument(fmt::format("epoch_permutation: negative size {}", n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  Generator gen(derive_seed(seed, SeedStream::Shuffle, static_cast<uint64_t>(epoch)));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.integer(0, i + 1)]);
  return order;
}

int64_t count_batches(int64_t n, int64_t batch_size, bool drop_last) {
  if (batch_size < 1) throw std::invalid_argument(fmt::format("DataLoader: batch_size must be >= 1, got {}", batch_size));
  return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}

std::vector<std::vector<int64_t>> chunk_batches(const std::vector<int64_t>& order, int64_t batch_size,
                                                bool drop_last) {
  const int64_t n = static_cast<int64_t>(order.size());
  const int64_t count = count_batches(n, batch_size, drop_last);
  std::vector<std::vector<int64_t>> batches(static_cast<size_t>(count));
  for (int64_t b = 0; b < count; ++b) {
    const int64_t begin = b * batch_size;
    const int64_t end = std::min(begin + batch_size, n);
    batches[b].assign(order.begin() + begin, order.begin() + end);
  }
  return batches;
}

}  // namespace focus::data
