#pragma once
// How the benchmarks time a call, in one place so that every figure in bench/RESULTS.md is
// measured alike (bench/torch/timing.py is the same for the PyTorch references), on the CPU
// or on a GPU (--device cuda).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "tensor/cuda/backend.h"
#include "tensor/device.h"

namespace focus::bench {

/// Positional argument `index` of a benchmark's command line (program name excluded) as a whole
/// number of at least `minimum`, or `fallback` when there are fewer arguments. Anything else
/// (`--help` included) prints `usage` and what was wrong, and exits with status 2: a benchmark
/// given a word where a count goes neither crashes nor runs with 0.
inline int count_argument(const std::vector<std::string>& args, size_t index, int fallback, int minimum,
                          const char* what, const char* usage) {
  if (index >= args.size()) return fallback;
  const std::string& text = args[index];
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < minimum || value > 1000000) {
    std::fprintf(stderr, "usage: %s\n%s must be a whole number from %d to 1000000, got '%s'\n", usage, what, minimum,
                 text.c_str());
    std::exit(2);
  }
  return static_cast<int>(value);
}

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

/// As above for work that `f` queues on `device`. A GPU runs kernels after their launch
/// returns, so each call ends with cuda::synchronize() inside the timed span (a time then
/// covers the work, not just its launch). After the warm-up the GPU's peak memory counter
/// is reset: peak_memory_mib(device) afterwards is the peak of the timed calls.
template <typename F>
std::vector<double> sorted_timings(Device device, int warmup, int iterations, F&& f) {
  auto call_and_wait = [&] {
    f();
    if (device.is_cuda()) {
      cuda::DeviceGuard on(device.index);  // synchronize() waits for the current GPU
      cuda::synchronize();
    }
  };
  for (int i = 0; i < warmup; ++i) call_and_wait();
  if (device.is_cuda()) cuda::reset_peak_memory_stats(device.index);
  return sorted_timings(0, iterations, call_and_wait);
}

/// Most GPU memory held by tensors since the last reset, in MiB (0 on the CPU).
inline double peak_memory_mib(Device device) {
  if (!device.is_cuda()) return 0;
  return static_cast<double>(cuda::memory_stats(device.index).peak_allocated_bytes) / (1024.0 * 1024.0);
}

/// Removes "--device NAME" or "--device=NAME" from the arguments (argv[1..]) and returns that
/// device (cpu when the flag is absent), so the other arguments keep their positions. A device
/// this machine lacks (Device::parse_available) ends the program with the reason and status 1.
inline Device take_device_flag(std::vector<std::string>& args) {
  std::string name = "cpu";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--device" && i + 1 < args.size()) {
      name = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i + 2));
      break;
    }
    if (args[i].rfind("--device=", 0) == 0) {
      name = args[i].substr(9);
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  try {
    return Device::parse_available(name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    std::exit(1);
  }
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
