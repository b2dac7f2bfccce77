// Differentiable reductions: sum, mean, var, max/min, amax, logsumexp, argmax.
// Forward values by hand, float64 gradcheck on contiguous, transposed, sliced
// and broadcast inputs, and the error messages for bad dims.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "focus.h"

using namespace focus;

namespace {

using Inputs = const std::vector<Tensor>&;

Tensor input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen).requires_grad_();
}

/// A leaf of logical shape `shape` whose dims lie in reverse order in memory.
Tensor transposed_input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> reverse(shape.size());
  std::iota(reverse.begin(), reverse.end(), 0);
  std::reverse(reverse.begin(), reverse.end());
  Tensor base = randn(Shape(shape.rbegin(), shape.rend()), kFloat64, &gen);
  return views::permute(base, reverse).requires_grad_();
}

/// A leaf of logical shape `shape` taking every other element of a wider tensor's last dim.
Tensor sliced_input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  Shape wide = shape;
  wide.back() = 2 * shape.back() + 1;
  return views::slice(randn(wide, kFloat64, &gen), -1, 1, wide.back(), 2).requires_grad_();
}

/// The three layouts every gradient is checked on.
std::vector<std::pair<const char*, Tensor>> layouts(const Shape& shape, uint64_t seed) {
  return {{"contiguous", input(shape, seed)},
          {"transposed", transposed_input(shape, seed + 1)},
          {"sliced", sliced_input(shape, seed + 2)}};
}

const std::vector<std::vector<int64_t>> kDimSets = {{}, {0}, {1}, {-1}, {0, 2}, {1, 2}, {0, 1, 2}};

}  // namespace

TEST_CASE("sum: values and gradients", "[autograd][reduce]") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(sum(x).item<double>() == 21);
  REQUIRE(sum(x, {1}).to_vector<float>() == std::vector<float>{6, 15});
  REQUIRE(sum(x, {0}, true).shape() == Shape{1, 3});
  REQUIRE(x.sum({-1}, true).shape() == Shape{2, 1});

  Tensor leaf = ones({2, 3}).requires_grad_();
  sum(leaf, {1}).backward(tensor({10, 20}));
  REQUIRE(leaf.grad().to_vector<float>() == std::vector<float>{10, 10, 10, 20, 20, 20});

  for (auto& [name, in] : layouts({2, 3, 4}, 1)) {
    for (const auto& dims : kDimSets) {
      for (bool keepdim : {false, true}) {
        INFO(name << " dims " << dims.size() << " keepdim " << keepdim);
        REQUIRE(gradcheck([&](Inputs v) { return sum(v[0], dims, keepdim); }, {in}));
      }
    }
  }
  // A broadcast input: the sum of an expanded view counts each element once per copy.
  Tensor b = input({3, 1}, 2);
  REQUIRE(gradcheck([](Inputs v) { return sum(expand(v[0], {4, 3, 5}), {0, 2}); }, {b}));
  REQUIRE(gradcheck([](Inputs v) { return sum(mul(v[0], v[1]), {1}); }, {input({4, 3}, 3), input({3}, 4)}));
}

TEST_CASE("mean: values and gradients", "[autograd][reduce]") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(mean(x).item<double>() == 3.5);
  REQUIRE(mean(x, {0}).to_vector<float>() == std::vector<float>{2.5, 3.5, 4.5});
  REQUIRE(x.mean({1}, true).to_vector<float>() == std::vector<float>{2, 5});

  Tensor leaf = ones({4, 2}).requires_grad_();
  mean(leaf).backward();
  REQUIRE(leaf.grad().to_vector<float>() == std::vector<float>(8, 0.125f));

  for (auto& [name, in] : layouts({2, 3, 4}, 5)) {
    for (const auto& dims : kDimSets) {
      for (bool keepdim : {false, true}) {
        INFO(name << " dims " << dims.size() << " keepdim " << keepdim);
        REQUIRE(gradcheck([&](Inputs v) { return mean(v[0], dims, keepdim); }, {in}));
      }
    }
  }
  Tensor b = input({1, 4}, 6);
  REQUIRE(gradcheck([](Inputs v) { return mean(expand(v[0], {3, 4}), {0}); }, {b}));
}

TEST_CASE("var: values and gradients, with either correction", "[autograd][reduce]") {
  Tensor x = tensor({1, 2, 3, 4, 2, 2, 2, 2}, {2, 4});
  REQUIRE(var(x, {1}).to_vector<float>() == std::vector<float>{5.0f / 3.0f, 0});
  REQUIRE(var(x, {1}, 0).to_vector<float>() == std::vector<float>{1.25f, 0});
  REQUIRE(var(x, {1}, 1, true).shape() == Shape{2, 1});

  for (auto& [name, in] : layouts({2, 3, 4}, 7)) {
    for (const auto& dims : kDimSets) {
      for (int64_t correction : {0, 1}) {
        INFO(name << " dims " << dims.size() << " correction " << correction);
        REQUIRE(gradcheck([&](Inputs v) { return var(v[0], dims, correction, /*keepdim=*/correction == 1); }, {in}));
      }
    }
  }
  // BatchNorm's statistics: per channel over (N, H, W).
  Tensor images = input({3, 2, 4, 4}, 8);
  REQUIRE(gradcheck([](Inputs v) { return var(v[0], {0, 2, 3}, 0); }, {images}));
  Tensor b = input({4, 1}, 9);
  REQUIRE(gradcheck([](Inputs v) { return var(mul(expand(v[0], {4, 5}), v[1]), {0}); }, {b, input({5}, 10)}));
}

TEST_CASE("max and min: values, indices, and the gradient goes to the index", "[autograd][reduce]") {
  Tensor x = tensor({1, 5, 2, 7, 0, 3}, {2, 3});
  auto [values, indices] = max(x, 1);
  REQUIRE(values.to_vector<float>() == std::vector<float>{5, 7});
  REQUIRE(indices.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  auto [low, low_at] = min(x, 0, true);
  REQUIRE(low.shape() == Shape{1, 3});
  REQUIRE(low.to_vector<float>() == std::vector<float>{1, 0, 2});
  REQUIRE(low_at.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 0});

  // Ties: the first maximum takes the whole gradient (amax would share it).
  Tensor tied = tensor({1, 3, 3}).requires_grad_();
  auto [tied_max, tied_at] = max(tied, 0);
  REQUIRE(!tied_at.requires_grad());
  tied_max.backward();
  REQUIRE(tied.grad().to_vector<float>() == std::vector<float>{0, 1, 0});

  for (auto& [name, in] : layouts({3, 4, 5}, 11)) {
    for (int64_t dim : {0, 1, 2, -1}) {
      for (bool keepdim : {false, true}) {
        INFO(name << " dim " << dim << " keepdim " << keepdim);
        REQUIRE(gradcheck([&](Inputs v) { return max(v[0], dim, keepdim).first; }, {in}));
        REQUIRE(gradcheck([&](Inputs v) { return min(v[0], dim, keepdim).first; }, {in}));
      }
    }
  }
  Tensor b = input({4, 1}, 12);
  REQUIRE(gradcheck([](Inputs v) { return max(mul(expand(v[0], {4, 6}), v[1]), 1).first; }, {b, input({6}, 13)}));
  REQUIRE(max(x, 1).first.grad_fn() == nullptr);  // no node without inputs that require grad
}

TEST_CASE("amax: values and gradients, ties share the gradient equally", "[autograd][reduce]") {
  Tensor x = tensor({1, 5, 2, 7, 0, 3}, {2, 3});
  REQUIRE(amax(x).item<double>() == 7);
  REQUIRE(amax(x, {0}).to_vector<float>() == std::vector<float>{7, 5, 3});
  REQUIRE(amax(x, {1}, true).shape() == Shape{2, 1});

  Tensor tied = tensor({1, 3, 3, 0, 3, 2}, {2, 3}).requires_grad_();
  amax(tied).backward();  // three elements share the max
  std::vector<float> third(6, 0.0f);
  third[1] = third[2] = third[4] = 1.0f / 3.0f;
  REQUIRE(tied.grad().to_vector<float>() == third);
  tied.set_grad(Tensor());
  amax(tied, {1}).backward(tensor({6, 10}));
  REQUIRE(tied.grad().to_vector<float>() == std::vector<float>{0, 3, 3, 0, 10, 0});

  for (auto& [name, in] : layouts({2, 3, 4}, 14)) {
    for (const auto& dims : kDimSets) {
      for (bool keepdim : {false, true}) {
        INFO(name << " dims " << dims.size() << " keepdim " << keepdim);
        REQUIRE(gradcheck([&](Inputs v) { return amax(v[0], dims, keepdim); }, {in}));
      }
    }
  }
}

TEST_CASE("logsumexp: stable values and softmax gradients", "[autograd][reduce]") {
  Tensor x = tensor({0, 1, 2, 3}, {2, 2}, kFloat64);
  std::vector<double> rows = logsumexp(x, {1}).to_vector<double>();
  REQUIRE(rows[0] == Approx(std::log(1 + std::exp(1.0))));
  REQUIRE(rows[1] == Approx(std::log(std::exp(2.0) + std::exp(3.0))));
  REQUIRE(logsumexp(x, {0, 1}, true).shape() == Shape{1, 1});
  // No overflow where exp(1000) would be inf.
  REQUIRE(logsumexp(tensor({1000, 1000}), {0}).item<double>() == Approx(1000 + std::log(2.0)));
  REQUIRE(logsumexp(tensor({-1000, -1000}), {0}).item<double>() == Approx(-1000 + std::log(2.0)));

  // d logsumexp / dx = softmax(x).
  Tensor leaf = tensor({1, 2, 3}, {3}, kFloat64).requires_grad_();
  logsumexp(leaf, {0}).backward();
  std::vector<double> grad = leaf.grad().to_vector<double>();
  double total = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  for (int i = 0; i < 3; ++i) REQUIRE(grad[i] == Approx(std::exp(i + 1.0) / total));

  for (auto& [name, in] : layouts({2, 3, 4}, 15)) {
    for (const auto& dims : kDimSets) {
      for (bool keepdim : {false, true}) {
        INFO(name << " dims " << dims.size() << " keepdim " << keepdim);
        REQUIRE(gradcheck([&](Inputs v) { return logsumexp(v[0], dims, keepdim); }, {in}));
      }
    }
  }
  Tensor large = mul(input({3, 5}, 16).detach(), scalar_tensor(300.0, kFloat64)).requires_grad_();
  REQUIRE(gradcheck([](Inputs v) { return logsumexp(v[0], {1}); }, {large}));
}

TEST_CASE("argmax: indices of the first maximum, never a gradient", "[autograd][reduce]") {
  Tensor x = tensor({1, 9, 9, 4, 0, 3}, {2, 3}).requires_grad_();
  Tensor idx = argmax(x, 1);
  REQUIRE(idx.dtype() == kInt64);
  REQUIRE(!idx.requires_grad());
  REQUIRE(idx.grad_fn() == nullptr);
  REQUIRE(idx.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  REQUIRE(x.argmax(0, true).shape() == Shape{1, 3});
  REQUIRE(x.argmax(0, true).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0});
  Tensor t = transposed_input({3, 2}, 17).detach();  // non-contiguous
  std::vector<int64_t> expected;
  for (int64_t r = 0; r < 3; ++r) expected.push_back(t.at({r, 0}) >= t.at({r, 1}) ? 0 : 1);
  REQUIRE(argmax(t, 1).to_vector<int64_t>() == expected);
}

TEST_CASE("reductions name the op and the shape for bad dims", "[autograd][reduce]") {
  Tensor x = input({2, 3}, 18);
  REQUIRE_THROWS_WITH(sum(x, {0, 0}),
                      Catch::Contains("sum: dim 0 appears more than once in dims [0, 0] (tensor of shape [2, 3])"));
  REQUIRE_THROWS_WITH(sum(x, {1, -1}), Catch::Contains("sum: dim 1 appears more than once"));
  REQUIRE_THROWS_WITH(mean(x, {2}), Catch::Contains("mean: dim 2 is out of range for a tensor of shape [2, 3]"));
  REQUIRE_THROWS_WITH(var(x, {-3}), Catch::Contains("var: dim -3 is out of range for a tensor of shape [2, 3]"));
  REQUIRE_THROWS_WITH(max(x, 2), Catch::Contains("max: dim 2 is out of range for a tensor of shape [2, 3]"));
  REQUIRE_THROWS_WITH(min(x, -3), Catch::Contains("min: dim -3 is out of range"));
  REQUIRE_THROWS_WITH(amax(x, {1, 1}), Catch::Contains("amax: dim 1 appears more than once"));
  REQUIRE_THROWS_WITH(logsumexp(x, {5}), Catch::Contains("logsumexp: dim 5 is out of range"));
  REQUIRE_THROWS_WITH(argmax(x, 2), Catch::Contains("argmax: dim 2 is out of range for a tensor of shape [2, 3]"));
  REQUIRE_THROWS_WITH(amax(zeros({0, 3}), {0}), Catch::Contains("amax: cannot reduce over a zero-size dim"));
}
