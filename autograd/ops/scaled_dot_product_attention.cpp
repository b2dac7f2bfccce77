// scaled_dot_product_attention: output = softmax(scale·Q·Kᵀ + M)·V, fused, returning the output and the
// attention weights.
//
// The math is written once, in the two step functions below (attention_forward_step and
// attention_backward_step). A step takes either one batch entry's matrices (2-D) or the whole batch's
// tensors ([batch..., rows, cols]) and makes the same kernels:: calls on either, on the operands' device.
// Two strategies call them:
//
// On the CPU the work goes one batch entry (one (batch, head) pair) at a time: its scores [L, S] stay
// in cache from the GEMM that makes them, through the mask and the softmax, to the GEMM that reads
// them, and the backward does the same with their gradients. Entries run in parallel, each step writing
// its block of the full-batch results in place; every product is a kernels::gemm on 2-D views, so
// transposes are strides handed to BLAS, never copies. The composed version
// (nn::functional::scaled_dot_product_attention_composed) makes each step a separate pass over all
// B·H·L·S scores, and a separate node in the graph.
//
// On a GPU it is the other way round: the steps run once over the whole batch (one batched GEMM, one
// softmax launch), because a launch per entry would leave most of the GPU idle, and GPU work is not
// queued from several host threads. So the CPU tests run the very lines a GPU runs (and, with
// detail::WholeBatchAttentionOnCpu, the GPU's whole-batch way too); nothing here reads tensor memory
// on the host.
//
// Names: L is the number of queries and S the number of keys, sizes only. `scores` is the matrix before
// the softmax (llm.c's preatt), `attention_weights` the one after it (llm.c's att).
//
// The derivation of every gradient below is docs/attention-backprop.md, which links back to these lines.
// The argument checks and the views of one batch entry are in scaled_dot_product_attention_support.cpp.
#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "autograd/ops/scaled_dot_product_attention_support.h"
#include "tensor/kernels.h"
#include "tensor/parallel.h"

namespace focus {

namespace {

using detail::matrix_product;
using detail::write_into;

// What one forward step reads: one batch entry's matrices, or the whole batch's tensors with these
// shapes behind their batch dims. Undefined where there is none.
struct ForwardInputs {
  Tensor query;      // Q (L, E)
  Tensor key;        // K (S, E)
  Tensor value;      // V (S, Dv)
  Tensor bias;       // M (L, S): the mask as 0 / −∞, plus a float mask
  Tensor dead_rows;  // (L, 1) bool: the queries that may attend to no key
  Tensor keep;       // (L, S): dropout's keep/(1−p), 0 or 1/(1−p)
};

// What a forward step returns, and where it writes when given (one entry's blocks of the full-batch
// results); undefined `into` tensors make new ones.
struct ForwardResults {
  Tensor attention_weights;  // (L, S), before dropout
  Tensor output;             // (L, Dv)
};

// forward:  scores = scale·Q·Kᵀ + M   (L, E)·(E, S) → (L, S)
//           attention_weights = softmax(scores) along each row   (L, S)
//           A = attention_weights ⊙ keep/(1−p)   (dropout; A = attention_weights without it)   (L, S)
//           output = A·V   (L, S)·(S, Dv) → (L, Dv)
ForwardResults attention_forward_step(const ForwardInputs& in, double scale, const ForwardResults& into) {
  // scores = scale·Q·Kᵀ, written where the weights will go; Kᵀ is a transposed view.
  Tensor scores = matrix_product(in.query, false, in.key, true, scale, into.attention_weights);
  // scores += M: −∞ removes a position from the softmax (exp(−∞) = 0), a float mask shifts its score.
  if (in.bias.defined()) kernels::add_(scores, in.bias);
  // Stable: exp(s − max) never overflows, even for scores of ±1e4. In place where the scores went when
  // they went into the caller's weights (the CPU's per-entry blocks).
  Tensor attention_weights = into.attention_weights.defined() ? kernels::softmax_into(scores, /*dim=*/-1, scores)
                                                              : kernels::softmax(scores, /*dim=*/-1);
  // A query that may attend to nothing would get softmax's 0/0 = NaN: its weights are 0 instead.
  if (in.dead_rows.defined()) attention_weights = kernels::masked_fill(attention_weights, in.dead_rows, 0.0);
  // The op returns the weights before dropout; the output is made from A.
  const Tensor A = in.keep.defined() ? kernels::mul(attention_weights, in.keep) : attention_weights;
  Tensor output = matrix_product(A, false, in.value, false, 1.0, into.output);
  return {write_into(into.attention_weights, attention_weights), output};
}

// What one backward step reads, shapes as in ForwardInputs.
struct BackwardInputs {
  Tensor query, key, value;  // Q (L, E), K (S, E), V (S, Dv)
  Tensor attention_weights;  // (L, S), before dropout: the softmax backward needs nothing else
  Tensor keep;               // (L, S) or undefined
  Tensor d_output;           // (L, Dv)
  Tensor d_weights_out;      // (L, S): the gradient of the returned weights, undefined when unused
};

// The gradients of the inputs, and where a backward step writes them when given: Q (L, E), K (S, E),
// V (S, Dv) and the float mask (L, S). Undefined where not needed.
struct Gradients {
  Tensor query, key, value, mask;
};
struct NeededGradients {
  bool query, key, value, mask;
};

// forward (attention_forward_step):  scores = scale·Q·Kᵀ + M;  attention_weights = softmax(scores) by row;
//                                    A = attention_weights ⊙ keep/(1−p);  output = A·V
// Each rule below walks one of those lines backwards, given d_output (L, Dv) and d_weights_out (L, S).
// Masked positions have weight 0, so their d_scores is 0 exactly, and a fully masked row gets 0 throughout.
Gradients attention_backward_step(const BackwardInputs& in, double scale, const NeededGradients& need,
                                  const Gradients& into) {
  Gradients grads;
  const Tensor A = in.keep.defined() ? kernels::mul(in.attention_weights, in.keep) : in.attention_weights;
  // output = A·V, so dV = Aᵀ·d_output   (S, L)·(L, Dv) → (S, Dv): each value row collects the output
  // rows that used it;
  if (need.value) grads.value = matrix_product(A, true, in.d_output, false, 1.0, into.value);
  if (!(need.query || need.key || need.mask)) return grads;
  // and dA = d_output·Vᵀ   (L, Dv)·(Dv, S) → (L, S).
  Tensor d_attention_weights = matrix_product(in.d_output, false, in.value, true);
  // A = attention_weights ⊙ keep/(1−p), so d_attention_weights = dA ⊙ keep/(1−p)   (L, S): a dropped
  // weight reached no output, so it gets no gradient. (Without dropout A is the weights, dA theirs.)
  if (in.keep.defined()) d_attention_weights = kernels::mul(d_attention_weights, in.keep);
  // The weights are returned too: a loss on them adds its gradient, d_weights_out   (L, S).
  if (in.d_weights_out.defined()) kernels::add_(d_attention_weights, in.d_weights_out);
  // attention_weights = softmax(scores) by row, whose Jacobian is diag(w) − w·wᵀ for a row w, so
  // d_scores = attention_weights ⊙ (d_attention_weights − rowsum(d_attention_weights ⊙ attention_weights))
  //   (L, S): one dot product per row, never the S×S Jacobian.
  const Tensor d_scores = kernels::softmax_backward(in.attention_weights, d_attention_weights, /*dim=*/-1);
  // scores = scale·Q·Kᵀ + M, so dM = d_scores   (L, S) (a float mask is added after scaling),
  if (need.mask) grads.mask = write_into(into.mask, d_scores);
  // dQ = scale·d_scores·K   (L, S)·(S, E) → (L, E),
  if (need.query) grads.query = matrix_product(d_scores, false, in.key, false, scale, into.query);
  // dK = scale·d_scoresᵀ·Q   (S, L)·(L, E) → (S, E).
  if (need.key) grads.key = matrix_product(d_scores, true, in.query, false, scale, into.key);
  return grads;
}

// ---- the two strategies' plumbing ------------------------------------------------------------

constexpr double kInf = std::numeric_limits<double>::infinity();

// Batch entry `b` of each tensor: its 2-D matrix, a view.
ForwardInputs entry_of(const ForwardInputs& all, const Shape& batch, int64_t b) {
  auto at = [&](const Tensor& t) { return detail::entry_matrix(t, batch, b); };
  return {at(all.query), at(all.key), at(all.value), at(all.bias), at(all.dead_rows), at(all.keep)};
}
ForwardResults entry_of(const ForwardResults& all, const Shape& batch, int64_t b) {
  auto at = [&](const Tensor& t) { return detail::entry_matrix(t, batch, b); };
  return {at(all.attention_weights), at(all.output)};
}
BackwardInputs entry_of(const BackwardInputs& all, const Shape& batch, int64_t b) {
  auto at = [&](const Tensor& t) { return detail::entry_matrix(t, batch, b); };
  return {at(all.query), at(all.key),      at(all.value),        at(all.attention_weights),
          at(all.keep),  at(all.d_output), at(all.d_weights_out)};
}
Gradients entry_of(const Gradients& all, const Shape& batch, int64_t b) {
  auto at = [&](const Tensor& t) { return detail::entry_matrix(t, batch, b); };
  return {at(all.query), at(all.key), at(all.value), at(all.mask)};
}

// The whole batch as one step's operands: Q, K and V broadcast (as views) over all batch dims, so that
// the scores have the weights' shape even where V has batch dims that Q and K lack.
ForwardInputs whole_batch(ForwardInputs all, const Shape& batch) {
  for (Tensor* t : {&all.query, &all.key, &all.value})
    *t = views::expand(*t, detail::with_matrix(batch, t->size(-2), t->size(-1)));
  return all;
}

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
  ScaledDotProductAttentionBackward(Tensor query, Tensor key, Tensor value, Shape mask_shape,
                                    Tensor attention_weights, Tensor keep, Shape batch, double scale)
      : query_(save(query, "query")),
        key_(save(key, "key")),
        value_(save(value, "value")),
        mask_shape_(std::move(mask_shape)),
        attention_weights_(save(attention_weights, "attention_weights")),
        keep_(std::move(keep)),
        batch_(std::move(batch)),
        scale_(scale) {}
  std::string name() const override { return "ScaledDotProductAttentionBackward"; }
  // The weights [batch..., L, S] are an output that losses rarely use: no zeros for them.
  bool accepts_undefined_grads() const override { return true; }

  // The rules are attention_backward_step's; this runs it per entry or over the whole batch, then
  // sums the gradients of inputs broadcast over the batch back to their own shapes.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const int64_t L = attention_weights_.size(-2), S = attention_weights_.size(-1);
    const int64_t E = query_.size(-1), Dv = value_.size(-1);
    const TensorOptions options =
        TensorOptions(attention_weights_.dtype()).with_device(attention_weights_.device());
    // Undefined when nothing used that output (accepts_undefined_grads): the output's is rarely
    // unused, the weights' usually are (then d_weights_out adds nothing).
    const Tensor d_output =
        grad_outputs[0].defined() ? grad_outputs[0] : zeros(detail::with_matrix(batch_, L, Dv), options);
    const BackwardInputs all{query_, key_, value_, attention_weights_, keep_, d_output, grad_outputs[1]};
    const NeededGradients need{needs_input_grad(0), needs_input_grad(1), needs_input_grad(2), needs_input_grad(3)};

    Gradients grads;
    if (detail::attention_runs_per_entry(attention_weights_.device())) {
      // Full-batch gradient buffers: an entry of a broadcast input is shared, so it is summed afterwards.
      // Every entry writes its whole block, so they need no clearing.
      auto buffer = [&](bool needed, int64_t rows, int64_t cols) {
        return needed ? empty_for_overwrite(detail::with_matrix(batch_, rows, cols), options) : Tensor();
      };
      grads = {buffer(need.query, L, E), buffer(need.key, S, E), buffer(need.value, S, Dv),
               buffer(need.mask, L, S)};
      parallel_for(0, shape_numel(batch_), 1, [&](int64_t first, int64_t last) {
        for (int64_t b = first; b < last; ++b)
          attention_backward_step(entry_of(all, batch_, b), scale_, need, entry_of(grads, batch_, b));
      });
    } else {
      grads = attention_backward_step(all, scale_, need, Gradients{});
    }
    // Broadcast inputs (a key shared by all heads, a mask shared by the batch) sum their entries' gradients.
    auto summed = [](const Tensor& grad, const Shape& shape) {
      return grad.defined() ? kernels::sum_to(grad, shape) : Tensor();
    };
    return {summed(grads.query, query_.shape()), summed(grads.key, key_.shape()),
            summed(grads.value, value_.shape()), summed(grads.mask, mask_shape_)};
  }

 private:
  Tensor query_, key_, value_;
  Shape mask_shape_;          // the float mask's own shape, for its gradient
  Tensor attention_weights_;  // [batch..., L, S], before dropout
  Tensor keep_;               // dropout: keep/(1−p) as 0 or 1/(1−p), [batch..., L, S]; undefined without dropout
  Shape batch_;
  double scale_;
};

}  // namespace

std::pair<Tensor, Tensor> scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                                       const Tensor& mask, double dropout_p, bool causal,
                                                       std::optional<double> scale, Generator* gen) {
  const Shape batch = detail::check_scaled_dot_product_attention_args(query, key, value, mask, dropout_p);
  const int64_t L = query.size(-2), S = key.size(-2), E = query.size(-1), Dv = value.size(-1);
  const double factor = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  const Device device = query.device();
  const TensorOptions options = TensorOptions(query.dtype()).with_device(device);
  const bool per_entry = detail::attention_runs_per_entry(device);

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
    Tensor kept = kernels::bernoulli(detail::with_matrix(batch, L, S), 1.0 - dropout_p,
                                     gen ? *gen : default_generator(), query.device());
    keep = kernels::where(kept, scalar_tensor(1.0 / (1.0 - dropout_p), options), scalar_tensor(0.0, options));
  }

  const ForwardInputs all{query, key, value, bias, dead_rows, keep};
  ForwardResults results;
  if (per_entry) {
    // Each entry writes its whole block of both (GEMMs with β = 0, then the softmax's copy).
    results = {empty_for_overwrite(detail::with_matrix(batch, L, S), options),
               empty_for_overwrite(detail::with_matrix(batch, L, Dv), options)};
    parallel_for(0, shape_numel(batch), 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b)
        attention_forward_step(entry_of(all, batch, b), factor, entry_of(results, batch, b));
    });
  } else {
    results = attention_forward_step(whole_batch(all, batch), factor, ForwardResults{});
  }

  // A float mask is an input of the graph (a learned bias, e.g. relative positions); a bool one selects.
  const Tensor float_mask = mask.defined() && mask.dtype() != kBool ? mask : Tensor();
  if (any_requires_grad({query, key, value, float_mask}))
    connect(std::make_shared<ScaledDotProductAttentionBackward>(
                query, key, value, float_mask.defined() ? float_mask.shape() : Shape{},
                results.attention_weights, keep, batch, factor),
            {query, key, value, float_mask}, {results.output, results.attention_weights});
  return {results.output, results.attention_weights};
}

}  // namespace focus
