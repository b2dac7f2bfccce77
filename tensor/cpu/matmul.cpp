// Matrix products on OpenBLAS, and in float32 on focus's own product (panel_gemm.h) where
// that is faster. Strided views are handed to BLAS as they are whenever a row-major
// (unit column stride) or transposed (unit row stride) reading of them exists, so
// `x.matmul(w.t())` never copies `w`; only layouts BLAS cannot express (both strides
// non-unit, broadcast rows) are copied.
#include <fmt/format.h>

#include <limits>
#include <optional>
#include <stdexcept>

#include "tensor/blas_layout.h"
#include "tensor/cpu/blas.h"
#include "tensor/cpu/loops.h"
#include "tensor/cpu/panel_gemm.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

using cpu::blas_gemm;
using cpu::blas_gemv;
using cpu::blas_dot;

// A matrix's BlasMatrix layout (tensor/blas_layout.h) as the CBLAS operation.
CBLAS_TRANSPOSE cblas_op(BlasMatrix m) { return m.transposed ? CblasTrans : CblasNoTrans; }

// OpenBLAS takes 32-bit sizes; checked once, before any (possibly parallel) call.
void check_blas_range(std::initializer_list<int64_t> values, const char* op) {
  for (int64_t v : values)
    if (v > std::numeric_limits<blasint>::max())
      throw std::invalid_argument(fmt::format("{}: size {} is too large for BLAS (32-bit sizes)", op, v));
}

// C (M×N, row-major, ldc) = alpha * A (M×K) @ B (K×N) + beta * C, with M, N, K > 0.
// A single row or column of C is a matrix-vector product: gemv reads the matrix
// once, where gemm would first pack it. A float32 product with a row-major A runs on
// focus's panel GEMM when it is big enough to repay packing B (panel_gemm::preferred).
template <typename T>
void gemm_kernel(int64_t M, int64_t N, int64_t K, T alpha, const T* a, BlasMatrix la, const T* b, BlasMatrix lb,
                 T beta, T* c, int64_t ldc) {
  if (N == 1) {  // c[:, 0] = op(A) @ b[:, 0]
    blas_gemv(cblas_op(la), la.stored_rows(M, K), la.stored_cols(M, K), alpha, a, la.ld, b, lb.col_step(), beta, c,
              ldc);
  } else if (M == 1) {  // c[0, :] = op(B)ᵀ @ a[0, :]
    BlasMatrix bt = lb.flipped();
    blas_gemv(cblas_op(bt), bt.stored_rows(N, K), bt.stored_cols(N, K), alpha, b, lb.ld, a, la.row_step(), beta, c,
              1);
  } else if (std::is_same_v<T, float> && panel_gemm::preferred(M, N, K, la)) {  // focus's own (panel_gemm.h)
    if constexpr (std::is_same_v<T, float>) panel_gemm::gemm(M, N, K, alpha, a, la, b, lb, beta, c, ldc);
  } else {
    blas_gemm(cblas_op(la), cblas_op(lb), M, N, K, alpha, a, la.ld, b, lb.ld, beta, c, ldc);
  }
}

// The matrix dims of a batched operand, and where each of the output's batch
// entries finds its matrix (0 offsets for broadcast batch dims: never copied).
template <typename T>
struct BatchedOperand {
  Tensor source;  // keeps a copied operand alive
  const T* data = nullptr;
  BlasMatrix layout;
  std::vector<int64_t> offsets;
};

template <typename T>
BatchedOperand<T> batched_operand(const Tensor& t, const Shape& batch) {
  BatchedOperand<T> op;
  int64_t rows = t.shape()[t.dim() - 2], cols = t.shape()[t.dim() - 1];
  op.source = t;
  std::optional<BlasMatrix> layout = blas_layout(rows, cols, t.strides()[t.dim() - 2], t.strides()[t.dim() - 1]);
  if (!layout) {
    op.source = contiguous_copy(t);
    layout = BlasMatrix{false, std::max<int64_t>(cols, 1)};
  }
  op.layout = *layout;
  op.data = static_cast<const T*>(op.source.data_ptr());

  // Offsets of every batch entry: an odometer over the broadcast batch shape.
  const size_t nb = batch.size(), own = static_cast<size_t>(t.dim() - 2);
  Shape strides(nb, 0);
  for (size_t d = 0; d < own; ++d)
    strides[nb - own + d] = t.shape()[d] == 1 ? 0 : op.source.strides()[d];
  int64_t count = shape_numel(batch);
  op.offsets.resize(count);
  Shape index(nb, 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    op.offsets[i] = offset;
    for (size_t d = nb; d-- > 0;) {
      offset += strides[d];
      if (++index[d] < batch[d]) break;
      offset -= strides[d] * batch[d];
      index[d] = 0;
    }
  }
  return op;
}

// out [batch..., M, N] (fresh, contiguous) = a [.., M, K] @ b [.., K, N], batch dims broadcast.
template <typename T>
void batched_matmul(const Tensor& a, const Tensor& b, const Tensor& out, const Shape& batch) {
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1], N = b.shape()[b.dim() - 1];
  const int64_t count = shape_numel(batch);
  if (out.numel() == 0) return;
  if (K == 0) {  // an empty sum
    fill(out, 0.0);
    return;
  }
  BatchedOperand<T> A = batched_operand<T>(a, batch), B = batched_operand<T>(b, batch);
  T* c = static_cast<T*>(out.data_ptr());
  check_blas_range({M * count, N, K, A.layout.ld, B.layout.ld}, "matmul");

  // [B, M, K] @ [K, N] with rows evenly spaced across the batch (e.g. a Linear
  // layer on a [batch, time, features] input) is one (B·M × K) @ (K × N) product.
  bool b_shared = true, a_stacked = !A.layout.transposed;
  for (int64_t i = 0; i < count && b_shared && a_stacked; ++i) {
    b_shared = b_shared && B.offsets[i] == 0;
    a_stacked = a_stacked && A.offsets[i] == i * M * A.layout.ld;
  }
  if (count == 1 || (b_shared && a_stacked)) {
    gemm_kernel<T>(M * count, N, K, T(1), A.data + A.offsets[0], A.layout, B.data + B.offsets[0], B.layout, T(0), c,
                   N);
    return;
  }
  // Small matrices: BLAS cannot use threads well inside one product, so give
  // each thread whole products (BLAS runs single-threaded inside a parallel region).
  // Large ones: one product at a time, threaded by BLAS itself. (cblas_sgemm_batch
  // would do this for us, but OpenBLAS only has it from 0.3.27; Debian 12 ships 0.3.21.)
  const int64_t work = M * N * K;
  const int64_t small = int64_t{1} << 20;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      gemm_kernel<T>(M, N, K, T(1), A.data + A.offsets[i], A.layout, B.data + B.offsets[i], B.layout, T(0),
                     c + i * M * N, N);
  };
  if (work < small)
    parallel_for(0, count, std::max<int64_t>(1, (int64_t{1} << 16) / work), run);
  else
    run(0, count);
}

void check_floating_pair(const Tensor& a, const Tensor& b, const char* op) {
  if (!is_floating(a.dtype()) || !is_floating(b.dtype()))
    throw std::invalid_argument(fmt::format("{}: expected float32 or float64 tensors, got {} and {}", op,
                                            dtype_name(a.dtype()), dtype_name(b.dtype())));
  if (a.dtype() != b.dtype())
    throw std::invalid_argument(fmt::format("{}: expected tensors of one dtype, got {} and {}", op,
                                            dtype_name(a.dtype()), dtype_name(b.dtype())));
}

[[noreturn]] void cannot_multiply(const Tensor& a, const Tensor& b) {
  throw std::invalid_argument(
      fmt::format("matmul: shapes {} and {} cannot be multiplied", shape_str(a.shape()), shape_str(b.shape())));
}

Tensor dot(const Tensor& a, const Tensor& b) {
  const int64_t n = a.shape()[0];
  Tensor out = empty({}, TensorOptions(a.dtype()).with_device(a.device()));
  check_blas_range({n}, "matmul");
  // Broadcast (stride 0) vectors are copied: BLAS does not promise anything for inc 0.
  Tensor x = a.strides()[0] > 0 || n <= 1 ? a : contiguous_copy(a);
  Tensor y = b.strides()[0] > 0 || n <= 1 ? b : contiguous_copy(b);
  int64_t incx = n <= 1 ? 1 : x.strides()[0], incy = n <= 1 ? 1 : y.strides()[0];
  check_blas_range({incx, incy}, "matmul");
  cpu::dispatch_floating(a.dtype(), "matmul", [&]<typename T>() {
    *out.data<T>() = n == 0 ? T(0) : blas_dot(n, x.data<T>(), incx, y.data<T>(), incy);
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(a, "matmul");
  check_defined(b, "matmul");
  if (a.dim() == 0 || b.dim() == 0)
    throw std::invalid_argument(fmt::format("matmul: both operands need at least 1 dim, got shapes {} and {}",
                                            shape_str(a.shape()), shape_str(b.shape())));
  check_floating_pair(a, b, "matmul");

  if (a.dim() == 1 && b.dim() == 1) {
    if (a.shape()[0] != b.shape()[0]) cannot_multiply(a, b);
    FOCUS_DISPATCH(common_device("matmul", a, b), matmul(a, b));
    return dot(a, b);
  }
  // Vectors become matrices (a row on the left, a column on the right), and
  // that dim is dropped from the result again, as in torch.matmul.
  Tensor a2 = a.dim() == 1 ? views::unsqueeze(a, 0) : a;
  Tensor b2 = b.dim() == 1 ? views::unsqueeze(b, 1) : b;
  const int64_t M = a2.shape()[a2.dim() - 2], K = a2.shape()[a2.dim() - 1];
  const int64_t N = b2.shape()[b2.dim() - 1];
  if (b2.shape()[b2.dim() - 2] != K) cannot_multiply(a, b);

  Shape a_batch(a2.shape().begin(), a2.shape().end() - 2), b_batch(b2.shape().begin(), b2.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(a_batch, b_batch, "matmul");
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(fmt::format("matmul: batch dims of shapes {} and {} cannot be broadcast",
                                            shape_str(a.shape()), shape_str(b.shape())));
  }
  FOCUS_DISPATCH(common_device("matmul", a, b), matmul(a, b));
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  // batched_matmul writes every entry (β = 0, or zeros for an empty sum): no zero-fill first.
  Tensor out = empty_for_overwrite(out_shape, TensorOptions(a.dtype()).with_device(a.device()));
  cpu::dispatch_floating(a.dtype(), "matmul", [&]<typename T>() { batched_matmul<T>(a2, b2, out, batch); });

  Shape result_shape = batch;
  if (a.dim() > 1) result_shape.push_back(M);
  if (b.dim() > 1) result_shape.push_back(N);
  return result_shape == out_shape ? out : views::reshape_view(out, result_shape);
}

void gemm(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b, const Tensor& out, double alpha,
          double beta) {
  check_defined(a, "gemm");
  check_defined(b, "gemm");
  check_defined(out, "gemm");
  if (a.dim() != 2 || b.dim() != 2 || out.dim() != 2)
    throw std::invalid_argument(fmt::format("gemm: expected 2-D tensors, got shapes {}, {} and out {}",
                                            shape_str(a.shape()), shape_str(b.shape()), shape_str(out.shape())));
  check_floating_pair(a, b, "gemm");
  check_floating_pair(a, out, "gemm");
  Tensor op_a = transpose_a ? views::transpose(a, 0, 1) : a;
  Tensor op_b = transpose_b ? views::transpose(b, 0, 1) : b;
  const int64_t M = op_a.shape()[0], K = op_a.shape()[1], N = op_b.shape()[1];
  if (op_b.shape()[0] != K)
    throw std::invalid_argument(fmt::format("gemm: shapes {} and {} cannot be multiplied",
                                            shape_str(op_a.shape()), shape_str(op_b.shape())));
  if (out.shape() != Shape{M, N})
    throw std::invalid_argument(fmt::format("gemm: out has shape {}, expected {}", shape_str(out.shape()),
                                            shape_str({M, N})));
  FOCUS_DISPATCH(common_device("gemm", a, b, out), gemm(a, transpose_a, b, transpose_b, out, alpha, beta));
  if (M == 0 || N == 0) return;

  cpu::dispatch_floating(a.dtype(), "gemm", [&]<typename T>() {
    const T alpha_t = static_cast<T>(alpha), beta_t = static_cast<T>(beta);
    if (K == 0) {  // out = beta * out
      cpu::map<T, T>(out, [beta_t](T v) { return beta_t == T(0) ? T(0) : beta_t * v; }, out);
      return;
    }
    auto operand = [](const Tensor& t, Tensor& keep) {
      std::optional<BlasMatrix> layout = blas_layout(t.shape()[0], t.shape()[1], t.strides()[0], t.strides()[1]);
      keep = t;
      if (!layout) {
        keep = contiguous_copy(t);
        layout = BlasMatrix{false, std::max<int64_t>(t.shape()[1], 1)};
      }
      return *layout;
    };
    Tensor a_src, b_src;
    BlasMatrix la = operand(op_a, a_src), lb = operand(op_b, b_src);
    const T* pa = static_cast<const T*>(a_src.data_ptr());
    const T* pb = static_cast<const T*>(b_src.data_ptr());
    check_blas_range({M, N, K, la.ld, lb.ld}, "gemm");

    std::optional<BlasMatrix> lc = blas_layout(M, N, out.strides()[0], out.strides()[1]);
    if (lc && lc->ld <= std::numeric_limits<blasint>::max()) {
      T* pc = static_cast<T*>(out.data_ptr());
      if (!lc->transposed)
        gemm_kernel<T>(M, N, K, alpha_t, pa, la, pb, lb, beta_t, pc, lc->ld);
      else  // a column-major C is a row-major Cᵀ = op(B)ᵀ op(A)ᵀ
        gemm_kernel<T>(N, M, K, alpha_t, pb, lb.flipped(), pa, la.flipped(), beta_t, pc, lc->ld);
      return;
    }
    // An output BLAS cannot write in place (e.g. strided rows and columns): compute, then copy back.
    Tensor staging = beta_t == T(0) ? empty(out.shape(), TensorOptions(out.dtype())) : contiguous_copy(out);
    gemm_kernel<T>(M, N, K, alpha_t, pa, la, pb, lb, beta_t, static_cast<T*>(staging.data_ptr()), N);
    copy(out, staging);
  });
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
