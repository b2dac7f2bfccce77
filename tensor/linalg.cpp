#include "tensor/linalg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace focus::linalg {

EigenDecomposition eigh(const Tensor& symmetric) {
  check_defined(symmetric, "linalg::eigh");
  if (symmetric.dim() != 2 || symmetric.size(0) != symmetric.size(1))
    throw std::invalid_argument(
        fmt::format("linalg::eigh: expected a square matrix [n, n], got shape {}", shape_str(symmetric.shape())));
  const int64_t n = symmetric.size(0);
  Tensor host = symmetric.to(kCPU).to(kFloat64).contiguous();
  const double* given = static_cast<const double*>(host.data_ptr());
  // a: the matrix being diagonalised (symmetrised from the lower triangle); v: the rotations so far.
  std::vector<double> a(static_cast<size_t>(n * n)), v(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    v[i * n + i] = 1.0;
    for (int64_t j = 0; j <= i; ++j) {
      const double value = given[i * n + j];
      if (!std::isfinite(value))
        throw std::invalid_argument(fmt::format("linalg::eigh: element [{}, {}] is {}", i, j, value));
      a[i * n + j] = a[j * n + i] = value;
    }
  }
  // Each rotation in the (p, q) plane zeroes a[p][q]; a sweep visits every pair. The sum of the
  // off-diagonal squares falls quadratically once small, so a handful of sweeps reach rounding.
  auto off_diagonal = [&] {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) sum += a[i * n + j] * a[i * n + j];
    return sum;
  };
  double diagonal_scale = 0;
  for (int64_t i = 0; i < n; ++i) diagonal_scale += a[i * n + i] * a[i * n + i];
  for (int sweep = 0; sweep < 100; ++sweep) {
    const double off = off_diagonal();
    if (off == 0 || off <= 1e-30 * (diagonal_scale + off)) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0) continue;
        // The angle θ with tan 2θ = 2·a_pq / (a_qq − a_pp); t = tan θ, the smaller root, for stability.
        const double tau = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const double t = (tau >= 0 ? 1.0 : -1.0) / (std::abs(tau) + std::sqrt(1 + tau * tau));
        const double c = 1 / std::sqrt(1 + t * t), s = t * c;
        // A ← Jᵀ·A·J with J the rotation in the (p, q) plane: columns, then rows.
        for (int64_t k = 0; k < n; ++k) {
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {  // V ← V·J
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  // Ascending eigenvalues, each with its column of V.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return a[i * n + i] < a[j * n + j]; });
  std::vector<double> values(static_cast<size_t>(n)), vectors(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) {
    values[j] = a[order[j] * n + order[j]];
    for (int64_t i = 0; i < n; ++i) vectors[i * n + j] = v[i * n + order[j]];
  }
  return {from_vector(values, {n}), from_vector(vectors, {n, n})};
}

}  // namespace focus::linalg
