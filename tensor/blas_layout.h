#pragma once
// How a strided matrix reads as a BLAS operand: the one rule of the CPU's matrix products
// (tensor/cpu/matmul.cpp, on OpenBLAS) and the GPU's (tensor/cuda/matmul.cu, on cuBLAS). Plain C++
// with no BLAS header, so both include it; each maps `transposed` to its own library's operation.
#include <algorithm>
#include <cstdint>
#include <optional>

namespace focus {

/// One matrix as row-major BLAS sees it: either itself (ld = row stride) or the transpose of a
/// row-major matrix (ld = column stride).
struct BlasMatrix {
  bool transposed = false;
  int64_t ld = 1;

  BlasMatrix flipped() const { return {!transposed, ld}; }
  // Storage rows/cols of a logical (rows × cols) matrix with this layout.
  int64_t stored_rows(int64_t rows, int64_t cols) const { return transposed ? cols : rows; }
  int64_t stored_cols(int64_t rows, int64_t cols) const { return transposed ? rows : cols; }
  // Step between consecutive elements of a logical row / column.
  int64_t row_step() const { return transposed ? ld : 1; }
  int64_t col_step() const { return transposed ? 1 : ld; }
};

/// The BLAS reading of a (rows × cols) matrix with these strides (in elements): row-major when its
/// columns are adjacent, transposed when its rows are, with ld ≥ the stored row length and ≥ 1.
/// nullopt when neither exists (both strides non-unit, or rows that overlap, as broadcast ones do):
/// then the caller copies the matrix. A dim of size 1 never steps, so its stride is free.
inline std::optional<BlasMatrix> blas_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  if (col_stride == 1 || cols == 1) {
    if (rows == 1) return BlasMatrix{false, std::max<int64_t>(cols, 1)};
    if (row_stride >= std::max<int64_t>(cols, 1)) return BlasMatrix{false, row_stride};
  }
  if (row_stride == 1 || rows == 1) {
    if (cols == 1) return BlasMatrix{true, std::max<int64_t>(rows, 1)};
    if (col_stride >= std::max<int64_t>(rows, 1)) return BlasMatrix{true, col_stride};
  }
  return std::nullopt;
}

}  // namespace focus
