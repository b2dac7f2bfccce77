#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace focus {

/// A seeded random source. Everything random in focus (init, dropout, shuffling,
/// augmentation) draws from a Generator, so a seed reproduces a run exactly.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed), engine_(seed) {}

  void manual_seed(uint64_t seed) {
    seed_ = seed;
    engine_.seed(seed);
  }
  uint64_t initial_seed() const { return seed_; }
  std::mt19937_64& engine() { return engine_; }

  /// Uniform in [0, 1).
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }
  /// Standard normal.
  double normal() { return std::normal_distribution<double>(0.0, 1.0)(engine_); }
  /// Uniform integer in [low, high).
  int64_t integer(int64_t low, int64_t high) {
    return std::uniform_int_distribution<int64_t>(low, high - 1)(engine_);
  }

  /// The full engine state as text, for checkpoints; `set_state` restores it.
  std::string state() const;
  void set_state(const std::string& state);

 private:
  uint64_t seed_;
  std::mt19937_64 engine_;
};

/// The process-wide generator used when none is passed.
Generator& default_generator();
/// Seeds the default generator.
void manual_seed(uint64_t seed);

}  // namespace focus
