// Argument checks and batch-entry plumbing for autograd/ops/scaled_dot_product_attention.cpp.
#include "autograd/ops/scaled_dot_product_attention_support.h"

#include <fmt/format.h>

#include <stdexcept>

#include "tensor/kernels.h"

namespace focus::detail {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

int whole_batch_on_cpu = 0;  // live WholeBatchAttentionOnCpu guards

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// Where batch entry `entry` (counted row-major over `batch`) of `t` starts. t's batch dims are
// right-aligned with `batch`; dims it lacks or has as 1 were broadcast and do not move.
int64_t entry_offset(const Tensor& t, const Shape& batch, int64_t entry) {
  const int64_t batch_dims = static_cast<int64_t>(batch.size()), own_dims = t.dim() - 2;
  int64_t offset = t.offset();
  for (int64_t d = batch_dims - 1; d >= 0; --d) {
    const int64_t index = entry % batch[d];
    entry /= batch[d];
    const int64_t own = d - (batch_dims - own_dims);
    if (own >= 0 && t.shape()[own] != 1) offset += index * t.strides()[own];
  }
  return offset;
}

// The last two dims of t swapped: a view.
Tensor transposed(const Tensor& t) { return views::transpose(t, t.dim() - 2, t.dim() - 1); }

}  // namespace

bool attention_runs_per_entry(Device device) { return device.is_cpu() && whole_batch_on_cpu == 0; }

WholeBatchAttentionOnCpu::WholeBatchAttentionOnCpu() { ++whole_batch_on_cpu; }
WholeBatchAttentionOnCpu::~WholeBatchAttentionOnCpu() { --whole_batch_on_cpu; }

Shape with_matrix(Shape batch, int64_t rows, int64_t cols) {
  batch.push_back(rows);
  batch.push_back(cols);
  return batch;
}

Tensor entry_matrix(const Tensor& t, const Shape& batch, int64_t entry) {
  if (!t.defined()) return t;
  return views::as_strided(t, {t.size(-2), t.size(-1)}, {t.stride(-2), t.stride(-1)},
                           entry_offset(t, batch, entry));
}

Tensor matrix_product(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b, double alpha,
                      const Tensor& into) {
  if (a.dim() == 2 && b.dim() == 2) {
    Tensor out = into;
    if (!out.defined())
      out = empty_for_overwrite({a.size(transpose_a ? 1 : 0), b.size(transpose_b ? 0 : 1)},
                                TensorOptions(a.dtype()).with_device(a.device()));
    kernels::gemm(a, transpose_a, b, transpose_b, out, alpha, 0.0);  // β = 0: out is written whole
    return out;
  }
  Tensor product = kernels::matmul(transpose_a ? transposed(a) : a, transpose_b ? transposed(b) : b);
  if (alpha != 1.0) product = kernels::affine(product, alpha, 0.0);
  return write_into(into, product);
}

Tensor write_into(const Tensor& into, const Tensor& value) {
  if (!into.defined()) return value;
  const bool same = value.data_ptr() == into.data_ptr() && value.shape() == into.shape() &&
                    value.strides() == into.strides() && value.dtype() == into.dtype();
  if (!same) kernels::copy(into, value);  // (computed in place already when same)
  return into;
}

Shape check_scaled_dot_product_attention_args(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                              double dropout_p) {
  for (const Tensor* t : {&q, &k, &v}) check_defined(*t, kOp);
  check_same_device(q, k, kOp);
  check_same_device(q, v, kOp);
  auto shapes = [&] {
    return fmt::format("query {}, key {} and value {}", shape_str(q.shape()), shape_str(k.shape()),
                       shape_str(v.shape()));
  };
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2)
    throw std::invalid_argument(fmt::format(
        "{}: expected query [..., L, E], key [..., S, E] and value [..., S, Ev] (at least 2 dims), got {}", kOp,
        shapes()));
  if (!is_floating(q.dtype()) || q.dtype() != k.dtype() || q.dtype() != v.dtype())
    throw std::invalid_argument(fmt::format("{}: expected query, key and value of one float dtype, got {}, {} and {}",
                                            kOp, dtype_name(q.dtype()), dtype_name(k.dtype()),
                                            dtype_name(v.dtype())));
  if (q.size(-1) != k.size(-1))
    throw std::invalid_argument(fmt::format("{}: query of shape {} and key of shape {} differ in their last dim "
                                            "(E = {} and {})",
                                            kOp, shape_str(q.shape()), shape_str(k.shape()), q.size(-1), k.size(-1)));
  if (k.size(-2) != v.size(-2))
    throw std::invalid_argument(fmt::format("{}: key of shape {} and value of shape {} differ in length (dim -2: "
                                            "S = {} and {})",
                                            kOp, shape_str(k.shape()), shape_str(v.shape()), k.size(-2), v.size(-2)));
  Shape batch;
  try {
    batch = broadcast_shapes(broadcast_shapes(batch_of(q), batch_of(k), kOp), batch_of(v), kOp);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(fmt::format("{}: the batch dims of {} cannot be broadcast", kOp, shapes()));
  }
  if (!(dropout_p >= 0.0 && dropout_p < 1.0))  // also rejects NaN
    throw std::invalid_argument(fmt::format("{}: dropout_p must be in [0, 1), got {}", kOp, dropout_p));
  if (mask.defined()) {
    check_same_device(q, mask, kOp);
    if (mask.dtype() != kBool && !is_floating(mask.dtype()))
      throw std::invalid_argument(fmt::format(
          "{}: mask must be bool (true = may attend) or floating (added to the scores), got {}", kOp,
          dtype_name(mask.dtype())));
    const Shape weights_shape = with_matrix(batch, q.size(-2), k.size(-2));
    bool fits = mask.dim() <= static_cast<int64_t>(weights_shape.size());
    for (int64_t d = 1; fits && d <= mask.dim(); ++d) {
      const int64_t m = mask.shape()[mask.dim() - d], w = weights_shape[weights_shape.size() - d];
      fits = m == w || m == 1;
    }
    if (!fits)
      throw std::invalid_argument(fmt::format("{}: mask of shape {} cannot be broadcast to the attention weights' "
                                              "shape {} (from {})",
                                              kOp, shape_str(mask.shape()), shape_str(weights_shape), shapes()));
  }
  return batch;
}

}  // namespace focus::detail
