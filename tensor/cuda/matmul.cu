// Matrix products on cuBLAS, with the semantics of tensor/cpu/matmul.cpp (whose entry
// points have already checked the shapes and dtypes). Strided views are handed to
// cuBLAS as they are whenever a row-major (unit column stride) or transposed (unit row
// stride) reading of them exists, so `x.matmul(w.t())` never copies `w`; only layouts
// cuBLAS cannot express (both strides non-unit, broadcast rows) are copied on the GPU.
// Broadcast batch dims become stride-0 operands of one strided-batched GEMM.
//
// The row-major to column-major translation (blas.cuh): a row-major C = A·B is the
// column-major Cᵀ = Bᵀ·Aᵀ, so B goes first and A second, with m = N and n = M. An
// operand stored row-major reads column-major as its own transpose, which is what
// Cᵀ = Bᵀ·Aᵀ wants (CUBLAS_OP_N); one stored transposed reads as itself (CUBLAS_OP_T).
#include <algorithm>
#include <limits>
#include <optional>

#include "tensor/blas_layout.h"
#include "tensor/cuda/blas.cuh"
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

// A matrix's BlasMatrix layout (tensor/blas_layout.h, the CPU's rule too) as its operation in the
// swapped column-major call (see the top of the file).
cublasOperation_t cublas_op(BlasMatrix m) { return m.transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Row-major C_i (M×N, ldc) = alpha · A_i (M×K) @ B_i (K×N) + beta · C_i for i < count,
// entries stride_* elements apart: the column-major C_iᵀ (N×M) = B_iᵀ · A_iᵀ.
template <typename T>
void gemm_rows(int64_t M, int64_t N, int64_t K, T alpha, const T* a, BlasMatrix la, int64_t stride_a, const T* b,
               BlasMatrix lb, int64_t stride_b, T beta, T* c, int64_t ldc, int64_t stride_c, int64_t count,
               const char* op) {
  gemm_batched<T>(cublas_op(lb), cublas_op(la), N, M, K, alpha, b, lb.ld, stride_b, a, la.ld, stride_a, beta, c, ldc,
                  stride_c, count, op);
}

// The matrix layout of a batched operand [..., rows, cols] and the strides of its batch
// dims aligned to the broadcast batch shape (0 where it is broadcast: never copied).
struct BatchedOperand {
  Tensor source;  // the operand, or its dense copy when cuBLAS cannot read its layout
  BlasMatrix layout;
  Shape batch_strides;
};

BatchedOperand batched_operand(const Tensor& t, const Shape& batch) {
  BatchedOperand op;
  const int64_t rows = t.shape()[t.dim() - 2], cols = t.shape()[t.dim() - 1];
  op.source = t;
  std::optional<BlasMatrix> layout = blas_layout(rows, cols, t.strides()[t.dim() - 2], t.strides()[t.dim() - 1]);
  if (!layout) {
    op.source = kernels::contiguous_copy(t);
    layout = BlasMatrix{false, std::max<int64_t>(cols, 1)};
  }
  op.layout = *layout;
  const size_t nb = batch.size(), own = static_cast<size_t>(t.dim() - 2);
  op.batch_strides.assign(nb, 0);
  for (size_t d = 0; d < own; ++d)
    op.batch_strides[nb - own + d] = t.shape()[d] == 1 ? 0 : op.source.strides()[d];
  return op;
}

// out [batch..., M, N] (fresh, contiguous) = a [.., M, K] @ b [.., K, N], batch dims broadcast.
template <typename T>
void batched_matmul(const Tensor& a, const Tensor& b, const Tensor& out, const Shape& batch) {
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1], N = b.shape()[b.dim() - 1];
  // Fresh device memory reads as zeros, which is also the value of an empty sum (K = 0).
  if (out.numel() == 0 || K == 0) return;
  const BatchedOperand A = batched_operand(a, batch), B = batched_operand(b, batch);
  const T* pa = static_cast<const T*>(A.source.data_ptr());
  const T* pb = static_cast<const T*>(B.source.data_ptr());
  T* pc = static_cast<T*>(out.data_ptr());

  // Batch dims that step evenly in all three operands merge into one; the last
  // (merged) dim is the strided batch of one cuBLAS call, the others a host loop
  // (several calls only when broadcasting interleaves, e.g. [2, 1, ..] @ [3, ..]).
  const Shape out_batch_strides(out.strides().begin(), out.strides().end() - 2);
  const StridedLayout<3> layout =
      coalesce<3>(batch, std::array<Shape, 3>{out_batch_strides, A.batch_strides, B.batch_strides});
  const size_t inner = layout.shape.size() - 1;
  const int64_t count = layout.shape[inner];
  const int64_t stride_c = layout.strides[0][inner], stride_a = layout.strides[1][inner],
                stride_b = layout.strides[2][inner];

  // [B, M, K] @ [K, N] with a's rows evenly spaced across the batch (a Linear layer on a
  // [batch, time, features] input) is one (B·M × K) @ (K × N) product.
  if (inner == 0 && count > 1 && stride_b == 0 && !A.layout.transposed && stride_a == M * A.layout.ld &&
      stride_c == M * N) {
    gemm_rows<T>(M * count, N, K, T(1), pa, A.layout, 0, pb, B.layout, 0, T(0), pc, N, 0, 1, "matmul");
    return;
  }
  const Shape outer(layout.shape.begin(), layout.shape.end() - 1);
  const int64_t outer_count = shape_numel(outer);
  Shape index(outer.size(), 0);
  for (int64_t i = 0; i < outer_count; ++i) {
    int64_t offset_c = 0, offset_a = 0, offset_b = 0;
    for (size_t d = 0; d < outer.size(); ++d) {
      offset_c += index[d] * layout.strides[0][d];
      offset_a += index[d] * layout.strides[1][d];
      offset_b += index[d] * layout.strides[2][d];
    }
    gemm_rows<T>(M, N, K, T(1), pa + offset_a, A.layout, stride_a, pb + offset_b, B.layout, stride_b, T(0),
                 pc + offset_c, N, stride_c, count, "matmul");
    for (size_t d = outer.size(); d-- > 0;) {
      if (++index[d] < outer[d]) break;
      index[d] = 0;
    }
  }
}

// out = beta · out, with beta = 0 giving zeros even where out holds NaN or ∞ (as BLAS does).
template <typename T>
struct ScaleOrZero {
  T beta;
  __device__ T operator()(T v) const { return beta == T(0) ? T(0) : beta * v; }
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  // Shapes, dtypes and devices were checked by kernels::matmul. Vectors become
  // matrices (a row on the left, a column on the right), and that dim is dropped from
  // the result again, as in torch.matmul (1-D · 1-D is the 1×1 product [1, K] @ [K, 1]).
  const Tensor a2 = a.dim() == 1 ? views::unsqueeze(a, 0) : a;
  const Tensor b2 = b.dim() == 1 ? views::unsqueeze(b, 1) : b;
  const int64_t M = a2.shape()[a2.dim() - 2], N = b2.shape()[b2.dim() - 1];
  const Shape batch = broadcast_shapes(Shape(a2.shape().begin(), a2.shape().end() - 2),
                                       Shape(b2.shape().begin(), b2.shape().end() - 2), "matmul");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = empty(out_shape, TensorOptions(a.dtype()).with_device(a.device()));
  dispatch_floating(a.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    batched_matmul<T>(a2, b2, out, batch);
  });
  Shape result_shape = batch;
  if (a.dim() > 1) result_shape.push_back(M);
  if (b.dim() > 1) result_shape.push_back(N);
  return result_shape == out_shape ? out : views::reshape_view(out, result_shape);
}

void gemm(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b, const Tensor& out, double alpha,
          double beta) {
  // Shapes, dtypes and devices were checked by kernels::gemm.
  const Tensor op_a = transpose_a ? views::transpose(a, 0, 1) : a;
  const Tensor op_b = transpose_b ? views::transpose(b, 0, 1) : b;
  const int64_t M = op_a.shape()[0], K = op_a.shape()[1], N = op_b.shape()[1];
  if (M == 0 || N == 0) return;
  dispatch_floating(a.dtype(), "gemm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T alpha_t = static_cast<T>(alpha), beta_t = static_cast<T>(beta);
    if (K == 0) {  // an empty product: out = beta · out
      map<T, T>(out, ScaleOrZero<T>{beta_t}, out);
      return;
    }
    auto operand = [](const Tensor& t, Tensor& keep) {
      std::optional<BlasMatrix> layout = blas_layout(t.shape()[0], t.shape()[1], t.strides()[0], t.strides()[1]);
      keep = t;
      if (!layout) {
        keep = kernels::contiguous_copy(t);
        layout = BlasMatrix{false, std::max<int64_t>(t.shape()[1], 1)};
      }
      return *layout;
    };
    Tensor a_src, b_src;
    const BlasMatrix la = operand(op_a, a_src), lb = operand(op_b, b_src);
    const T* pa = static_cast<const T*>(a_src.data_ptr());
    const T* pb = static_cast<const T*>(b_src.data_ptr());

    std::optional<BlasMatrix> lc = blas_layout(M, N, out.strides()[0], out.strides()[1]);
    if (lc && lc->ld <= std::numeric_limits<int>::max()) {
      T* pc = static_cast<T*>(out.data_ptr());
      if (!lc->transposed)
        gemm_rows<T>(M, N, K, alpha_t, pa, la, 0, pb, lb, 0, beta_t, pc, lc->ld, 0, 1, "gemm");
      else  // a column-major C is a row-major Cᵀ = op(B)ᵀ op(A)ᵀ
        gemm_rows<T>(N, M, K, alpha_t, pb, lb.flipped(), 0, pa, la.flipped(), 0, beta_t, pc, lc->ld, 0, 1, "gemm");
      return;
    }
    // An output cuBLAS cannot write in place (e.g. strided rows and columns): compute, then copy back.
    Tensor staging = beta_t == T(0) ? empty(out.shape(), TensorOptions(out.dtype()).with_device(out.device()))
                                    : kernels::contiguous_copy(out);
    gemm_rows<T>(M, N, K, alpha_t, pa, la, 0, pb, lb, 0, beta_t, static_cast<T*>(staging.data_ptr()), N, 0, 1,
                 "gemm");
    kernels::copy(out, staging);
  });
}

}  // namespace focus::cuda
