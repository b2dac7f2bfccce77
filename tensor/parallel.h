#pragma once
// One thread pool for everything: OpenMP's. OpenBLAS is linked in its OpenMP
// build (cmake/FindFocusBLAS.cmake) so GEMMs and our own loops share the same
// threads instead of two pools spinning against each other on small machines.
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace focus {

/// Threads used by focus's loops and by OpenBLAS.
void set_num_threads(int n);
int get_num_threads();

/// Calls f(begin, end) on disjoint chunks of [begin, end), in parallel when the
/// range is at least `grain` long and we are not already inside a parallel region.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  int64_t n = end - begin;
  if (n <= 0) return;
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads <= 1 || n < 2 * std::max<int64_t>(grain, 1)) {
    f(begin, end);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, n / std::max<int64_t>(grain, 1));
#pragma omp parallel num_threads(static_cast<int>(chunks))
  {
    int64_t id = omp_get_thread_num(), count = omp_get_num_threads();
    int64_t chunk = (n + count - 1) / count;
    int64_t b = begin + id * chunk, e = std::min(end, b + chunk);
    if (b < e) f(b, e);
  }
}

}  // namespace focus
