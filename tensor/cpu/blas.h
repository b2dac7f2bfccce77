#pragma once
// Row-major OpenBLAS calls overloaded on float/double, so kernels templated on the
// element type call one name. Sizes are int64_t here and narrowed to OpenBLAS's
// 32-bit blasint: callers check the range first (matmul's check_blas_range).
// The calls go through the OpenBLAS that focus loads itself (tensor/openblas.h).
#include <cstdint>

#include "tensor/openblas.h"

#include "tensor/cpu_variant.h"

namespace focus::cpu::inline FOCUS_CPU_VARIANT {  // one copy per kernel build: see tensor/kernels.h

/// c [m, n] = alpha · op(a) [m, k] · op(b) [k, n] + beta · c.
inline void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  openblas().sgemm(CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
              beta, c, blasint(ldc));
}
inline void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, double alpha,
                      const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
                      int64_t ldc) {
  openblas().dgemm(CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
              beta, c, blasint(ldc));
}

/// y = alpha · op(a) · x + beta · y, a stored [m, n].
inline void blas_gemv(CBLAS_TRANSPOSE t, int64_t m, int64_t n, float alpha, const float* a, int64_t lda,
                      const float* x, int64_t incx, float beta, float* y, int64_t incy) {
  openblas().sgemv(CblasRowMajor, t, blasint(m), blasint(n), alpha, a, blasint(lda), x, blasint(incx), beta, y,
              blasint(incy));
}
inline void blas_gemv(CBLAS_TRANSPOSE t, int64_t m, int64_t n, double alpha, const double* a, int64_t lda,
                      const double* x, int64_t incx, double beta, double* y, int64_t incy) {
  openblas().dgemv(CblasRowMajor, t, blasint(m), blasint(n), alpha, a, blasint(lda), x, blasint(incx), beta, y,
              blasint(incy));
}

/// Σ x[i·incx] · y[i·incy] over n elements.
inline float blas_dot(int64_t n, const float* x, int64_t incx, const float* y, int64_t incy) {
  return openblas().sdot(blasint(n), x, blasint(incx), y, blasint(incy));
}
inline double blas_dot(int64_t n, const double* x, int64_t incx, const double* y, int64_t incy) {
  return openblas().ddot(blasint(n), x, blasint(incx), y, blasint(incy));
}

}  // namespace focus::cpu::FOCUS_CPU_VARIANT
