#include "nn/layers/multihead_attention.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "autograd/ops.h"
#include "nn/functional/linear.h"
#include "nn/init.h"

namespace focus::nn {

namespace {

// nn.MultiheadAttention's masks (bool: true = NOT allowed; float: added) as the one mask
// scaled_dot_product_attention takes (bool: true = MAY attend; float: added). Both bool: the
// positions neither blocks. Otherwise both additive (bool → −∞ where blocked) and summed, as PyTorch
// merges them; a float mask keeps its gradient.
Tensor attention_mask_for_sdpa(const Tensor& padding, const Tensor& attention, DType dtype, Device device) {
  const bool all_bool = (!padding.defined() || padding.dtype() == kBool) &&
                        (!attention.defined() || attention.dtype() == kBool);
  if (all_bool) {
    Tensor blocked = padding.defined() && attention.defined() ? logical_or(padding, attention)
                                                              : (padding.defined() ? padding : attention);
    return blocked.defined() ? logical_not(blocked) : Tensor();
  }
  const TensorOptions options = TensorOptions(dtype).with_device(device);
  auto additive = [&](const Tensor& m) -> Tensor {
    if (!m.defined()) return m;
    if (m.dtype() == kBool)
      return where(m, scalar_tensor(-std::numeric_limits<double>::infinity(), options), scalar_tensor(0.0, options));
    return to_dtype(m, dtype);
  };
  Tensor a = additive(padding), b = additive(attention);
  return a.defined() && b.defined() ? add(a, b) : (a.defined() ? a : b);
}

}  // namespace

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& options, Generator* generator)
    : options(options), head_dim(options.num_heads() > 0 ? options.embed_dim() / options.num_heads() : 0) {
  const int64_t embed_dim = options.embed_dim(), num_heads = options.num_heads();
  if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads != 0)
    throw std::invalid_argument(fmt::format(
        "MultiheadAttention: embed_dim ({}) must be a positive multiple of num_heads ({})", embed_dim, num_heads));
  if (options.kdim() <= 0 || options.vdim() <= 0)
    throw std::invalid_argument(fmt::format("MultiheadAttention: kdim and vdim must be positive, got {} and {}",
                                            options.kdim(), options.vdim()));
  if (!(options.dropout() >= 0.0 && options.dropout() < 1.0))
    throw std::invalid_argument(
        fmt::format("MultiheadAttention: dropout must be in [0, 1), got {}", options.dropout()));
  // PyTorch's names and order: in_proj_weight (or q/k/v_proj_weight), in_proj_bias, then out_proj.
  const int64_t E = embed_dim;
  if (options.kdim() == E && options.vdim() == E) {
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * E, E}));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", empty({E, E}));
    k_proj_weight = register_parameter("k_proj_weight", empty({E, options.kdim()}));
    v_proj_weight = register_parameter("v_proj_weight", empty({E, options.vdim()}));
  }
  if (options.bias()) in_proj_bias = register_parameter("in_proj_bias", empty({3 * E}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(LinearOptions(E, E).bias(options.bias())));
  reset_parameters(generator);
}

void MultiheadAttention::reset_parameters(Generator* gen) {
  // PyTorch's _reset_parameters: xavier_uniform_ on the input projections (the packed [3E, E] weight as
  // one matrix), zero biases; out_proj.weight keeps Linear's kaiming_uniform_(a = √5).
  if (in_proj_weight.defined()) {
    init::xavier_uniform_(in_proj_weight, 1.0, gen);
  } else {
    init::xavier_uniform_(q_proj_weight, 1.0, gen);
    init::xavier_uniform_(k_proj_weight, 1.0, gen);
    init::xavier_uniform_(v_proj_weight, 1.0, gen);
  }
  init::kaiming_uniform_(out_proj->weight, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, gen);
  if (in_proj_bias.defined()) init::zeros_(in_proj_bias);
  if (out_proj->bias.defined()) init::zeros_(out_proj->bias);
}

MultiheadAttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                     const Tensor& key_padding_mask, bool need_weights,
                                                     const Tensor& attn_mask, bool average_attn_weights) {
  const int64_t embed_dim = options.embed_dim(), num_heads = options.num_heads();
  const int64_t kdim = options.kdim(), vdim = options.vdim();
  const bool batch_first = options.batch_first();
  const std::string layer = fmt::format("MultiheadAttention(embed_dim={}, num_heads={})", embed_dim, num_heads);
  for (const Tensor* t : {&query, &key, &value}) check_defined(*t, "MultiheadAttention");
  const int64_t E = embed_dim, H = num_heads;
  const bool batched = query.dim() == 3;
  if (query.dim() != 2 && query.dim() != 3)
    throw std::invalid_argument(fmt::format("{}: expected query {} (or unbatched [L, {}]), got {}", layer,
                                            batch_first ? fmt::format("[N, L, {}]", E) : fmt::format("[L, N, {}]", E),
                                            E, shape_str(query.shape())));
  if (key.dim() != query.dim() || value.dim() != query.dim())
    throw std::invalid_argument(fmt::format("{}: query {}, key {} and value {} must all be batched (3-D) or all "
                                            "unbatched (2-D)",
                                            layer, shape_str(query.shape()), shape_str(key.shape()),
                                            shape_str(value.shape())));
  // Work batch-first: [N, L, E], [N, S, kdim], [N, S, vdim] (views).
  auto batch_first_view = [&](const Tensor& t) {
    return !batched ? unsqueeze(t, 0) : batch_first ? t : transpose(t, 0, 1);
  };
  const Tensor q_in = batch_first_view(query), k_in = batch_first_view(key), v_in = batch_first_view(value);
  const int64_t N = q_in.size(0), L = q_in.size(1), S = k_in.size(1);
  auto features_error = [&](const char* name, const Tensor& t, const char* dim_name, int64_t expected) {
    return std::invalid_argument(fmt::format("{}: {} of shape {} has {} features, expected {} = {}", layer, name,
                                             shape_str(t.shape()), t.size(-1), dim_name, expected));
  };
  if (q_in.size(2) != E) throw features_error("query", query, "embed_dim", E);
  if (k_in.size(2) != kdim) throw features_error("key", key, "kdim", kdim);
  if (v_in.size(2) != vdim) throw features_error("value", value, "vdim", vdim);
  if (k_in.size(0) != N || v_in.size(0) != N || v_in.size(1) != S)
    throw std::invalid_argument(fmt::format("{}: query {}, key {} and value {} disagree: key and value need the "
                                            "query's batch size and one source length S",
                                            layer, shape_str(query.shape()), shape_str(key.shape()),
                                            shape_str(value.shape())));

  // Masks, PyTorch's conventions (true = NOT allowed), shaped to broadcast over [N, H, L, S].
  auto check_mask_dtype = [&](const Tensor& m, const char* name) {
    if (m.dtype() != kBool && !is_floating(m.dtype()))
      throw std::invalid_argument(fmt::format("{}: {} must be bool (true = not allowed) or floating (added to "
                                              "the scores), got {}",
                                              layer, name, dtype_name(m.dtype())));
  };
  Tensor padding, attention;
  if (key_padding_mask.defined()) {
    check_mask_dtype(key_padding_mask, "key_padding_mask");
    const Shape expected = batched ? Shape{N, S} : Shape{S};
    if (key_padding_mask.shape() != expected)
      throw std::invalid_argument(fmt::format("{}: key_padding_mask of shape {} does not match {} = {} (query {}, "
                                              "key {})",
                                              layer, shape_str(key_padding_mask.shape()),
                                              batched ? "[N, S]" : "[S]", shape_str(expected),
                                              shape_str(query.shape()), shape_str(key.shape())));
    padding = reshape(key_padding_mask, {N, 1, 1, S});  // every head and query of entry n skips its padding
  }
  if (attn_mask.defined()) {
    check_mask_dtype(attn_mask, "attn_mask");
    if (attn_mask.shape() == Shape{L, S})
      attention = attn_mask;
    else if (attn_mask.shape() == Shape{N * H, L, S})
      attention = reshape(attn_mask, {N, H, L, S});  // PyTorch's order: entry n·H + h is batch n, head h
    else
      throw std::invalid_argument(fmt::format("{}: attn_mask of shape {} must be [L, S] = {} or [N·num_heads, L, "
                                              "S] = {}",
                                              layer, shape_str(attn_mask.shape()), shape_str({L, S}),
                                              shape_str({N * H, L, S})));
  }
  const Tensor mask = attention_mask_for_sdpa(padding, attention, query.dtype(), query.device());

  // Input projections. Self-attention (one tensor for query, key and value) takes one GEMM with the
  // packed [3E, E] weight; otherwise each input meets its own third of it.
  Tensor q, k, v;
  if (in_proj_weight.defined() && query.impl_ptr() == key.impl_ptr() && key.impl_ptr() == value.impl_ptr()) {
    std::vector<Tensor> qkv = chunk(functional::linear(q_in, in_proj_weight, in_proj_bias), 3, -1);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else {
    std::vector<Tensor> biases = in_proj_bias.defined() ? chunk(in_proj_bias, 3, 0) : std::vector<Tensor>(3);
    std::vector<Tensor> weights = in_proj_weight.defined() ? chunk(in_proj_weight, 3, 0)
                                                           : std::vector<Tensor>{q_proj_weight, k_proj_weight,
                                                                                 v_proj_weight};
    q = functional::linear(q_in, weights[0], biases[0]);
    k = functional::linear(k_in, weights[1], biases[1]);
    v = functional::linear(v_in, weights[2], biases[2]);
  }
  // Split heads: [N, len, E] → [N, len, H, head_dim] → [N, H, len, head_dim]. The reshape splits the last
  // dim (a view); the permute is a view too; their backward is the inverse permutation and a reshape.
  auto split_heads = [&](const Tensor& t, int64_t length) {
    return permute(reshape(t, {N, length, H, head_dim}), {0, 2, 1, 3});
  };
  auto [attended, weights] =
      scaled_dot_product_attention(split_heads(q, L), split_heads(k, S), split_heads(v, S), mask,
                                   is_training() ? options.dropout() : 0.0, /*causal=*/false, std::nullopt,
                                   /*generator: the default one=*/nullptr);
  // Merge heads: [N, H, L, head_dim] → [L, N, H, head_dim] (or [N, L, …] batch-first) → one copy into
  // [L, N, E], the layout out_proj and the caller want.
  const bool seq_first = batched && !batch_first;
  Tensor merged = seq_first ? reshape(permute(attended, {2, 0, 1, 3}), {L, N, E})
                            : reshape(permute(attended, {0, 2, 1, 3}), {N, L, E});
  Tensor output = (*out_proj)(merged);
  if (!batched) output = squeeze(output, 0);

  last_attention_ = batched ? weights.detach() : views::squeeze(weights.detach(), 0);
  Tensor returned;
  if (need_weights) {
    returned = average_attn_weights ? mean(weights, {1}) : weights;
    if (!batched) returned = squeeze(returned, 0);
  }
  return {output, returned};
}

std::string MultiheadAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}, dropout={}, bias={}, kdim={}, vdim={}, batch_first={}",
                     options.embed_dim(), options.num_heads(), options.dropout(), options.bias(), options.kdim(),
                     options.vdim(), options.batch_first());
}

}  // namespace focus::nn
