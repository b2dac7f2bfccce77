// LuongAttention: the dot, general and concat scores against the formulas written out in plain
// loops with the layer's own weights (concat with the explicit [q; k] concatenation), one-step and
// sequence queries, masks (exactly zero weight and gradient), scores of ±1e4, float64 gradchecks
// of inputs and parameters, errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "focus.h"
#include "nn/gradcheck.h"
#include "nn/layers/luong_attention.h"

using namespace focus;
using Inputs = const std::vector<Tensor>&;

namespace {

double max_diff(const Tensor& a, const Tensor& b) { return max(abs(a - b).flatten(), 0).first.item<double>(); }

std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).contiguous().to_vector<double>(); }

Tensor bool_mask(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape).to(kBool);
}

/// The score of one query row q [Dq] against one key row k [Dk], per LuongScore, in plain loops.
double score_of(nn::LuongAttention& att, const double* q, const double* k) {
  int64_t dq = att.query_dim, dk = att.key_dim;
  if (att.score == nn::LuongScore::Dot) {
    double e = 0;
    for (int64_t d = 0; d < dq; ++d) e += q[d] * k[d];
    return e;
  }
  auto w = values_of(att.linear->weight);
  if (att.score == nn::LuongScore::General) {  // qᵀ W k, W [Dq, Dk]
    double e = 0;
    for (int64_t a = 0; a < dq; ++a)
      for (int64_t b = 0; b < dk; ++b) e += q[a] * w[a * dk + b] * k[b];
    return e;
  }
  // concat: vᵀ tanh(W [q; k]), W [H, Dq + Dk]
  std::vector<double> concatenated(q, q + dq);
  concatenated.insert(concatenated.end(), k, k + dk);
  auto v = values_of(att.v);
  double e = 0;
  for (int64_t h = 0; h < att.hidden_dim; ++h) {
    double pre = 0;
    for (int64_t c = 0; c < dq + dk; ++c) pre += w[h * (dq + dk) + c] * concatenated[c];
    e += v[h] * std::tanh(pre);
  }
  return e;
}

/// softmax over real positions (exactly 0 elsewhere) and the weighted sum, in plain loops; query [B, Lq, Dq].
std::pair<Tensor, Tensor> reference(nn::LuongAttention& att, const Tensor& query, const Tensor& keys,
                                    const Tensor& values, const std::vector<int64_t>& mask = {}) {
  int64_t batch = query.size(0), lq = query.size(1), dq = query.size(2);
  int64_t lk = keys.size(1), dk = keys.size(2), dv = values.size(2);
  auto q = values_of(query), k = values_of(keys), u = values_of(values);
  std::vector<double> context(batch * lq * dv, 0.0), weights(batch * lq * lk, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < lq; ++i) {
      std::vector<double> scores(lk, -INFINITY);
      double top = -INFINITY;
      for (int64_t j = 0; j < lk; ++j) {
        if (!mask.empty() && mask[b * lk + j] == 0) continue;
        scores[j] = score_of(att, &q[(b * lq + i) * dq], &k[(b * lk + j) * dk]);
        top = std::max(top, scores[j]);
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

struct Mode {
  const char* name;
  nn::LuongScore score;
  int64_t key_dim;
  size_t parameters;
};
const std::vector<Mode> modes = {{"dot", nn::LuongScore::Dot, 3, 0},
                                  {"general", nn::LuongScore::General, 4, 1},
                                  {"concat", nn::LuongScore::Concat, 4, 2}};

}  // namespace

TEST_CASE("luong_attention forward matches each score written out", "[nn][attention]") {
  for (const Mode& mode : modes) {
    DYNAMIC_SECTION(mode.name) {
      manual_seed(21);
      nn::LuongAttention att(3, mode.key_dim, mode.score, 5);
      REQUIRE(att.named_parameters().size() == mode.parameters);
      Tensor query = randn({2, 3, 3}), keys = randn({2, 4, mode.key_dim}), values = randn({2, 4, 2});
      auto [context, weights] = att(query, keys, values);
      auto [expected_context, expected_weights] = reference(att, query, keys, values);
      REQUIRE(max_diff(context.to(kFloat64), expected_context) < 1e-5);
      REQUIRE(max_diff(weights.to(kFloat64), expected_weights) < 1e-6);
      REQUIRE(att.last_attention().shape() == Shape{2, 3, 4});
      REQUIRE(att.last_output_shape() == Shape{2, 3, 2});

      std::vector<int64_t> mask_values{0, 1, 1, 1, 1, 1, 0, 1};
      auto masked = att(query, keys, values, bool_mask(mask_values, {2, 4}));
      auto [masked_context, masked_weights] = reference(att, query, keys, values, mask_values);
      REQUIRE(max_diff(masked.context.to(kFloat64), masked_context) < 1e-5);
      for (int64_t i = 0; i < 3; ++i) {
        REQUIRE(masked.weights.at({0, i, 0}) == 0.0);
        REQUIRE(masked.weights.at({1, i, 2}) == 0.0);
      }

      // A one-step query [B, Dq] is the sequence form with Lq = 1.
      Tensor step_query = randn({2, 3});
      auto step = att(step_query, keys, values);
      auto sequence = att(step_query.unsqueeze(1), keys, values);
      REQUIRE(step.context.shape() == Shape{2, 2});
      REQUIRE(step.weights.shape() == Shape{2, 4});
      REQUIRE(max_diff(step.context, sequence.context.squeeze(1)) < 1e-6);
      REQUIRE(max_diff(step.weights, sequence.weights.squeeze(1)) < 1e-6);
    }
  }
}

TEST_CASE("luong_attention masked positions get exactly zero weight and gradient, stable with ±1e4",
          "[nn][attention]") {
  for (const Mode& mode : modes) {
    DYNAMIC_SECTION(mode.name) {
      manual_seed(22);
      nn::LuongAttention att(3, mode.key_dim, mode.score);
      Tensor query = (randn({2, 2, 3}) * 1e4).requires_grad_();
      Tensor keys = (randn({2, 5, mode.key_dim}) * 1e4).requires_grad_();
      Tensor values = randn({2, 5, 2}).requires_grad_();
      std::vector<int64_t> mask_values{1, 1, 0, 1, 1, 0, 1, 1, 1, 1};
      auto [context, weights] = att(query, keys, values, bool_mask(mask_values, {2, 5}));
      // Scores up to ~1e8 (dot): the softmax subtracts the row maximum, so no overflow and no NaN.
      auto [expected_context, expected_weights] =
          reference(att, query.detach(), keys.detach(), values.detach(), mask_values);
      REQUIRE(max_diff(context.to(kFloat64), expected_context) < 1e-4);
      REQUIRE(max_diff(sum(weights, {2}), ones({2, 2})) < 1e-6);
      sum(context * context).backward();
      for (double g : values_of(query.grad())) REQUIRE(std::isfinite(g));
      for (double g : values_of(keys.grad())) REQUIRE(std::isfinite(g));
      for (int64_t i = 0; i < 2; ++i) {
        REQUIRE(weights.at({0, i, 2}) == 0.0);
        REQUIRE(weights.at({1, i, 0}) == 0.0);
      }
      for (int64_t d = 0; d < mode.key_dim; ++d) {
        REQUIRE(keys.grad().at({0, 2, d}) == 0.0);
        REQUIRE(keys.grad().at({1, 0, d}) == 0.0);
      }
      for (int64_t d = 0; d < 2; ++d) {
        REQUIRE(values.grad().at({0, 2, d}) == 0.0);
        REQUIRE(values.grad().at({1, 0, d}) == 0.0);
      }
    }
  }
}

TEST_CASE("luong_attention gradcheck of inputs and parameters, with and without a mask", "[nn][attention]") {
  for (const Mode& mode : modes) {
    DYNAMIC_SECTION(mode.name) {
      manual_seed(23);
      nn::LuongAttention att(3, mode.key_dim, mode.score, 4);
      Tensor query = randn({2, 2, 3}, kFloat64).requires_grad_();
      Tensor step_query = randn({2, 3}, kFloat64).requires_grad_();
      Tensor keys = randn({2, 4, mode.key_dim}, kFloat64).requires_grad_();
      Tensor values = randn({2, 4, 3}, kFloat64).requires_grad_();
      Tensor mask = bool_mask({1, 0, 1, 1, 1, 1, 0, 0}, {2, 4});
      REQUIRE(nn::gradcheck(att, [&](Inputs in) { return att(in[0], in[1], in[2]).context; }, {query, keys, values}));
      REQUIRE(nn::gradcheck(att, [&](Inputs in) { return att(in[0], in[1], in[2], mask).context; },
                            {query, keys, values}));
      REQUIRE(nn::gradcheck(att, [&](Inputs in) { return att(in[0], in[1], in[2], mask).weights; },
                            {step_query, keys, values}));
    }
  }
}

TEST_CASE("luong_attention errors name the layer and the shapes", "[nn][attention]") {
  nn::LuongAttention att(3, 4);  // general
  const char* layer = "LuongAttention(query_dim=3, key_dim=4, score=general)";
  Tensor keys = randn({2, 6, 4}), values = randn({2, 6, 7});
  REQUIRE_THROWS_WITH(att(randn({2, 2, 5}), keys, values),
                      Catch::Contains(layer) && Catch::Contains("[B, Lq, 3]") && Catch::Contains("[2, 2, 5]"));
  REQUIRE_THROWS_WITH(att(randn({2, 3}), randn({2, 6, 3}), values),
                      Catch::Contains(layer) && Catch::Contains("[B, Lk, 4]") && Catch::Contains("[2, 6, 3]"));
  REQUIRE_THROWS_WITH(att(randn({2, 3}), keys, randn({2, 5, 7})),
                      Catch::Contains(layer) && Catch::Contains("[2, 5, 7]") && Catch::Contains("[2, 6, 4]"));
  // An all-false mask is no error: every query attends to nothing, so weights and context are 0.
  auto nothing = att(randn({2, 3}), keys, values, zeros({2, 6}, kBool));
  REQUIRE(max(abs(nothing.weights).flatten(), 0).first.item<double>() == 0.0);
  REQUIRE(max(abs(nothing.context).flatten(), 0).first.item<double>() == 0.0);
  REQUIRE_THROWS_WITH(nn::LuongAttention(3, 4, nn::LuongScore::Dot),
                      Catch::Contains("LuongAttention") && Catch::Contains("query_dim == key_dim"));
  nn::LuongAttention concat(3, 4, nn::LuongScore::Concat);
  REQUIRE(concat.hidden_dim == 3);
  REQUIRE(concat.extra_repr() == "query_dim=3, key_dim=4, score=concat, hidden_dim=3");
}
