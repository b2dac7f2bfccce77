// The MultiheadAttention layer (nn/layers/multihead_attention.h).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "nn/functional/attention.h"
#include "nn/functional/linear.h"
#include "nn/gradcheck.h"
#include "nn/layers/multihead_attention.h"
#include "../support.h"

using namespace focus;
using focus::testing::max_abs_diff;
using nn::MultiheadAttention;
using nn::MultiheadAttentionOptions;

namespace {

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

std::vector<std::string> parameter_names(const nn::Module& m) {
  std::vector<std::string> names;
  for (auto& [name, p] : m.named_parameters()) names.push_back(name);
  return names;
}

// The layer written out head by head from its parameters, batch-first [N, L, E] inputs, with the composed
// attention on each head's slice of features and a bool mask for scaled_dot_product_attention (true = may
// attend). Returns the output [N, L, E] and per-head weights [N, H, L, S].
std::pair<Tensor, Tensor> reference_mha(MultiheadAttention& mha, const Tensor& query, const Tensor& key,
                                        const Tensor& value, const Tensor& allowed = {}) {
  const int64_t E = mha.options.embed_dim(), H = mha.options.num_heads(), D = mha.head_dim;
  Tensor wq, wk, wv;
  if (mha.in_proj_weight.defined()) {
    wq = mha.in_proj_weight.slice(0, 0, E), wk = mha.in_proj_weight.slice(0, E, 2 * E);
    wv = mha.in_proj_weight.slice(0, 2 * E, 3 * E);
  } else {
    wq = mha.q_proj_weight, wk = mha.k_proj_weight, wv = mha.v_proj_weight;
  }
  Tensor bq, bk, bv;
  if (mha.in_proj_bias.defined())
    bq = mha.in_proj_bias.slice(0, 0, E), bk = mha.in_proj_bias.slice(0, E, 2 * E),
    bv = mha.in_proj_bias.slice(0, 2 * E, 3 * E);
  Tensor q = nn::functional::linear(query, wq, bq), k = nn::functional::linear(key, wk, bk);
  Tensor v = nn::functional::linear(value, wv, bv);
  std::vector<Tensor> heads, weights;
  for (int64_t h = 0; h < H; ++h) {
    auto [o, w] = nn::functional::scaled_dot_product_attention_composed(
        q.slice(2, h * D, (h + 1) * D), k.slice(2, h * D, (h + 1) * D), v.slice(2, h * D, (h + 1) * D),
        allowed.defined() && allowed.dim() == 4 ? allowed.select(1, allowed.size(1) == 1 ? 0 : h) : allowed);
    heads.push_back(o);
    weights.push_back(w);
  }
  Tensor merged = cat(heads, 2);
  return {nn::functional::linear(merged, mha.out_proj->weight, mha.out_proj->bias), stack(weights, 1)};
}

}  // namespace

TEST_CASE("MultiheadAttention parameters are named, shaped and initialised like PyTorch's", "[multihead_attention]") {
  MultiheadAttention packed(8, 2);
  CHECK(parameter_names(packed) ==
        std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(packed.in_proj_weight.shape() == Shape{24, 8});
  CHECK(packed.in_proj_bias.shape() == Shape{24});
  CHECK(packed.out_proj->weight.shape() == Shape{8, 8});
  CHECK(packed.head_dim == 4);
  CHECK(packed.type_name() == "MultiheadAttention");
  // xavier_uniform_ on [3E, E]: U(−a, a), a = √(6 / (E + 3E)); biases start at zero.
  const double bound = std::sqrt(6.0 / 32.0);
  double largest = 0;
  for (double w : packed.in_proj_weight.to_vector<double>()) largest = std::max(largest, std::abs(w));
  CHECK(largest <= bound);
  CHECK(largest > 0.9 * bound);  // 192 draws: the largest is near the bound
  for (double b : packed.in_proj_bias.to_vector<double>()) CHECK(b == 0.0);
  for (double b : packed.out_proj->bias.to_vector<double>()) CHECK(b == 0.0);

  MultiheadAttention separate(MultiheadAttentionOptions(8, 2).kdim(5).vdim(3));
  CHECK(parameter_names(separate) == std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight",
                                                              "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(separate.k_proj_weight.shape() == Shape{8, 5});
  CHECK(separate.v_proj_weight.shape() == Shape{8, 3});
  CHECK(!separate.in_proj_weight.defined());

  MultiheadAttention no_bias(MultiheadAttentionOptions(8, 4).bias(false));
  CHECK(parameter_names(no_bias) == std::vector<std::string>{"in_proj_weight", "out_proj.weight"});
  CHECK(no_bias.num_parameters() == 24 * 8 + 8 * 8);
}

TEST_CASE("MultiheadAttentionOptions: PyTorch's names and defaults, chained setters", "[multihead_attention]") {
  const MultiheadAttentionOptions defaults(8, 2);
  CHECK(defaults.embed_dim() == 8);
  CHECK(defaults.num_heads() == 2);
  CHECK(defaults.dropout() == 0.0);
  CHECK(defaults.bias());
  CHECK(defaults.kdim() == 8);  // kdim and vdim default to embed_dim
  CHECK(defaults.vdim() == 8);
  CHECK_FALSE(defaults.batch_first());
  MultiheadAttention mha(MultiheadAttentionOptions(8, 2).dropout(0.25).bias(false).kdim(3).vdim(5).batch_first(true));
  CHECK(mha.extra_repr() == "embed_dim=8, num_heads=2, dropout=0.25, bias=false, kdim=3, vdim=5, batch_first=true");
  CHECK(mha.k_proj_weight.shape() == Shape{8, 3});
  CHECK(mha.v_proj_weight.shape() == Shape{8, 5});
  REQUIRE_THROWS_WITH(MultiheadAttention(MultiheadAttentionOptions(8, 2).kdim(0)),
                      Catch::Contains("MultiheadAttention: kdim and vdim must be positive, got 0 and 8"));
  REQUIRE_THROWS_WITH(MultiheadAttention(MultiheadAttentionOptions(8, 2).dropout(1.0)),
                      Catch::Contains("MultiheadAttention: dropout must be in [0, 1), got 1"));
  // One generator seed gives the same parameters twice.
  Generator first(4), second(4);
  MultiheadAttention a(defaults, &first), b(defaults, &second);
  CHECK(max_abs_diff(a.in_proj_weight, b.in_proj_weight) == 0.0);
  CHECK(max_abs_diff(a.out_proj->weight, b.out_proj->weight) == 0.0);
}

TEST_CASE("MultiheadAttention with one head equals scaled_dot_product_attention on the projected inputs",
          "[multihead_attention]") {
  Generator gen(1);
  MultiheadAttention mha(MultiheadAttentionOptions(6, 1).batch_first(true), &gen);
  // Non-zero biases so that they are exercised.
  mha.in_proj_bias.copy_(uniform({18}, -0.5, 0.5, {}, &gen));
  mha.out_proj->bias.copy_(uniform({6}, -0.5, 0.5, {}, &gen));
  Tensor query = randn({2, 3, 6}, {}, &gen), key = randn({2, 5, 6}, {}, &gen), value = randn({2, 5, 6}, {}, &gen);
  auto [output, weights] = mha(query, key, value);

  Tensor w = mha.in_proj_weight, b = mha.in_proj_bias;
  Tensor q = nn::functional::linear(query, w.slice(0, 0, 6), b.slice(0, 0, 6));
  Tensor k = nn::functional::linear(key, w.slice(0, 6, 12), b.slice(0, 6, 12));
  Tensor v = nn::functional::linear(value, w.slice(0, 12, 18), b.slice(0, 12, 18));
  auto [attended, expected_weights] = scaled_dot_product_attention(q, k, v);
  Tensor expected = nn::functional::linear(attended, mha.out_proj->weight, mha.out_proj->bias);
  CHECK(max_abs_diff(output, expected) < 1e-5);
  CHECK(max_abs_diff(weights, expected_weights) < 1e-6);  // one head: the average is that head
  CHECK(mha.last_output_shape() == Shape{2, 3, 6});
}

TEST_CASE("MultiheadAttention matches the heads written out one by one", "[multihead_attention]") {
  Generator gen(2);
  MultiheadAttention mha(MultiheadAttentionOptions(8, 2).batch_first(true), &gen);
  mha.to(kFloat64);
  mha.in_proj_bias.copy_(uniform({24}, -0.5, 0.5, kFloat64, &gen));
  Tensor query = randn({2, 3, 8}, kFloat64, &gen), key = randn({2, 4, 8}, kFloat64, &gen);
  Tensor value = randn({2, 4, 8}, kFloat64, &gen);
  auto [expected, expected_weights] = reference_mha(mha, query, key, value);

  SECTION("cross-attention, per-head and averaged weights") {
    auto [output, weights] = mha(query, key, value, {}, true, {}, /*average_attn_weights=*/false);
    CHECK(max_abs_diff(output, expected) < 1e-12);
    REQUIRE(weights.shape() == Shape{2, 2, 3, 4});
    CHECK(max_abs_diff(weights, expected_weights) < 1e-12);
    CHECK(max_abs_diff(mha.last_attention(), expected_weights) < 1e-12);
    auto [output2, averaged] = mha(query, key, value);
    REQUIRE(averaged.shape() == Shape{2, 3, 4});
    CHECK(max_abs_diff(averaged, mean(expected_weights, {1})) < 1e-12);
    auto [output3, none] = mha(query, key, value, {}, /*need_weights=*/false);
    CHECK(!none.defined());
    CHECK(max_abs_diff(output3, expected) < 1e-12);
  }
  SECTION("self-attention takes the packed path and gives the same result") {
    auto [expected_self, w_self] = reference_mha(mha, query, query, query);
    auto [packed, w1] = mha(query, query, query);              // one tensor: one [3E, E] GEMM
    auto [split, w2] = mha(query, query.clone(), query.clone());  // three tensors: three GEMMs
    CHECK(max_abs_diff(packed, expected_self) < 1e-12);
    CHECK(max_abs_diff(split, expected_self) < 1e-12);
  }
}

TEST_CASE("MultiheadAttention batch_first and sequence-first layouts agree, unbatched input works",
          "[multihead_attention]") {
  Generator gen(3);
  MultiheadAttention seq_first(MultiheadAttentionOptions(8, 2), &gen);
  MultiheadAttention batch_first(MultiheadAttentionOptions(8, 2).batch_first(true), &gen);
  batch_first.load_state_dict(seq_first.state_dict());
  Tensor query = randn({2, 3, 8}, {}, &gen), key = randn({2, 5, 8}, {}, &gen);  // [N, L, E], [N, S, E]
  auto [out_bf, w_bf] = batch_first(query, key, key);
  auto [out_sf, w_sf] = seq_first(transpose(query, 0, 1), transpose(key, 0, 1), transpose(key, 0, 1));
  REQUIRE(out_sf.shape() == Shape{3, 2, 8});
  CHECK(max_abs_diff(transpose(out_sf, 0, 1), out_bf) < 1e-6);
  CHECK(max_abs_diff(w_sf, w_bf) < 1e-6);

  auto [out_single, w_single] = seq_first(query.select(0, 1), key.select(0, 1), key.select(0, 1));
  REQUIRE(out_single.shape() == Shape{3, 8});
  REQUIRE(w_single.shape() == Shape{3, 5});
  CHECK(max_abs_diff(out_single, out_bf.select(0, 1)) < 1e-6);
  CHECK(seq_first.last_attention().shape() == Shape{2, 3, 5});
}

TEST_CASE("MultiheadAttention masks follow PyTorch: bool true = NOT allowed", "[multihead_attention]") {
  Generator gen(4);
  MultiheadAttention mha(MultiheadAttentionOptions(8, 2).batch_first(true), &gen);
  mha.to(kFloat64);
  Tensor query = randn({2, 3, 8}, kFloat64, &gen), key = randn({2, 4, 8}, kFloat64, &gen);
  Tensor value = randn({2, 4, 8}, kFloat64, &gen);

  SECTION("key_padding_mask: padded keys get zero weight and do not change the output") {
    Tensor padding = zeros({2, 4}, kBool);
    padding.set({0, 3}, 1);
    padding.set({1, 1}, 1);
    padding.set({1, 2}, 1);
    auto [output, weights] = mha(query, key, value, padding, true, {}, false);
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 3; ++i) {
        CHECK(weights.at({0, h, i, 3}) == 0.0);
        CHECK(weights.at({1, h, i, 1}) == 0.0);
        CHECK(weights.at({1, h, i, 2}) == 0.0);
      }
    Tensor allowed = logical_not(padding).reshape({2, 1, 1, 4});
    auto [expected, expected_weights] = reference_mha(mha, query, key, value, allowed);
    CHECK(max_abs_diff(output, expected) < 1e-12);
    // Changing a padded key's value changes nothing.
    Tensor changed = value.clone();
    changed.set({0, 3, 0}, 100.0);
    CHECK(max_abs_diff(mha(query, key, changed, padding).output, output) == 0.0);
    // A float key_padding_mask is added: −∞ equals the bool mask.
    Tensor additive = where(padding, scalar_tensor(-std::numeric_limits<double>::infinity(), kFloat64),
                            scalar_tensor(0.0, kFloat64));
    CHECK(max_abs_diff(mha(query, key, value, additive).output, output) < 1e-12);
  }
  SECTION("attn_mask [L, S] bool and float, combined with key_padding_mask") {
    Tensor blocked = zeros({3, 4}, kBool);
    blocked.set({0, 1}, 1);
    blocked.set({2, 0}, 1);
    Tensor padding = zeros({2, 4}, kBool);
    padding.set({1, 3}, 1);
    auto [output, weights] = mha(query, key, value, padding, true, blocked, false);
    CHECK(weights.at({0, 1, 0, 1}) == 0.0);
    CHECK(weights.at({1, 0, 2, 0}) == 0.0);
    CHECK(weights.at({1, 1, 1, 3}) == 0.0);
    Tensor allowed = logical_and(logical_not(blocked), logical_not(padding).reshape({2, 1, 1, 4}));
    auto [expected, expected_weights] = reference_mha(mha, query, key, value, allowed);
    CHECK(max_abs_diff(output, expected) < 1e-12);
    // Float attn_mask with a bool key_padding_mask: merged additively, as PyTorch does.
    Tensor bias = randn({3, 4}, kFloat64, &gen);
    Tensor additive_blocked =
        add(bias, where(blocked, scalar_tensor(-std::numeric_limits<double>::infinity(), kFloat64),
                        scalar_tensor(0.0, kFloat64)));
    auto [o_float, w_float] = mha(query, key, value, padding, true, additive_blocked, false);
    CHECK(w_float.at({0, 1, 0, 1}) == 0.0);
    CHECK(w_float.at({1, 1, 1, 3}) == 0.0);
    CHECK(all_finite(o_float));
  }
  SECTION("attn_mask [N·H, L, S]: entry n·H + h masks batch n, head h") {
    Tensor blocked = zeros({4, 3, 4}, kBool);
    blocked.set({1, 0, 2}, 1);  // n = 0, h = 1
    blocked.set({2, 2, 3}, 1);  // n = 1, h = 0
    auto [output, weights] = mha(query, key, value, {}, true, blocked, false);
    CHECK(weights.at({0, 1, 0, 2}) == 0.0);
    CHECK(weights.at({0, 0, 0, 2}) > 0.0);
    CHECK(weights.at({1, 0, 2, 3}) == 0.0);
    CHECK(weights.at({1, 1, 2, 3}) > 0.0);
  }
  SECTION("a query with every key masked outputs out_proj.bias, with no NaN") {
    mha.out_proj->bias.copy_(randn({8}, kFloat64, &gen));
    Tensor blocked = zeros({3, 4}, kBool);
    for (int64_t j = 0; j < 4; ++j) blocked.set({1, j}, 1);
    Tensor q = query.detach().requires_grad_();
    auto [output, weights] = mha(q, key, value, {}, true, blocked);
    CHECK(all_finite(output));
    CHECK(max_abs_diff(output.select(1, 1), mha.out_proj->bias.expand({2, 8})) < 1e-15);
    sum(output).backward();
    CHECK(all_finite(q.grad()));
  }
}

TEST_CASE("MultiheadAttention gradcheck of inputs and parameters, with masks", "[multihead_attention][gradcheck]") {
  Generator gen(5);
  SECTION("packed projections, key_padding_mask and a bool attn_mask") {
    MultiheadAttention mha(MultiheadAttentionOptions(4, 2), &gen);
    mha.to(kFloat64);
    mha.in_proj_bias.copy_(uniform({12}, -0.5, 0.5, kFloat64, &gen));
    mha.out_proj->bias.copy_(uniform({4}, -0.5, 0.5, kFloat64, &gen));
    Tensor query = randn({3, 2, 4}, kFloat64, &gen).requires_grad_();  // [L, N, E]
    Tensor key = randn({4, 2, 4}, kFloat64, &gen).requires_grad_();
    Tensor value = randn({4, 2, 4}, kFloat64, &gen).requires_grad_();
    Tensor padding = zeros({2, 4}, kBool);
    padding.set({1, 2}, 1);
    Tensor blocked = zeros({3, 4}, kBool);
    blocked.set({0, 3}, 1);
    CHECK(nn::gradcheck(mha, [&](const std::vector<Tensor>& in) {
      return mha(in[0], in[1], in[2], padding, true, blocked).output;
    }, {query, key, value}));
    // The averaged weights are differentiable too.
    CHECK(nn::gradcheck(mha, [&](const std::vector<Tensor>& in) {
      return mha(in[0], in[1], in[2], padding, true, blocked).weights;
    }, {query, key, value}));
  }
  SECTION("self-attention (one tensor) with a float attn_mask that requires grad") {
    MultiheadAttention mha(MultiheadAttentionOptions(4, 2).batch_first(true), &gen);
    Tensor x = randn({2, 3, 4}, kFloat64, &gen).requires_grad_();
    Tensor bias = randn({3, 3}, kFloat64, &gen).requires_grad_();
    CHECK(nn::gradcheck(mha, [&](const std::vector<Tensor>& in) {
      return mha(in[0], in[0], in[0], {}, true, in[1], false).output;
    }, {x, bias}));
  }
  SECTION("kdim and vdim differ from embed_dim") {
    MultiheadAttention mha(MultiheadAttentionOptions(4, 2).kdim(3).vdim(5).batch_first(true), &gen);
    Tensor query = randn({2, 3, 4}, kFloat64, &gen).requires_grad_();
    Tensor key = randn({2, 4, 3}, kFloat64, &gen).requires_grad_();
    Tensor value = randn({2, 4, 5}, kFloat64, &gen).requires_grad_();
    auto [output, weights] = mha(query.detach().to(kFloat32), key.detach().to(kFloat32), value.detach().to(kFloat32));
    CHECK(output.shape() == Shape{2, 3, 4});
    CHECK(weights.shape() == Shape{2, 3, 4});
    CHECK(nn::gradcheck(mha, [&](const std::vector<Tensor>& in) { return mha(in[0], in[1], in[2]).output; },
                        {query, key, value}));
  }
}

TEST_CASE("MultiheadAttention dropout acts in training mode only, returned weights are before dropout",
          "[multihead_attention][dropout]") {
  Generator gen(6);
  MultiheadAttention mha(MultiheadAttentionOptions(8, 2).dropout(0.5).batch_first(true), &gen);
  manual_seed(7);  // the dropout masks come from the default generator, as in PyTorch
  Tensor query = randn({2, 6, 8}, {}, &gen), key = randn({2, 6, 8}, {}, &gen);
  mha.eval();
  auto [eval_out, eval_weights] = mha(query, key, key);
  auto [eval_out2, eval_weights2] = mha(query, key, key);
  CHECK(max_abs_diff(eval_out, eval_out2) == 0.0);
  mha.train();
  auto [train_out, train_weights] = mha(query, key, key);
  CHECK(max_abs_diff(train_out, eval_out) > 1e-3);
  CHECK(max_abs_diff(train_weights, eval_weights) < 1e-6);
}

TEST_CASE("MultiheadAttention state_dict round trip", "[multihead_attention]") {
  Generator gen(8);
  const auto options = MultiheadAttentionOptions(8, 2).batch_first(true);
  MultiheadAttention a(options, &gen), b(options, &gen);
  Tensor x = randn({2, 3, 8}, {}, &gen);
  CHECK(max_abs_diff(a(x, x, x).output, b(x, x, x).output) > 1e-3);
  b.load_state_dict(a.state_dict());
  CHECK(max_abs_diff(a(x, x, x).output, b(x, x, x).output) == 0.0);
}

TEST_CASE("MultiheadAttention error messages name the layer and the shapes", "[multihead_attention][errors]") {
  REQUIRE_THROWS_WITH(MultiheadAttention(10, 3), Catch::Contains("MultiheadAttention: embed_dim (10) must be a "
                                                                 "positive multiple of num_heads (3)"));
  MultiheadAttention mha(8, 2);  // sequence-first: [L, N, E]
  Tensor q = zeros({3, 2, 8}), k = zeros({5, 2, 8});
  REQUIRE_THROWS_WITH(mha(zeros({3, 2, 6}), k, k),
                      Catch::Contains("MultiheadAttention(embed_dim=8, num_heads=2): query of shape [3, 2, 6] has 6 "
                                      "features, expected embed_dim = 8"));
  REQUIRE_THROWS_WITH(mha(zeros({8}), k, k),
                      Catch::Contains("expected query [L, N, 8] (or unbatched [L, 8]), got [8]"));
  REQUIRE_THROWS_WITH(mha(q, zeros({5, 3, 8}), zeros({5, 3, 8})),
                      Catch::Contains("query [3, 2, 8], key [5, 3, 8] and value [5, 3, 8] disagree"));
  REQUIRE_THROWS_WITH(mha(q, k, zeros({4, 2, 8})), Catch::Contains("disagree"));
  REQUIRE_THROWS_WITH(mha(q, k, k, zeros({2, 4}, kBool)),
                      Catch::Contains("key_padding_mask of shape [2, 4] does not match [N, S] = [2, 5]"));
  REQUIRE_THROWS_WITH(mha(q, k, k, {}, true, zeros({3, 4}, kBool)),
                      Catch::Contains("attn_mask of shape [3, 4] must be [L, S] = [3, 5] or [N·num_heads, L, S] = "
                                      "[4, 3, 5]"));
  REQUIRE_THROWS_WITH(mha(q, k, k, zeros({2, 5}, kInt64)),
                      Catch::Contains("key_padding_mask must be bool (true = not allowed) or floating"));
  MultiheadAttention kv(MultiheadAttentionOptions(8, 2).kdim(3).vdim(4));
  REQUIRE_THROWS_WITH(kv(q, k, k), Catch::Contains("key of shape [5, 2, 8] has 8 features, expected kdim = 3"));
}
