#pragma once
// How the benchmarks time a call, in one place so that every figure in bench/RESULTS.md is
// measured alike (bench/torch/timing.py is the same for the PyTorch references).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace focus::bench {

/// Seconds of each of `iterations` calls of f after `warmup` untimed ones, fastest first.
template <typename F>
std::vector<double> sorted_timings(int warmup, int iterations, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times;
}

/// The median of timings sorted fastest first.
inline double median_of(const std::vector<double>& sorted) { return sorted[sorted.size() / 2]; }

/// Involuntary context switches of this process so far (all threads).
inline long preemptions() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_nivcsw;
}

/// Seconds per call of f: the fastest of at least `min_reps` calls and `min_time` seconds, after
/// one warm-up call, counting only calls during which no thread of ours was preempted (if there
/// were any such calls). The minimum, not the median: on a shared machine other processes only
/// ever add time, so the fastest clean call is the best estimate of the cost.
template <typename F>
double best_seconds(F&& f, double min_time = 1.0, int min_reps = 10) {
  f();
  std::vector<double> clean, all;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  while (static_cast<int>(all.size()) < min_reps || elapsed() < min_time) {
    const long switches = preemptions();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    all.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (preemptions() == switches) clean.push_back(all.back());
  }
  const std::vector<double>& times = clean.empty() ? all : clean;
  return *std::min_element(times.begin(), times.end());
}

}  // namespace focus::bench
