// AdditiveAttention (Bahdanau): forward against the formula written out in plain loops with the
// layer's own weights, the one-step and sequence query forms, precomputed keys, masks (exactly zero
// weight and gradient), scores of ±1e4, float64 gradchecks of inputs and parameters, errors.
// Uses the shared helpers of nn/layers/attention_context.h (AttentionContext).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "focus.h"
#include "nn/gradcheck.h"
#include "nn/layers/additive_attention.h"
#include "nn/layers/attention_context.h"

using namespace focus;
using Inputs = const std::vector<Tensor>&;

namespace {

double max_diff(const Tensor& a, const Tensor& b) { return max(abs(a - b).flatten(), 0).first.item<double>(); }

std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).contiguous().to_vector<double>(); }

/// The layer's formula in plain loops: e_bij = Σ_h v_h tanh(Σ_d Wq_hd q_bid + Σ_d Wk_hd k_bjd + bk_h),
/// weights = softmax_j over real positions (exactly 0 elsewhere), context_bi = Σ_j w_bij u_bj.
/// query [B, Lq, Dq]; returns {context [B, Lq, Dv], weights [B, Lq, Lk]} as float64.
nn::AttentionContext reference(nn::AdditiveAttention& att, const Tensor& query, const Tensor& keys,
                               const Tensor& values, const std::vector<int64_t>& mask = {}) {
  int64_t batch = query.size(0), lq = query.size(1), dq = query.size(2);
  int64_t lk = keys.size(1), dk = keys.size(2), dv = values.size(2), hidden = att.hidden_dim;
  auto q = values_of(query), k = values_of(keys), u = values_of(values);
  auto wq = values_of(att.query_proj->weight), wk = values_of(att.key_proj->weight);
  auto bk = values_of(att.key_proj->bias), v = values_of(att.v);
  std::vector<double> context(batch * lq * dv, 0.0), weights(batch * lq * lk, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < lq; ++i) {
      std::vector<double> scores(lk, -INFINITY);
      double top = -INFINITY;
      for (int64_t j = 0; j < lk; ++j) {
        if (!mask.empty() && mask[b * lk + j] == 0) continue;
        double e = 0;
        for (int64_t h = 0; h < hidden; ++h) {
          double pre = bk[h];
          for (int64_t d = 0; d < dq; ++d) pre += wq[h * dq + d] * q[(b * lq + i) * dq + d];
          for (int64_t d = 0; d < dk; ++d) pre += wk[h * dk + d] * k[(b * lk + j) * dk + d];
          e += v[h] * std::tanh(pre);
        }
        scores[j] = e;
        top = std::max(top, e);
      }
      double total = 0;
      for (int64_t j = 0; j < lk; ++j) total += std::exp(scores[j] - top);
      for (int64_t j = 0; j < lk; ++j) {
        double w = std::exp(scores[j] - top) / total;
        weights[(b * lq + i) * lk + j] = w;
        for (int64_t c = 0; c < dv; ++c) context[(b * lq + i) * dv + c] += w * u[(b * lk + j) * dv + c];
      }
    }
  return {from_vector(context, {batch, lq, dv}), from_vector(weights, {batch, lq, lk})};
}

Tensor bool_mask(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape).to(kBool);
}

}  // namespace

TEST_CASE("additive_attention forward matches vᵀ tanh(W_q q + W_k k) written out", "[nn][attention]") {
  manual_seed(11);
  nn::AdditiveAttention att(3, 4, 5);
  REQUIRE(att.named_parameters().size() == 4);  // query_proj.weight, key_proj.weight, key_proj.bias, v
  REQUIRE_FALSE(att.query_proj->bias.defined());
  REQUIRE(att.v.shape() == Shape{5});
  Tensor query = randn({2, 3, 3}), keys = randn({2, 4, 4}), values = randn({2, 4, 6});

  auto [context, weights] = att(query, keys, values);
  auto expected = reference(att, query, keys, values);
  REQUIRE(context.shape() == Shape{2, 3, 6});
  REQUIRE(weights.shape() == Shape{2, 3, 4});
  REQUIRE(max_diff(context.to(kFloat64), expected.context) < 1e-5);
  REQUIRE(max_diff(weights.to(kFloat64), expected.weights) < 1e-6);
  REQUIRE(att.last_attention().shape() == Shape{2, 3, 4});
  REQUIRE_FALSE(att.last_attention().requires_grad());
  REQUIRE(att.last_output_shape() == Shape{2, 3, 6});

  std::vector<int64_t> mask_values{1, 1, 0, 1, 1, 0, 0, 0};
  Tensor mask = bool_mask(mask_values, {2, 4});
  auto masked = att(query, keys, values, mask);
  auto masked_expected = reference(att, query, keys, values, mask_values);
  REQUIRE(max_diff(masked.context.to(kFloat64), masked_expected.context) < 1e-5);
  for (int64_t i = 0; i < 3; ++i) {
    REQUIRE(masked.weights.at({0, i, 2}) == 0.0);
    REQUIRE(masked.weights.at({1, i, 1}) == 0.0);
    REQUIRE(masked.weights.at({1, i, 0}) == 1.0f);  // the only real position takes all the weight
  }
}

TEST_CASE("additive_attention one-step and sequence queries agree, precomputed keys give the same result",
          "[nn][attention]") {
  manual_seed(12);
  nn::AdditiveAttention att(3, 4, 5);
  Tensor query = randn({2, 3}), keys = randn({2, 5, 4}), values = randn({2, 5, 2});
  Tensor mask = bool_mask({1, 1, 1, 1, 0, 0, 1, 1, 1, 1}, {2, 5});
  auto step = att(query, keys, values, mask);
  REQUIRE(step.context.shape() == Shape{2, 2});
  REQUIRE(step.weights.shape() == Shape{2, 5});
  REQUIRE(att.last_attention().shape() == Shape{2, 5});
  auto sequence = att(query.unsqueeze(1), keys, values, mask);
  REQUIRE(max_diff(step.context, sequence.context.squeeze(1)) < 1e-6);
  REQUIRE(max_diff(step.weights, sequence.weights.squeeze(1)) < 1e-6);

  Tensor projected = att.project_keys(keys);
  REQUIRE(projected.shape() == Shape{2, 5, 5});
  auto fast = att.forward_projected(query, projected, values, mask);
  REQUIRE(max_diff(fast.context, step.context) < 1e-6);
  REQUIRE(max_diff(fast.weights, step.weights) < 1e-6);
}

TEST_CASE("additive_attention masked positions get exactly zero weight and zero gradient", "[nn][attention]") {
  manual_seed(13);
  nn::AdditiveAttention att(3, 3, 4);
  Tensor query = randn({2, 2, 3}).requires_grad_();
  Tensor keys = randn({2, 4, 3}).requires_grad_();
  Tensor values = randn({2, 4, 5}).requires_grad_();
  Tensor mask = bool_mask({1, 0, 1, 1, 1, 1, 1, 0}, {2, 4});
  auto [context, weights] = att(query, keys, values, mask);
  sum(context * context).backward();
  for (int64_t i = 0; i < 2; ++i) {
    REQUIRE(weights.at({0, i, 1}) == 0.0);
    REQUIRE(weights.at({1, i, 3}) == 0.0);
  }
  for (int64_t d = 0; d < 3; ++d) {
    REQUIRE(keys.grad().at({0, 1, d}) == 0.0);
    REQUIRE(keys.grad().at({1, 3, d}) == 0.0);
    REQUIRE(keys.grad().at({0, 0, d}) != 0.0);  // a real position does get a gradient
  }
  for (int64_t d = 0; d < 5; ++d) {
    REQUIRE(values.grad().at({0, 1, d}) == 0.0);
    REQUIRE(values.grad().at({1, 3, d}) == 0.0);
  }
}

TEST_CASE("additive_attention is stable with inputs of ±1e4", "[nn][attention]") {
  manual_seed(14);
  nn::AdditiveAttention att(3, 3, 4);
  Tensor query = (randn({2, 2, 3}) * 1e4).requires_grad_();
  Tensor keys = (randn({2, 4, 3}) * 1e4).requires_grad_();
  Tensor values = randn({2, 4, 2});
  Tensor mask = bool_mask({1, 1, 1, 0, 1, 1, 1, 1}, {2, 4});
  auto [context, weights] = att(query, keys, values, mask);
  auto expected = reference(att, query.detach(), keys.detach(), values, {1, 1, 1, 0, 1, 1, 1, 1});
  REQUIRE(max_diff(context.to(kFloat64), expected.context) < 1e-4);
  REQUIRE(max_diff(sum(weights, {2}), ones({2, 2})) < 1e-6);
  REQUIRE(weights.at({0, 0, 3}) == 0.0);
  sum(context).backward();
  for (double g : values_of(query.grad())) REQUIRE(std::isfinite(g));
  for (double g : values_of(keys.grad())) REQUIRE(std::isfinite(g));
}

TEST_CASE("additive_attention gradcheck of inputs and parameters, with and without a mask", "[nn][attention]") {
  manual_seed(15);
  nn::AdditiveAttention att(3, 2, 4);
  Tensor keys = randn({2, 4, 2}, kFloat64).requires_grad_();
  Tensor values = randn({2, 4, 3}, kFloat64).requires_grad_();
  Tensor mask = bool_mask({1, 1, 0, 1, 0, 1, 1, 0}, {2, 4});
  SECTION("sequence query") {
    Tensor query = randn({2, 3, 3}, kFloat64).requires_grad_();
    REQUIRE(nn::gradcheck(att, [&](Inputs in) { return att(in[0], in[1], in[2]).context; }, {query, keys, values}));
    REQUIRE(nn::gradcheck(att, [&](Inputs in) { return att(in[0], in[1], in[2], mask).context; },
                          {query, keys, values}));
    // The weights are an output too (they feed visualisations and attention losses).
    REQUIRE(nn::gradcheck(att, [&](Inputs in) { return att(in[0], in[1], in[2], mask).weights; },
                          {query, keys, values}));
  }
  SECTION("one-step query, precomputed keys") {
    Tensor query = randn({2, 3}, kFloat64).requires_grad_();
    REQUIRE(nn::gradcheck(
        att, [&](Inputs in) { return att.forward_projected(in[0], att.project_keys(in[1]), in[2], mask).context; },
        {query, keys, values}));
  }
}

TEST_CASE("additive_attention errors name the layer and the shapes", "[nn][attention]") {
  nn::AdditiveAttention att(3, 4, 5);
  Tensor keys = randn({2, 6, 4}), values = randn({2, 6, 7});
  const char* layer = "AdditiveAttention(query_dim=3, key_dim=4, hidden_dim=5)";
  REQUIRE_THROWS_WITH(att(randn({2, 5}), keys, values),
                      Catch::Contains(layer) && Catch::Contains("[B, 3]") && Catch::Contains("[2, 5]"));
  REQUIRE_THROWS_WITH(att(randn({2, 3}), randn({2, 6, 3}), values),
                      Catch::Contains(layer) && Catch::Contains("[B, Lk, 4]") && Catch::Contains("[2, 6, 3]"));
  REQUIRE_THROWS_WITH(att(randn({3, 3}), keys, values),
                      Catch::Contains(layer) && Catch::Contains("[3, 3]") && Catch::Contains("[2, 6, 4]"));
  REQUIRE_THROWS_WITH(att(randn({2, 3}), keys, randn({2, 5, 7})),
                      Catch::Contains(layer) && Catch::Contains("[2, 5, 7]") && Catch::Contains("[2, 6, 4]"));
  REQUIRE_THROWS_WITH(att(randn({2, 3}), keys, values, ones({2, 5}, kBool)),
                      Catch::Contains(layer) && Catch::Contains("[2, 5]") && Catch::Contains("[2, 6, 4]"));
  REQUIRE_THROWS_WITH(att.forward_projected(randn({2, 3}), keys, values),
                      Catch::Contains("projected keys") && Catch::Contains("[B, Lk, 5]") &&
                          Catch::Contains("[2, 6, 4]"));
  REQUIRE_THROWS_WITH(att.project_keys(randn({2, 6, 3})), Catch::Contains(layer) && Catch::Contains("[2, 6, 3]"));
  REQUIRE_THROWS_WITH(nn::AdditiveAttention(3, 0, 5), Catch::Contains("AdditiveAttention"));
}

TEST_CASE("a query with nothing to attend to gets zero weights, a zero context and no gradient",
          "[nn][attention]") {
  // The policy of scaled_dot_product_attention and MultiheadAttention: no softmax exists over an
  // empty row (0/0), so its weights are 0 rather than NaN or an error.
  nn::AdditiveAttention att(3, 4, 5);
  att.to(kFloat64);
  Tensor query = randn({2, 3}, kFloat64), keys = randn({2, 6, 4}, kFloat64).requires_grad_(),
         values = randn({2, 6, 7}, kFloat64).requires_grad_();
  Tensor one_empty_row = bool_mask({1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, {2, 6});
  auto [context, weights] = att(query, keys, values, one_empty_row);
  REQUIRE(max(abs(weights.select(0, 1)).flatten(), 0).first.item<double>() == 0.0);
  REQUIRE(max(abs(context.select(0, 1)).flatten(), 0).first.item<double>() == 0.0);
  // The other row is what it is without the empty one.
  auto alone = att(query.narrow(0, 0, 1), keys.narrow(0, 0, 1), values.narrow(0, 0, 1), one_empty_row.narrow(0, 0, 1));
  REQUIRE(max(abs(context.narrow(0, 0, 1) - alone.context).flatten(), 0).first.item<double>() < 1e-12);
  sum(context * context).backward();
  REQUIRE(max(abs(keys.grad().select(0, 1)).flatten(), 0).first.item<double>() == 0.0);
  REQUIRE(max(abs(values.grad().select(0, 1)).flatten(), 0).first.item<double>() == 0.0);
  for (double g : keys.grad().to_vector<double>()) REQUIRE(std::isfinite(g));
  // And the gradients of the rest are right.
  Tensor k = keys.detach().requires_grad_(), v = values.detach().requires_grad_();
  REQUIRE(nn::gradcheck(att, [&](Inputs in) { return att(query, in[0], in[1], one_empty_row).context; }, {k, v}));
}
