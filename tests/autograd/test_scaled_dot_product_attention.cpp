// The fused scaled_dot_product_attention op (autograd/ops/scaled_dot_product_attention.cpp) and its
// composed reference (nn/functional/attention.h).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "autograd/ops/scaled_dot_product_attention_support.h"
#include "nn/functional/attention.h"
#include "tensor/kernels.h"
#include "../support.h"

using namespace focus;
using focus::testing::max_abs_diff;
using nn::functional::scaled_dot_product_attention_composed;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

// Attention of one [L, E] query matrix over [S, E] keys and [S, Dv] values with plain loops, in double:
// the definition, written out. allowed[i][j] = false removes key j from query i's softmax.
struct NaiveAttention {
  std::vector<std::vector<double>> weights, output;
};
NaiveAttention naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                               const std::vector<std::vector<bool>>& allowed = {}) {
  const int64_t L = q.size(0), S = k.size(0), E = q.size(1), Dv = v.size(1);
  NaiveAttention r{std::vector<std::vector<double>>(L, std::vector<double>(S, 0.0)),
                   std::vector<std::vector<double>>(L, std::vector<double>(Dv, 0.0))};
  for (int64_t i = 0; i < L; ++i) {
    std::vector<double> scores(S);
    double max = -kInf;
    for (int64_t j = 0; j < S; ++j) {
      double dot = 0;
      for (int64_t e = 0; e < E; ++e) dot += q.at({i, e}) * k.at({j, e});
      scores[j] = allowed.empty() || allowed[i][j] ? scale * dot : -kInf;
      max = std::max(max, scores[j]);
    }
    if (max == -kInf) continue;  // may attend to nothing: zero weights and output
    double total = 0;
    for (int64_t j = 0; j < S; ++j) total += std::exp(scores[j] - max);
    for (int64_t j = 0; j < S; ++j) {
      r.weights[i][j] = std::exp(scores[j] - max) / total;
      for (int64_t d = 0; d < Dv; ++d) r.output[i][d] += r.weights[i][j] * v.at({j, d});
    }
  }
  return r;
}

void check_against_naive(const Tensor& output, const Tensor& weights, const NaiveAttention& expected, double tol) {
  for (size_t i = 0; i < expected.weights.size(); ++i) {
    for (size_t j = 0; j < expected.weights[i].size(); ++j)
      CHECK(std::abs(weights.at({int64_t(i), int64_t(j)}) - expected.weights[i][j]) < tol);
    for (size_t d = 0; d < expected.output[i].size(); ++d)
      CHECK(std::abs(output.at({int64_t(i), int64_t(d)}) - expected.output[i][d]) < tol);
  }
}

// Runs fused and composed attention on the same inputs, backpropagates the same random gradients
// into both outputs, and compares outputs, weights and the gradients of q, k, v (and a float mask).
void compare_fused_and_composed(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask = {},
                                bool causal = false, std::optional<double> scale = {}) {
  const double tol = q.dtype() == kFloat32 ? 2e-5 : 1e-12;
  auto leaf = [](const Tensor& t) { return t.defined() && is_floating(t.dtype()) ? t.detach().requires_grad_() : t; };
  Tensor q1 = leaf(q), k1 = leaf(k), v1 = leaf(v), m1 = leaf(mask);
  Tensor q2 = leaf(q), k2 = leaf(k), v2 = leaf(v), m2 = leaf(mask);
  auto [out1, w1] = scaled_dot_product_attention(q1, k1, v1, m1, 0.0, causal, scale);
  auto [out2, w2] = scaled_dot_product_attention_composed(q2, k2, v2, m2, 0.0, causal, scale);
  CHECK(max_abs_diff(out1, out2) < tol);
  CHECK(max_abs_diff(w1, w2) < tol);
  Generator gen(99);
  Tensor r_out = randn(out1.shape(), TensorOptions(q.dtype()), &gen);
  Tensor r_w = randn(w1.shape(), TensorOptions(q.dtype()), &gen);
  add(sum(mul(out1, r_out)), sum(mul(w1, r_w))).backward();
  add(sum(mul(out2, r_out)), sum(mul(w2, r_w))).backward();
  CHECK(max_abs_diff(q1.grad(), q2.grad()) < tol);
  CHECK(max_abs_diff(k1.grad(), k2.grad()) < tol);
  CHECK(max_abs_diff(v1.grad(), v2.grad()) < tol);
  if (m1.defined() && m1.requires_grad()) CHECK(max_abs_diff(m1.grad(), m2.grad()) < tol);
  CHECK(all_finite(q1.grad()));
  CHECK(all_finite(k1.grad()));
}

// Runs the fused op one batch entry at a time (the CPU's way) and each step over the whole batch (a
// GPU's way, here on the CPU) on the same inputs and dropout draws, backpropagates the same random
// gradients into both outputs, and compares outputs, weights and every input's gradient.
void compare_strategies(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask = {},
                        bool causal = false, double dropout_p = 0.0) {
  const double tol = q.dtype() == kFloat32 ? 2e-5 : 1e-12;
  auto run = [&](bool whole_batch) {
    std::optional<detail::WholeBatchAttentionOnCpu> strategy;
    if (whole_batch) strategy.emplace();
    auto leaf = [](const Tensor& t) { return t.defined() && is_floating(t.dtype()) ? t.detach().requires_grad_() : t; };
    std::vector<Tensor> inputs{leaf(q), leaf(k), leaf(v), leaf(mask)};
    Generator dropout_gen(7);
    auto [output, weights] =
        scaled_dot_product_attention(inputs[0], inputs[1], inputs[2], inputs[3], dropout_p, causal, {}, &dropout_gen);
    Generator gen(99);
    Tensor r_out = randn(output.shape(), TensorOptions(q.dtype()), &gen);
    Tensor r_w = randn(weights.shape(), TensorOptions(q.dtype()), &gen);
    add(sum(mul(output, r_out)), sum(mul(weights, r_w))).backward();
    std::vector<Tensor> results{output, weights};
    for (const Tensor& t : inputs)
      if (t.defined() && t.requires_grad()) results.push_back(t.grad());
    return results;
  };
  const std::vector<Tensor> per_entry = run(false), whole_batch = run(true);
  REQUIRE(per_entry.size() == whole_batch.size());
  for (size_t i = 0; i < per_entry.size(); ++i) {
    CHECK(per_entry[i].shape() == whole_batch[i].shape());
    CHECK(max_abs_diff(per_entry[i], whole_batch[i]) < tol);
  }
}

Tensor random64(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen);
}

}  // namespace

TEST_CASE("scaled_dot_product_attention forward matches a case done by hand", "[scaled_dot_product_attention]") {
  // One query [1, 0] over keys [1, 0] and [0, 1], scale 1: scores [1, 0], weights [e, 1]/(e + 1).
  Tensor q = tensor({1, 0}, {1, 2}, kFloat64);
  Tensor k = tensor({1, 0, 0, 1}, {2, 2}, kFloat64);
  Tensor v = tensor({1, 2, 3, 4}, {2, 2}, kFloat64);
  auto [output, weights] = scaled_dot_product_attention(q, k, v, {}, 0.0, false, 1.0);
  const double e = std::exp(1.0), w0 = e / (e + 1), w1 = 1 / (e + 1);
  CHECK(weights.shape() == Shape{1, 2});
  CHECK(output.shape() == Shape{1, 2});
  CHECK(weights.at({0, 0}) == Approx(w0).epsilon(1e-15));
  CHECK(weights.at({0, 1}) == Approx(w1).epsilon(1e-15));
  CHECK(output.at({0, 0}) == Approx(w0 * 1 + w1 * 3).epsilon(1e-15));
  CHECK(output.at({0, 1}) == Approx(w0 * 2 + w1 * 4).epsilon(1e-15));

  // The default scale is 1/√E: with E = 2 the scores become [1/√2, 0].
  auto [output2, weights2] = scaled_dot_product_attention(q, k, v);
  const double s = 1 / std::sqrt(2.0);
  CHECK(weights2.at({0, 0}) == Approx(std::exp(s) / (std::exp(s) + 1)).epsilon(1e-15));
}

TEST_CASE("scaled_dot_product_attention forward matches the naive loops, float32 and float64",
          "[scaled_dot_product_attention]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    Generator gen(3);
    Tensor q = randn({2, 3, 4}, dtype, &gen), k = randn({2, 5, 4}, dtype, &gen), v = randn({2, 5, 3}, dtype, &gen);
    auto [output, weights] = scaled_dot_product_attention(q, k, v);
    REQUIRE(output.shape() == Shape{2, 3, 3});
    REQUIRE(weights.shape() == Shape{2, 3, 5});
    CHECK(output.dtype() == dtype);
    const double tol = dtype == kFloat32 ? 1e-5 : 1e-13;
    for (int64_t b = 0; b < 2; ++b)
      check_against_naive(output.select(0, b), weights.select(0, b),
                          naive_attention(q.select(0, b), k.select(0, b), v.select(0, b), 0.5), tol);
  }
}

TEST_CASE("scaled_dot_product_attention masks: bool true = may attend, float added, causal",
          "[scaled_dot_product_attention]") {
  Tensor q = random64({3, 4}, 1), k = random64({5, 4}, 2), v = random64({5, 2}, 3);
  std::vector<std::vector<bool>> allowed = {{true, false, true, true, false},
                                            {false, false, true, false, false},
                                            {true, true, true, true, true}};
  Tensor mask = empty({3, 5}, kBool);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 5; ++j) mask.set({i, j}, allowed[i][j]);

  SECTION("bool") {
    auto [output, weights] = scaled_dot_product_attention(q, k, v, mask);
    check_against_naive(output, weights, naive_attention(q, k, v, 0.5, allowed), 1e-13);
  }
  SECTION("float: 0 and -inf select like the bool mask; finite values shift the scores") {
    Tensor additive = kernels::where(mask, scalar_tensor(0.0, kFloat64), scalar_tensor(-kInf, kFloat64));
    auto [output, weights] = scaled_dot_product_attention(q, k, v, additive);
    check_against_naive(output, weights, naive_attention(q, k, v, 0.5, allowed), 1e-13);
    // A bias of log 2 on key 0 doubles its unnormalised weight.
    Tensor bias = zeros({3, 5}, kFloat64);
    bias.set({2, 0}, std::log(2.0));
    auto [o_plain, w_plain] = scaled_dot_product_attention(q, k, v);
    auto [o_biased, w_biased] = scaled_dot_product_attention(q, k, v, bias);
    CHECK(w_biased.at({2, 0}) / w_biased.at({2, 1}) == Approx(2 * w_plain.at({2, 0}) / w_plain.at({2, 1})));
  }
  SECTION("causal: query i sees keys j <= i, and combines with a mask") {
    std::vector<std::vector<bool>> causal_allowed(3, std::vector<bool>(5));
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 5; ++j) causal_allowed[i][j] = j <= i;
    auto [output, weights] = scaled_dot_product_attention(q, k, v, {}, 0.0, /*causal=*/true);
    check_against_naive(output, weights, naive_attention(q, k, v, 0.5, causal_allowed), 1e-13);

    std::vector<std::vector<bool>> both(3, std::vector<bool>(5));
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 5; ++j) both[i][j] = allowed[i][j] && causal_allowed[i][j];
    auto [output2, weights2] = scaled_dot_product_attention(q, k, v, mask, 0.0, /*causal=*/true);
    check_against_naive(output2, weights2, naive_attention(q, k, v, 0.5, both), 1e-13);
  }
}

TEST_CASE("scaled_dot_product_attention gradcheck of q, k, v", "[scaled_dot_product_attention][gradcheck]") {
  Tensor q = random64({2, 3, 4}, 11).requires_grad_();
  Tensor k = random64({2, 5, 4}, 12).requires_grad_();
  Tensor v = random64({2, 5, 3}, 13).requires_grad_();
  SECTION("no mask") {
    CHECK(gradcheck([](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2]).first;
    }, {q, k, v}));
  }
  SECTION("with an explicit scale") {
    CHECK(gradcheck([](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.0, false, 0.3).first;
    }, {q, k, v}));
  }
  SECTION("with a bool mask broadcast over the batch") {
    Tensor mask = empty({3, 5}, kBool);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 5; ++j) mask.set({i, j}, (i + 2 * j) % 3 != 0);
    CHECK(gradcheck([&](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], mask).first;
    }, {q, k, v}));
  }
  SECTION("with a float mask, which gets a gradient too") {
    Tensor mask = random64({2, 3, 5}, 14).requires_grad_();
    CHECK(gradcheck([](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], in[3]).first;
    }, {q, k, v, mask}));
  }
  SECTION("causal") {
    Tensor qs = random64({2, 4, 4}, 15).requires_grad_();
    CHECK(gradcheck([](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.0, true).first;
    }, {qs, random64({2, 4, 4}, 16).requires_grad_(), random64({2, 4, 3}, 17).requires_grad_()}));
  }
}

TEST_CASE("scaled_dot_product_attention gradcheck of the returned weights: a loss on them backprops",
          "[scaled_dot_product_attention][gradcheck]") {
  Tensor q = random64({2, 3, 4}, 21).requires_grad_();
  Tensor k = random64({2, 5, 4}, 22).requires_grad_();
  Tensor v = random64({2, 5, 3}, 23).requires_grad_();
  Tensor mask = random64({1, 3, 5}, 24).requires_grad_();
  CHECK(gradcheck([](const std::vector<Tensor>& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], in[3]).second;
  }, {q, k, v, mask}));
  // Both outputs in one loss: their gradients add inside the node.
  CHECK(gradcheck([](const std::vector<Tensor>& in) {
    auto [output, weights] = scaled_dot_product_attention(in[0], in[1], in[2]);
    return add(sum(mul(output, output)), sum(mul(weights, weights)));
  }, {q, k, v}));
}

TEST_CASE("scaled_dot_product_attention gradcheck with heads, broadcast and non-contiguous inputs",
          "[scaled_dot_product_attention][gradcheck]") {
  SECTION("[B, H, L, E] with a key-padding mask [B, 1, 1, S]") {
    Tensor q = random64({2, 2, 3, 4}, 31).requires_grad_();
    Tensor k = random64({2, 2, 5, 4}, 32).requires_grad_();
    Tensor v = random64({2, 2, 5, 3}, 33).requires_grad_();
    Tensor padding = ones({2, 1, 1, 5}, kBool);
    padding.set({0, 0, 0, 4}, 0);
    padding.set({1, 0, 0, 1}, 0);
    padding.set({1, 0, 0, 3}, 0);
    CHECK(gradcheck([&](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], padding).first;
    }, {q, k, v}));
  }
  SECTION("key and value shared by every batch entry and head; a 2-D query shared by the batch") {
    Tensor q = random64({2, 2, 3, 4}, 34).requires_grad_();
    Tensor k = random64({1, 5, 4}, 35).requires_grad_();
    Tensor v = random64({5, 3}, 36).requires_grad_();
    auto fn = [](const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2]).first; };
    CHECK(gradcheck(fn, {q, k, v}));
    Tensor q2 = random64({3, 4}, 37).requires_grad_();
    Tensor k2 = random64({2, 5, 4}, 38).requires_grad_();
    CHECK(gradcheck(fn, {q2, k2, v}));
  }
  SECTION("transposed and strided views") {
    Tensor q_base = random64({2, 4, 3}, 41).requires_grad_();    // q = q_baseᵀ: [2, 3, 4]
    Tensor k_base = random64({2, 10, 4}, 42).requires_grad_();   // k = every other row: [2, 5, 4]
    Tensor v_base = random64({3, 5, 2}, 43).requires_grad_();    // v = permuted: [2, 5, 3]
    CHECK(gradcheck([](const std::vector<Tensor>& in) {
      Tensor q = transpose(in[0], 1, 2), k = slice(in[1], 1, 0, 10, 2), v = permute(in[2], {2, 1, 0});
      REQUIRE(!q.is_contiguous());
      return scaled_dot_product_attention(q, k, v).first;
    }, {q_base, k_base, v_base}));
    // The views also enter gradcheck directly (perturbed in place), as gradient-receiving leaves' views.
    Tensor q = transpose(random64({2, 4, 3}, 44), 1, 2).requires_grad_();
    CHECK(gradcheck([](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2]).second;
    }, {q, random64({2, 5, 4}, 45).requires_grad_(), random64({2, 5, 3}, 46).requires_grad_()}));
  }
}

TEST_CASE("scaled_dot_product_attention fused equals composed: outputs and gradients",
          "[scaled_dot_product_attention]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    Generator gen(51);
    TensorOptions o(dtype);
    Tensor q = randn({2, 2, 3, 4}, o, &gen), k = randn({2, 2, 5, 4}, o, &gen), v = randn({2, 2, 5, 3}, o, &gen);
    compare_fused_and_composed(q, k, v);
    compare_fused_and_composed(q, k, v, {}, false, 0.7);
    Tensor bool_mask = kernels::gt(rand({2, 1, 3, 5}, o, &gen), scalar_tensor(0.3, o));
    compare_fused_and_composed(q, k, v, bool_mask);
    compare_fused_and_composed(q, k, v, randn({3, 5}, o, &gen));  // a float mask, with gradient
    compare_fused_and_composed(randn({2, 2, 5, 4}, o, &gen), k, v, bool_mask.slice(2, 0, 1), /*causal=*/true);
    compare_fused_and_composed(q, randn({1, 5, 4}, o, &gen), randn({5, 3}, o, &gen));  // broadcast k, v
    compare_fused_and_composed(transpose(randn({2, 2, 4, 3}, o, &gen), 2, 3), k, v);   // transposed q
  }
}

TEST_CASE("scaled_dot_product_attention: masked positions get exactly zero weight and zero gradient",
          "[scaled_dot_product_attention]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    Generator gen(61);
    TensorOptions o(dtype);
    Tensor q = randn({2, 3, 4}, o, &gen).requires_grad_();
    Tensor k = randn({2, 5, 4}, o, &gen).requires_grad_();
    Tensor v = randn({2, 5, 3}, o, &gen).requires_grad_();
    // Key 1 is padding for every query of entry 0; key 4 for entry 1; query 2 of entry 1 also skips key 0.
    Tensor allowed = ones({2, 3, 5}, kBool);
    for (int64_t i = 0; i < 3; ++i) {
      allowed.set({0, i, 1}, 0);
      allowed.set({1, i, 4}, 0);
    }
    allowed.set({1, 2, 0}, 0);
    auto [output, weights] = scaled_dot_product_attention(q, k, v, allowed);
    for (int64_t i = 0; i < 3; ++i) {
      CHECK(weights.at({0, i, 1}) == 0.0);
      CHECK(weights.at({1, i, 4}) == 0.0);
    }
    CHECK(weights.at({1, 2, 0}) == 0.0);
    add(sum(mul(output, randn(output.shape(), o, &gen))), sum(mul(weights, randn(weights.shape(), o, &gen))))
        .backward();
    // A key nobody may attend to influences nothing: its key and value rows get exactly zero gradient.
    for (int64_t e = 0; e < 4; ++e) {
      CHECK(k.grad().at({0, 1, e}) == 0.0);
      CHECK(k.grad().at({1, 4, e}) == 0.0);
    }
    for (int64_t d = 0; d < 3; ++d) {
      CHECK(v.grad().at({0, 1, d}) == 0.0);
      CHECK(v.grad().at({1, 4, d}) == 0.0);
    }
  }
  SECTION("a float mask gets zero gradient where it is -inf") {
    Tensor q = random64({3, 4}, 62), k = random64({5, 4}, 63), v = random64({5, 2}, 64);
    Tensor mask = random64({3, 5}, 65);
    mask.set({0, 2}, -kInf);
    mask.set({2, 4}, -kInf);
    mask.requires_grad_();
    auto [output, weights] = scaled_dot_product_attention(q, k, v, mask);
    CHECK(weights.at({0, 2}) == 0.0);
    sum(mul(output, random64({3, 2}, 66))).backward();
    CHECK(mask.grad().at({0, 2}) == 0.0);
    CHECK(mask.grad().at({2, 4}) == 0.0);
    CHECK(mask.grad().at({0, 1}) != 0.0);
  }
}

TEST_CASE("scaled_dot_product_attention: a fully masked row gives zero weights, zero output, zero gradient, no NaN",
          "[scaled_dot_product_attention]") {
  // The documented result (PyTorch gives NaN): a query that may attend to nothing attends to nothing.
  for (DType dtype : {kFloat32, kFloat64}) {
    Generator gen(71);
    TensorOptions o(dtype);
    Tensor allowed = ones({3, 4}, kBool);
    for (int64_t j = 0; j < 4; ++j) allowed.set({1, j}, 0);  // query 1 sees no key
    Tensor additive = kernels::where(allowed, scalar_tensor(0.0, o), scalar_tensor(-kInf, o));
    for (const Tensor& mask : {allowed, additive}) {
      Tensor q = randn({3, 2}, o, &gen).requires_grad_();
      Tensor k = randn({4, 2}, o, &gen).requires_grad_();
      Tensor v = randn({4, 3}, o, &gen).requires_grad_();
      auto [output, weights] = scaled_dot_product_attention(q, k, v, mask);
      CHECK(all_finite(output));
      CHECK(all_finite(weights));
      for (int64_t j = 0; j < 4; ++j) CHECK(weights.at({1, j}) == 0.0);
      for (int64_t d = 0; d < 3; ++d) CHECK(output.at({1, d}) == 0.0);
      CHECK(weights.at({0, 0}) + weights.at({0, 1}) + weights.at({0, 2}) + weights.at({0, 3}) == Approx(1.0));
      add(sum(mul(output, randn({3, 3}, o, &gen))), sum(mul(weights, randn({3, 4}, o, &gen)))).backward();
      CHECK(all_finite(q.grad()));
      CHECK(all_finite(k.grad()));
      CHECK(all_finite(v.grad()));
      CHECK(q.grad().at({1, 0}) == 0.0);
      CHECK(q.grad().at({1, 1}) == 0.0);
      compare_fused_and_composed(q, k, v, mask);  // the composed reference documents the same result
    }
  }
  SECTION("causal combined with a mask that blocks key 0: query 0 has nothing left") {
    Tensor allowed = ones({3, 3}, kBool);
    for (int64_t i = 0; i < 3; ++i) allowed.set({i, 0}, 0);
    Tensor q = random64({3, 2}, 72).requires_grad_();
    auto [output, weights] = scaled_dot_product_attention(q, random64({3, 2}, 73), random64({3, 2}, 74), allowed, 0.0,
                                                          true);
    CHECK(output.at({0, 0}) == 0.0);
    CHECK(weights.at({1, 1}) == 1.0);  // query 1 has only key 1 left
    sum(output).backward();
    CHECK(all_finite(q.grad()));
  }
}

TEST_CASE("scaled_dot_product_attention is stable for scores of +-1e4", "[scaled_dot_product_attention]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    // scale 1, E = 1: the scores are q_i·k_j directly, ±1e4 apart.
    Tensor q = tensor({1, -1, 0.5}, {3, 1}, TensorOptions(dtype)).requires_grad_();
    Tensor k = tensor({1e4, -1e4, 0.99e4, 0}, {4, 1}, TensorOptions(dtype)).requires_grad_();
    Tensor v = tensor({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2}, TensorOptions(dtype)).requires_grad_();
    auto [output, weights] = scaled_dot_product_attention(q, k, v, {}, 0.0, false, 1.0);
    REQUIRE(all_finite(output));
    REQUIRE(all_finite(weights));
    // Query 0: scores 1e4, −1e4, 9900, 0: key 0 takes everything (e^−100 ≈ 4e−44 is below float precision).
    CHECK(weights.at({0, 0}) == Approx(1.0).epsilon(1e-12));
    CHECK(weights.at({1, 1}) == Approx(1.0).epsilon(1e-12));
    CHECK(output.at({0, 0}) == Approx(1.0));
    CHECK(output.at({1, 1}) == Approx(4.0));
    check_against_naive(output.to(kFloat64), weights.to(kFloat64),
                        naive_attention(q.detach().to(kFloat64), k.detach().to(kFloat64), v.detach().to(kFloat64), 1.0),
                        1e-6);
    add(sum(output), sum(mul(weights, weights))).backward();
    CHECK(all_finite(q.grad()));
    CHECK(all_finite(k.grad()));
    CHECK(all_finite(v.grad()));
  }
  // Gradients near saturation, where the weights are neither 0 nor 1: scores 1e4 and 1e4 + 0.5.
  Tensor q = tensor({1e2}, {1, 1}, kFloat64).requires_grad_();
  Tensor k = tensor({1e2, 1e2 + 0.005, -1e2}, {3, 1}, kFloat64).requires_grad_();
  Tensor v = tensor({1, -1, 2}, {3, 1}, kFloat64).requires_grad_();
  CHECK(gradcheck([](const std::vector<Tensor>& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.0, false, 1.0).first;
  }, {q, k, v}));
}

TEST_CASE("scaled_dot_product_attention dropout: statistics, returned weights, same mask in backward",
          "[scaled_dot_product_attention][dropout]") {
  // With V = I (S = Dv), the output is the dropped weights themselves: O = A = W ⊙ keep/(1−p).
  const int64_t B = 4, L = 64, S = 64;
  const double p = 0.25;
  Generator gen(81);
  Tensor q = randn({B, L, 8}, kFloat64, &gen).requires_grad_();
  Tensor k = randn({B, S, 8}, kFloat64, &gen).requires_grad_();
  Tensor v = eye(S, kFloat64).requires_grad_();
  Generator dropout_gen(5);
  auto [output, weights] = scaled_dot_product_attention(q, k, v, {}, p, false, {}, &dropout_gen);
  auto [no_dropout, reference_weights] = scaled_dot_product_attention(q, k, v);
  CHECK(max_abs_diff(weights, reference_weights) < 1e-15);  // returned weights are before dropout

  std::vector<double> a = output.to_vector<double>(), w = weights.to_vector<double>();
  int64_t dropped = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == 0.0) ++dropped;
    else CHECK(std::abs(a[i] - w[i] / (1 - p)) < 1e-15);
  }
  // B·L·S = 16384 draws: the fraction dropped is within 4 standard deviations (±0.013) of p.
  const double fraction = static_cast<double>(dropped) / static_cast<double>(a.size());
  CHECK(std::abs(fraction - p) < 4 * std::sqrt(p * (1 - p) / static_cast<double>(a.size())));

  // Backward with the same mask: dV = Aᵀ·dO and dQ = scale·d_scores·K with d_weights = (dO·Vᵀ) ⊙ keep/(1−p).
  Tensor d_output = randn(output.shape(), kFloat64, &gen);
  sum(mul(output, d_output)).backward();
  Tensor attended = output.detach();  // = A, since V = I
  CHECK(max_abs_diff(v.grad(), sum(matmul(transpose(attended, 1, 2), d_output), {0})) < 1e-12);
  Tensor keep = kernels::div(attended, weights.detach());
  Tensor d_weights = mul(matmul(d_output, v.detach()), keep);
  Tensor d_scores = kernels::softmax_backward(weights.detach(), d_weights, -1);
  CHECK(max_abs_diff(q.grad(), mul(matmul(d_scores, k.detach()), scalar_tensor(1 / std::sqrt(8.0), kFloat64))) <
        1e-12);

  SECTION("a fixed generator makes the mask repeatable, so gradcheck can run through dropout") {
    auto fn = [](const std::vector<Tensor>& in) {
      Generator g(17);
      return scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.4, false, {}, &g).first;
    };
    Tensor a1 = fn({q.detach(), k.detach(), v.detach()}), a2 = fn({q.detach(), k.detach(), v.detach()});
    CHECK(max_abs_diff(a1, a2) == 0.0);
    CHECK(gradcheck(fn, {random64({2, 3, 4}, 82).requires_grad_(), random64({2, 5, 4}, 83).requires_grad_(),
                         random64({2, 5, 3}, 84).requires_grad_()}));
  }
  SECTION("another seed draws another mask; p = 0 is no dropout") {
    Generator other(6);
    auto [output2, w2] = scaled_dot_product_attention(q, k, v, {}, p, false, {}, &other);
    CHECK(max_abs_diff(output2, output) > 0.0);
    auto [output0, w0] = scaled_dot_product_attention(q, k, v, {}, 0.0, false, {}, &other);
    CHECK(max_abs_diff(output0, no_dropout) == 0.0);
  }
}

TEST_CASE("scaled_dot_product_attention: the whole-batch strategy (a GPU's) gives the per-entry results",
          "[scaled_dot_product_attention]") {
  // A GPU runs the same step functions once over the whole batch; detail::WholeBatchAttentionOnCpu
  // makes the CPU do so too, so this checks that strategy's batched products, broadcasts and sums.
  for (DType dtype : {kFloat32, kFloat64}) {
    Generator gen(91);
    TensorOptions o(dtype);
    Tensor q = randn({2, 2, 3, 4}, o, &gen), k = randn({2, 2, 5, 4}, o, &gen), v = randn({2, 2, 5, 3}, o, &gen);
    compare_strategies(q, k, v);
    Tensor bool_mask = kernels::gt(rand({2, 1, 3, 5}, o, &gen), scalar_tensor(0.3, o));
    compare_strategies(q, k, v, bool_mask);
    Tensor blocked = ones({2, 1, 3, 5}, kBool);
    blocked.slice(2, 1, 2).fill_(0.0);  // query 1 may attend to nothing: zero weights and gradients
    compare_strategies(q, k, v, blocked);
    compare_strategies(q, k, v, randn({3, 5}, o, &gen));  // a float mask, with gradient
    compare_strategies(randn({2, 2, 5, 4}, o, &gen), k, v, {}, /*causal=*/true);
    compare_strategies(q, randn({1, 5, 4}, o, &gen), randn({5, 3}, o, &gen));         // broadcast k, v
    compare_strategies(randn({3, 4}, o, &gen), randn({5, 4}, o, &gen), v);             // only v has batch dims
    compare_strategies(transpose(randn({2, 2, 4, 3}, o, &gen), 2, 3), k, v);          // transposed q
    compare_strategies(q, k, v, {}, false, /*dropout_p=*/0.3);
  }
  detail::WholeBatchAttentionOnCpu whole_batch;
  Tensor q = random64({2, 3, 4}, 92).requires_grad_(), k = random64({1, 5, 4}, 93).requires_grad_();
  Tensor v = random64({2, 5, 3}, 94).requires_grad_(), float_mask = random64({3, 5}, 95).requires_grad_();
  CHECK(gradcheck([](const std::vector<Tensor>& in) {
    auto [output, weights] = scaled_dot_product_attention(in[0], in[1], in[2], in[3]);
    return add(sum(output), sum(mul(weights, weights)));
  }, {q, k, v, float_mask}));
}

TEST_CASE("scaled_dot_product_attention error messages name the op and the shapes",
          "[scaled_dot_product_attention][errors]") {
  Tensor q = zeros({2, 3, 4}), k = zeros({2, 5, 4}), v = zeros({2, 5, 3});
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, zeros({2, 5, 6}), v),
                      Catch::Contains("scaled_dot_product_attention: query of shape [2, 3, 4] and key of shape "
                                      "[2, 5, 6] differ in their last dim"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, zeros({2, 7, 3})),
                      Catch::Contains("key of shape [2, 5, 4] and value of shape [2, 7, 3] differ in length"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, zeros({3, 5, 4}), zeros({3, 5, 3})),
                      Catch::Contains("the batch dims of query [2, 3, 4], key [3, 5, 4] and value [3, 5, 3] cannot "
                                      "be broadcast"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(zeros({4}), k, v),
                      Catch::Contains("scaled_dot_product_attention: expected query [..., L, E]"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, ones({3, 4}, kBool)),
                      Catch::Contains("mask of shape [3, 4] cannot be broadcast to the attention weights' shape "
                                      "[2, 3, 5]"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, ones({4, 2, 3, 5}, kBool)),
                      Catch::Contains("mask of shape [4, 2, 3, 5] cannot be broadcast"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, ones({3, 5}, kInt64)),
                      Catch::Contains("mask must be bool (true = may attend) or floating"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k.to(kFloat64), v),
                      Catch::Contains("one float dtype, got float32, float64 and float32"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, {}, 1.0),
                      Catch::Contains("dropout_p must be in [0, 1), got 1"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention_composed(q, k, v, {}, 0.1),
                      Catch::Contains("scaled_dot_product_attention_composed: dropout is not supported"));
}
