// scaled_dot_product_attention: O = softmax(scale·Q·Kᵀ + M)·V, fused, returning O and the weights W.
//
// On the CPU the work goes one batch entry (one (batch, head) pair) at a time: its scores [L, S] stay
// in cache from the GEMM that makes them, through the mask and the softmax, to the GEMM that reads
// them, and the backward does the same with their gradients. Entries run in parallel; every product
// is a kernels::gemm on 2-D views, so transposes are strides handed to BLAS, never copies. The composed
// version (nn::functional::scaled_dot_product_attention_composed) makes each step a separate pass over
// all B·H·L·S scores, and a separate node in the graph.
//
// On a GPU it is the other way round: each step runs over the whole batch at once (one batched GEMM,
// one softmax launch), because a launch per entry would leave most of the GPU idle, and GPU work is
// not queued from several host threads. Both ways are the same kernels:: calls, in the same order,
// on the operands' device; nothing here reads tensor memory on the host.
//
// The derivation of every gradient below is docs/attention-backprop.md, which links back to these lines.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/parallel.h"

namespace focus {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";
constexpr double kInf = std::numeric_limits<double>::infinity();

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

// The 2-D matrix (its last two dims, as they are) of batch entry `entry` of `t`: a view, no copy.
Tensor matrix_of(const Tensor& t, const Shape& batch, int64_t entry) {
  return views::as_strided(t, {t.size(-2), t.size(-1)}, {t.stride(-2), t.stride(-1)},
                           entry_offset(t, batch, entry));
}

// [batch..., rows, cols]
Shape with_matrix(Shape batch, int64_t rows, int64_t cols) {
  batch.push_back(rows);
  batch.push_back(cols);
  return batch;
}

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// The strategy (see the top of the file): per batch entry on the CPU, whole batch on a GPU.
bool per_entry_on(Device device) { return device.is_cpu(); }

// The last two dims of t swapped: a view.
Tensor transposed(const Tensor& t) { return views::transpose(t, t.dim() - 2, t.dim() - 1); }

/// The mask and causal flag as one additive float mask: 0 where a query may attend, −∞ where it may
/// not, plus the user's float mask. Shape: the mask's own (at least 2-D), or [L, S] when causal.
/// Undefined when there is nothing to add. Lives on `device`.
Tensor additive_mask(const Tensor& mask, bool causal, int64_t L, int64_t S, DType dtype, Device device) {
  const TensorOptions options = TensorOptions(dtype).with_device(device);
  Tensor additive;
  if (mask.defined()) {
    Tensor m = mask;
    while (m.dim() < 2) m = views::unsqueeze(m, 0);
    if (m.dtype() == kBool)  // PyTorch's F.scaled_dot_product_attention: true = may attend
      additive = kernels::where(m, scalar_tensor(0.0, options), scalar_tensor(-kInf, options));
    else
      additive = m.dtype() == dtype ? m : kernels::contiguous_copy(m, dtype);
  }
  if (causal) {  // query i sees keys j ≤ i (top-left aligned, like PyTorch's is_causal)
    // Made on the host from two aranges; a GPU gets it from pinned memory, queued without a wait.
    const TensorOptions host(dtype);
    Tensor i = views::unsqueeze(arange(L), 1), j = views::unsqueeze(arange(S), 0);
    Tensor causal_mask = kernels::where(kernels::le(j, i), scalar_tensor(0.0, host), scalar_tensor(-kInf, host));
    if (device.is_cuda()) causal_mask = causal_mask.pin_memory().to(device, /*non_blocking=*/true);
    additive = additive.defined() ? kernels::add(additive, causal_mask) : causal_mask;
  }
  return additive;
}

class ScaledDotProductAttentionBackward : public Node {
 public:
  ScaledDotProductAttentionBackward(Tensor query, Tensor key, Tensor value, Shape mask_shape, Tensor weights,
                                    Tensor keep, Shape batch, double scale)
      : query_(std::move(query)),
        key_(std::move(key)),
        value_(std::move(value)),
        mask_shape_(std::move(mask_shape)),
        weights_(std::move(weights)),
        keep_(std::move(keep)),
        batch_(std::move(batch)),
        scale_(scale) {}
  std::string name() const override { return "ScaledDotProductAttentionBackward"; }
  // The weights [batch..., L, S] are an output that losses rarely use: no zeros for them.
  bool accepts_undefined_grads() const override { return true; }

  // forward, per batch entry:  S = scale·Q·Kᵀ + M  (L, S);  W = softmax(S) row-wise  (L, S);
  //                            A = W ⊙ keep/(1−p) (dropout; A = W without it);  O = A·V  (L, Dv)
  // given dO (L, Dv) and dW_out (L, S), the gradient of the returned weights:
  //   dV = Aᵀ·dO (S, Dv);  dA = dO·Vᵀ (L, S);  dW = dA ⊙ keep/(1−p) + dW_out (L, S)
  //   dS = W ⊙ (dW − rowsum(dW ⊙ W))  (softmax's Jacobian diag(w) − w·wᵀ, row by row)  (L, S)
  //   dQ = scale·dS·K (L, E);  dK = scale·dSᵀ·Q (S, E);  dM = dS (float mask)
  // Masked entries have W = 0, so dS = 0 there exactly; a fully masked row has W = 0 and gets dS = 0.
  // Inputs broadcast over batch get their per-entry gradients summed back to their own shape.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const int64_t L = weights_.size(-2), S = weights_.size(-1);
    const int64_t E = query_.size(-1), Dv = value_.size(-1);
    const TensorOptions options = TensorOptions(weights_.dtype()).with_device(weights_.device());
    // Undefined when nothing used that output (accepts_undefined_grads): the output's is rarely
    // unused, the weights' usually are (then dW_out adds nothing).
    const Tensor d_output = grad_outputs[0].defined() ? grad_outputs[0] : zeros(with_matrix(batch_, L, Dv), options);
    const Tensor& d_weights_out = grad_outputs[1];      // [batch..., L, S] or undefined
    const bool need_q = needs_input_grad(0), need_k = needs_input_grad(1), need_v = needs_input_grad(2);
    const bool need_mask = needs_input_grad(3), need_scores = need_q || need_k || need_mask;
    if (!per_entry_on(weights_.device()))
      return whole_batch_backward(d_output, d_weights_out, need_q, need_k, need_v, need_mask);

    // Full-batch gradient buffers: an entry of a broadcast input is shared, so it is summed afterwards.
    // Every entry writes its whole block below, so they need no clearing.
    Tensor dq = need_q ? empty_for_overwrite(with_matrix(batch_, L, E), options) : Tensor();
    Tensor dk = need_k ? empty_for_overwrite(with_matrix(batch_, S, E), options) : Tensor();
    Tensor dv = need_v ? empty_for_overwrite(with_matrix(batch_, S, Dv), options) : Tensor();
    Tensor dmask = need_mask ? empty_for_overwrite(with_matrix(batch_, L, S), options) : Tensor();

    parallel_for(0, shape_numel(batch_), 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const Tensor Q = matrix_of(query_, batch_, b), K = matrix_of(key_, batch_, b);
        const Tensor V = matrix_of(value_, batch_, b), W = matrix_of(weights_, batch_, b);
        const Tensor dO = matrix_of(d_output, batch_, b);
        const Tensor A = keep_.defined() ? kernels::mul(W, matrix_of(keep_, batch_, b)) : W;
        // dV = Aᵀ·dO   (S, L)·(L, Dv) → (S, Dv): each value row collects the output rows that used it.
        if (need_v) kernels::gemm(A, true, dO, false, matrix_of(dv, batch_, b), 1.0, 0.0);
        if (!need_scores) continue;
        // dA = dO·Vᵀ   (L, Dv)·(Dv, S) → (L, S)
        Tensor dW = empty_for_overwrite({L, S}, options);
        kernels::gemm(dO, false, V, true, dW, 1.0, 0.0);
        // dW = dA ⊙ keep/(1−p): dropped weights reached no output, so they get no gradient.
        if (keep_.defined()) dW = kernels::mul(dW, matrix_of(keep_, batch_, b));
        // + dW_out: the returned weights are an output too, and a loss on them adds its gradient here.
        if (d_weights_out.defined()) kernels::add_(dW, matrix_of(d_weights_out, batch_, b));
        // dS = W ⊙ (dW − rowsum(dW ⊙ W))   (L, S)
        const Tensor dS = kernels::softmax_backward(W, dW, 1);
        // dM = dS: a float mask is added to the scores after scaling.
        if (need_mask) kernels::copy(matrix_of(dmask, batch_, b), dS);
        // dQ = scale·dS·K   (L, S)·(S, E) → (L, E)
        if (need_q) kernels::gemm(dS, false, K, false, matrix_of(dq, batch_, b), scale_, 0.0);
        // dK = scale·dSᵀ·Q   (S, L)·(L, E) → (S, E)
        if (need_k) kernels::gemm(dS, true, Q, false, matrix_of(dk, batch_, b), scale_, 0.0);
      }
    });
    // Broadcast inputs (a key shared by all heads, a mask shared by the batch) sum their entries' gradients.
    return {need_q ? kernels::sum_to(dq, query_.shape()) : Tensor(),
            need_k ? kernels::sum_to(dk, key_.shape()) : Tensor(),
            need_v ? kernels::sum_to(dv, value_.shape()) : Tensor(),
            need_mask ? kernels::sum_to(dmask, mask_shape_) : Tensor()};
  }

 private:
  // The same gradients as backward()'s loop, each step over the whole batch (the GPU's way).
  std::vector<Tensor> whole_batch_backward(const Tensor& d_output, const Tensor& d_weights_out, bool need_q,
                                           bool need_k, bool need_v, bool need_mask) const {
    const Tensor A = keep_.defined() ? kernels::mul(weights_, keep_) : weights_;
    // dV = Aᵀ·dO   [batch..., S, L]·[batch..., L, Dv] → [batch..., S, Dv]
    Tensor dv = need_v ? kernels::sum_to(kernels::matmul(transposed(A), d_output), value_.shape()) : Tensor();
    if (!(need_q || need_k || need_mask)) return {Tensor(), Tensor(), dv, Tensor()};
    // dA = dO·Vᵀ   [batch..., L, Dv]·[batch..., Dv, S] → [batch..., L, S]; dW = dA ⊙ keep/(1−p) + dW_out
    Tensor dW = kernels::matmul(d_output, transposed(value_));
    if (keep_.defined()) dW = kernels::mul(dW, keep_);
    if (d_weights_out.defined()) kernels::add_(dW, d_weights_out);  // dW is this function's own, [batch..., L, S]
    // dS = W ⊙ (dW − rowsum(dW ⊙ W))
    const Tensor dS = kernels::softmax_backward(weights_, dW, weights_.dim() - 1);
    // dQ = scale·dS·K, dK = scale·dSᵀ·Q: summed to the inputs' own (broadcast) shapes, then scaled.
    Tensor dq, dk;
    if (need_q) dq = kernels::affine(kernels::sum_to(kernels::matmul(dS, key_), query_.shape()), scale_, 0.0);
    if (need_k)
      dk = kernels::affine(kernels::sum_to(kernels::matmul(transposed(dS), query_), key_.shape()), scale_, 0.0);
    return {dq, dk, dv, need_mask ? kernels::sum_to(dS, mask_shape_) : Tensor()};
  }

  Tensor query_, key_, value_;
  Shape mask_shape_;  // the float mask's own shape, for its gradient
  Tensor weights_;    // W before dropout, [batch..., L, S]: the softmax backward needs nothing else
  Tensor keep_;       // dropout: keep/(1−p) as 0 or 1/(1−p), [batch..., L, S]; undefined without dropout
  Shape batch_;
  double scale_;
};

// Checks every operand, naming the op and the shapes; returns the broadcast batch shape.
Shape check_attention_args(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double dropout_p) {
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

}  // namespace

std::pair<Tensor, Tensor> scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                                       const Tensor& mask, double dropout_p, bool causal,
                                                       std::optional<double> scale, Generator* gen) {
  const Shape batch = check_attention_args(query, key, value, mask, dropout_p);
  const int64_t L = query.size(-2), S = key.size(-2), E = query.size(-1), Dv = value.size(-1);
  const double factor = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  const Device device = query.device();
  const TensorOptions options = TensorOptions(query.dtype()).with_device(device);
  const bool per_entry = per_entry_on(device);

  // −∞ where a query may not attend, plus a float mask: one tensor added to each entry's scores.
  const Tensor bias = additive_mask(mask, causal, L, S, query.dtype(), device);
  // Rows that may attend to nothing (all −∞) would be softmax's 0/0 = NaN: they get weight 0 instead.
  // Only a mask can empty a row (the causal one leaves key 0 to every query).
  Tensor dead_rows;
  if (mask.defined() && S > 0) {
    Tensor row_max = kernels::amax(bias, {-1}, /*keepdim=*/true);
    Tensor dead = kernels::eq(row_max, scalar_tensor(-kInf, options));
    // On the CPU asking whether any row is dead is free and saves a pass per entry when none is; on a
    // GPU the answer would make the host wait for the device, which costs more than the pass.
    if (!per_entry || kernels::sum(dead, {}, false).item<int64_t>() > 0) dead_rows = dead;
  }
  // Dropout on the weights: keep/(1−p) as a float mask, drawn once and reused by the backward.
  Tensor keep;
  if (dropout_p > 0.0) {
    Tensor kept = kernels::bernoulli(with_matrix(batch, L, S), 1.0 - dropout_p, gen ? *gen : default_generator(),
                                     query.device());
    keep = kernels::where(kept, scalar_tensor(1.0 / (1.0 - dropout_p), options), scalar_tensor(0.0, options));
  }

  Tensor weights, output;
  if (per_entry) {
    // Each entry writes its whole block of both (GEMMs with β = 0, then the softmax's copy).
    weights = empty_for_overwrite(with_matrix(batch, L, S), options);
    output = empty_for_overwrite(with_matrix(batch, L, Dv), options);
    parallel_for(0, shape_numel(batch), 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const Tensor Q = matrix_of(query, batch, b), K = matrix_of(key, batch, b), V = matrix_of(value, batch, b);
        Tensor W = matrix_of(weights, batch, b);
        // S = scale·Q·Kᵀ   (L, E)·(E, S) → (L, S), written where W will go; Kᵀ is a transposed view.
        kernels::gemm(Q, false, K, true, W, factor, 0.0);
        // S += M: −∞ removes a position from the softmax (exp(−∞) = 0), a float mask shifts its score.
        if (bias.defined()) kernels::add_(W, matrix_of(bias, batch, b));
        // W = softmax(S) along each row, stable: exp(s − max) never overflows, even for scores of ±1e4.
        Tensor row_weights = kernels::softmax(W, 1);
        if (dead_rows.defined()) row_weights = kernels::masked_fill(row_weights, matrix_of(dead_rows, batch, b), 0.0);
        kernels::copy(W, row_weights);
        // A = W ⊙ keep/(1−p) with dropout; the returned weights stay W.
        const Tensor A = keep.defined() ? kernels::mul(row_weights, matrix_of(keep, batch, b)) : row_weights;
        // O = A·V   (L, S)·(S, Dv) → (L, Dv)
        kernels::gemm(A, false, V, false, matrix_of(output, batch, b), 1.0, 0.0);
      }
    });
  } else {
    // S = scale·Q·Kᵀ + M   [batch..., L, S]: one batched GEMM (Kᵀ a view), then scale and mask in one pass.
    Tensor scores = kernels::matmul(query, transposed(key));
    scores = bias.defined() ? kernels::add_scaled(bias, scores, factor) : kernels::affine(scores, factor, 0.0);
    // Q and K may be broadcast over batch dims that only V has: the weights are per entry all the same.
    const Shape weights_shape = with_matrix(batch, L, S);
    if (scores.shape() != weights_shape) scores = kernels::contiguous_copy(views::expand(scores, weights_shape));
    weights = kernels::softmax(scores, scores.dim() - 1);
    if (dead_rows.defined()) weights = kernels::masked_fill(weights, dead_rows, 0.0);
    // O = A·V   [batch..., L, S]·[batch..., S, Dv] → [batch..., L, Dv], A = W ⊙ keep/(1−p) with dropout.
    output = kernels::matmul(keep.defined() ? kernels::mul(weights, keep) : weights, value);
  }

  // A float mask is an input of the graph (a learned bias, e.g. relative positions); a bool one selects.
  const Tensor float_mask = mask.defined() && mask.dtype() != kBool ? mask : Tensor();
  if (any_requires_grad({query, key, value, float_mask}))
    connect(std::make_shared<ScaledDotProductAttentionBackward>(
                save(query), save(key), save(value), float_mask.defined() ? float_mask.shape() : Shape{},
                save(weights), keep, batch, factor),
            {query, key, value, float_mask}, {output, weights});
  return {output, weights};
}

}  // namespace focus
