// What a benchmark run measures on: focus::config() (CPU, kernel build, OpenBLAS core, threads)
// and the sgemm rate of the OpenBLAS focus loaded, at the sizes where it peaks, under each
// capability this CPU runs. bench/RESULTS.md records its output beside every table.
//
//   bench_config [threads=2]
#include <fmt/format.h>

#include <cstdlib>
#include <vector>

#include "tensor/config.h"
#include "tensor/openblas.h"
#include "tensor/parallel.h"
#include "timing.h"

using namespace focus;

int main(int argc, char** argv) {
  const int threads = bench::count_argument({argv + 1, argv + argc}, 0, 2, 1, "threads", "bench_config [threads]");
  set_num_threads(threads);
  fmt::print("{}", config());
  for (int n : {512, 1024, 2048}) {
    std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n);
    const std::vector<double> times = bench::sorted_timings(1, 5, [&] {
      openblas().sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                       c.data(), n);
    });
    fmt::print("sgemm n={}: {:.1f} GFLOP/s (best of 5, {} threads)\n", n, 2.0 * n * n * n / times.front() * 1e-9,
               threads);
  }
  return 0;
}
