#include "tensor/parallel.h"

#include <stdexcept>

#include "tensor/openblas.h"

namespace focus {

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: need at least 1 thread");
  omp_set_num_threads(n);
  openblas().set_num_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace focus
