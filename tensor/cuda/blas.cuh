#pragma once
// cuBLAS GEMM overloaded on float/double, so kernels templated on the element type
// call one name (the GPU counterpart of tensor/cpu/blas.h). Used by matmul.cu and conv.cu.
//
// cuBLAS is column-major. A row-major matrix R (rows × cols, row stride ld) read in
// column-major order with the same ld is Rᵀ, so callers turn a row-major product
// C = A·B into the column-major Cᵀ = Bᵀ·Aᵀ: the operands swap places and each one's
// memory already is the transpose cuBLAS asks for (see matmul.cu and conv.cu).
// (No fmt here: its headers do not compile under nvcc's C++20.)
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>

#include "tensor/cuda/common.cuh"

namespace focus::cuda {

/// Throws "<op>: size <v> is too large for cuBLAS (32-bit sizes)" unless every value fits an int.
inline void check_cublas_range(std::initializer_list<int64_t> values, const char* op) {
  for (int64_t v : values)
    if (v > std::numeric_limits<int>::max())
      throw std::invalid_argument(std::string(op) + ": size " + std::to_string(v) +
                                  " is too large for cuBLAS (32-bit sizes)");
}

namespace detail {
inline cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* alpha,
                           const float* a, int lda, long long stride_a, const float* b, int ldb, long long stride_b,
                           const float* beta, float* c, int ldc, long long stride_c, int count) {
  if (count == 1) return cublasSgemm(cublas_handle(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  return cublasSgemmStridedBatched(cublas_handle(), ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta,
                                   c, ldc, stride_c, count);
}
inline cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const double* alpha,
                           const double* a, int lda, long long stride_a, const double* b, int ldb, long long stride_b,
                           const double* beta, double* c, int ldc, long long stride_c, int count) {
  if (count == 1) return cublasDgemm(cublas_handle(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  return cublasDgemmStridedBatched(cublas_handle(), ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta,
                                   c, ldc, stride_c, count);
}
}  // namespace detail

/// Column-major C_i (m × n, ldc) = alpha · op(A_i) (m × k) · op(B_i) (k × n) + beta · C_i for
/// i < count, the i-th matrices stride_* elements after the first (stride 0: one matrix shared by
/// all). m, n, k, count > 0. Queued on stream(); with beta = 0, C is not read.
template <typename T>
void gemm_batched(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                  int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b, T beta, T* c, int64_t ldc,
                  int64_t stride_c, int64_t count, const char* op) {
  check_cublas_range({m, n, k, lda, ldb, ldc, count}, op);
  FOCUS_CUBLAS_CHECK(detail::gemm(ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha, a,
                                  static_cast<int>(lda), stride_a, b, static_cast<int>(ldb), stride_b, &beta, c,
                                  static_cast<int>(ldc), stride_c, static_cast<int>(count)));
}

}  // namespace focus::cuda
