// Tensor-level throughput: matmul against raw OpenBLAS on the same buffers,
// elementwise add/mul bandwidth, and softmax rows per second. Prints Markdown
// tables (bench/RESULTS.md keeps a copy; bench/torch/bench_tensor.py measures
// the same things in PyTorch).
//
//   bench_tensor [--threads N] [--quick]
//
// Every number is the median of repeated timings after warm-up runs, so one
// slow run (another process on the machine) does not move it.
#include "tensor/openblas.h"
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "focus.h"
#include "timing.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_of(const std::function<void()>& f) {
  auto start = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Budget {
  double seconds_per_case = 0.5;  // timing time per measured function
  int min_reps = 7, max_reps = 500, warmup = 3;
};

// How many timed repetitions fit the budget, from the warm-up runs' speed.
int reps_for(double one_run, const Budget& budget) {
  int reps = static_cast<int>(budget.seconds_per_case / std::max(one_run, 1e-7));
  return std::clamp(reps, budget.min_reps, budget.max_reps);
}

double median_seconds(const std::function<void()>& f, const Budget& budget) {
  double warm = 0;
  for (int i = 0; i < budget.warmup; ++i) warm = seconds_of(f);
  std::vector<double> times(reps_for(warm, budget));
  for (double& t : times) t = seconds_of(f);
  return median(times);
}

struct PairedTimes {
  double median_f, median_g, best_f, best_g;
};

// Two functions timed in alternation, so a slow phase of the machine hits both
// alike. The best (minimum) times are kept too: on a busy machine noise only
// ever adds time, so their ratio is the steadier estimate of a fixed overhead.
PairedTimes median_seconds_paired(const std::function<void()>& f, const std::function<void()>& g,
                                  const Budget& budget) {
  double warm = 0;
  for (int i = 0; i < budget.warmup; ++i) {
    warm = seconds_of(f);
    seconds_of(g);
  }
  int reps = reps_for(2 * warm, budget);
  std::vector<double> tf(reps), tg(reps);
  for (int i = 0; i < reps; ++i) {
    tf[i] = seconds_of(f);
    tg[i] = seconds_of(g);
  }
  return {median(tf), median(tg), *std::min_element(tf.begin(), tf.end()), *std::min_element(tg.begin(), tg.end())};
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

void bench_matmul(const Budget& budget) {
  fmt::print("\n### matmul, float32, n×n @ n×n\n\n");
  fmt::print("| n | focus::matmul GFLOP/s | cblas_sgemm GFLOP/s | focus overhead (medians) | (best runs) |\n");
  fmt::print("|---:|---:|---:|---:|---:|\n");
  for (int64_t n : {128, 256, 512, 1024}) {
    focus::Generator gen(42);
    focus::Tensor a = focus::randn({n, n}, {}, &gen), b = focus::randn({n, n}, {}, &gen);
    focus::Tensor raw_out = focus::empty({n, n});
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* pc = raw_out.data<float>();
    const int size = static_cast<int>(n);
    auto raw = [&] {
      focus::openblas().sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, pa, size, pb, size, 0.0f, pc,
                  size);
    };
    focus::Tensor c;
    auto ours = [&] { c = focus::matmul(a, b); };

    ours();
    raw();
    double worst = 0;  // the two must agree before their speeds mean anything
    std::vector<float> x = c.to_vector<float>(), y = raw_out.to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::abs(x[i] - y[i])));
    if (worst > 1e-3) fmt::print(stderr, "warning: matmul n={} differs from cblas_sgemm by {}\n", n, worst);

    PairedTimes t = median_seconds_paired(ours, raw, budget);
    double flops = 2.0 * double(n) * double(n) * double(n);
    fmt::print("| {} | {:.1f} | {:.1f} | {:+.1f}% | {:+.1f}% |\n", n, flops / t.median_f * 1e-9,
               flops / t.median_g * 1e-9, (t.median_f - t.median_g) / t.median_g * 100.0,
               (t.best_f - t.best_g) / t.best_g * 100.0);
  }
}

void bench_elementwise(const Budget& budget) {
  fmt::print("\n### elementwise, float32 (bytes = 2 reads + 1 write per element)\n\n");
  fmt::print("| op | elements | GB/s | time (ms) |\n");
  fmt::print("|---|---:|---:|---:|\n");
  for (int64_t n : {int64_t{1} << 20, int64_t{1} << 24}) {
    focus::Generator gen(7);
    focus::Tensor x = focus::randn({n}, {}, &gen), y = focus::randn({n}, {}, &gen);
    struct Op {
      const char* name;
      std::function<focus::Tensor()> run;
    };
    for (const Op& op : {Op{"add", [&] { return focus::add(x, y); }}, Op{"mul", [&] { return focus::mul(x, y); }}}) {
      double t = median_seconds([&] { op.run(); }, budget);
      double bytes = 3.0 * double(n) * sizeof(float);
      fmt::print("| {} | {}M | {:.1f} | {:.3f} |\n", op.name, n >> 20, bytes / t * 1e-9, t * 1e3);
    }
  }
}

void bench_softmax(const Budget& budget) {
  fmt::print("\n### softmax along the last dim, float32\n\n");
  fmt::print("| shape | rows/s | time (ms) |\n");
  fmt::print("|---|---:|---:|\n");
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{4096, 128}, {256, 4096}}) {
    focus::Generator gen(9);
    focus::Tensor x = focus::randn({rows, cols}, {}, &gen);
    double t = median_seconds([&] { focus::softmax(x, -1); }, budget);
    fmt::print("| [{}, {}] | {:.3g} | {:.3f} |\n", rows, cols, double(rows) / t, t * 1e3);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  Budget budget;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      threads = focus::bench::count_argument({argv[++i]}, 0, 2, 1, "--threads", "bench_tensor [--threads N] [--quick]");
    } else if (arg == "--quick") {
      budget.seconds_per_case = 0.1;
      budget.min_reps = 3;
    } else {
      fmt::print(stderr, "usage: {} [--threads N] [--quick]\n", argv[0]);
      return 2;
    }
  }
  focus::set_num_threads(threads);
  fmt::print("focus tensor benchmark — CPU: {}, threads: {}\n", cpu_model(), focus::get_num_threads());
  bench_matmul(budget);
  bench_elementwise(budget);
  bench_softmax(budget);
  return 0;
}
