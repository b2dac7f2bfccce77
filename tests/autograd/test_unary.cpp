// Every differentiable unary op: forward against std:: math, float64 gradcheck on
// contiguous, transposed, sliced and 0-d inputs (kept away from kinks), the
// documented subgradients at the kinks, and the error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

using namespace focus;

namespace {

struct UnaryOp {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> reference;
  double low, high;                   // input range, inside the op's domain
  std::vector<double> kinks = {};     // points where the op is not differentiable, avoided by the inputs
};

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

std::vector<UnaryOp> unary_ops() {
  return {
      {"neg", focus::neg, [](double v) { return -v; }, -3, 3},
      {"exp", focus::exp, [](double v) { return std::exp(v); }, -3, 3},
      {"log", focus::log, [](double v) { return std::log(v); }, 0.2, 4},
      {"sqrt", focus::sqrt, [](double v) { return std::sqrt(v); }, 0.2, 4},
      {"abs", focus::abs, [](double v) { return std::abs(v); }, -3, 3, {0}},
      {"sin", focus::sin, [](double v) { return std::sin(v); }, -4, 4},
      {"cos", focus::cos, [](double v) { return std::cos(v); }, -4, 4},
      {"tanh", focus::tanh, [](double v) { return std::tanh(v); }, -3, 3},
      {"sigmoid", focus::sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }, -6, 6},
      {"relu", focus::relu, [](double v) { return v > 0 ? v : 0; }, -3, 3, {0}},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1); },
       [](double v) { return v > 0 ? v : 0.1 * v; }, -3, 3, {0}},
      {"leaky_relu (default slope)", [](const Tensor& x) { return leaky_relu(x); },
       [](double v) { return v > 0 ? v : 0.01 * v; }, -3, 3, {0}},
      {"gelu", focus::gelu, [](double v) { return v * normal_cdf(v); }, -4, 4},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 1.0); },
       [](double v) { return std::min(std::max(v, -0.5), 1.0); }, -2, 2, {-0.5, 1.0}},
      {"clamp (min only)", [](const Tensor& x) { return clamp(x, 0.3, std::nullopt); },
       [](double v) { return std::max(v, 0.3); }, -2, 2, {0.3}},
      {"clamp (max only)", [](const Tensor& x) { return clamp(x, std::nullopt, 0.3); },
       [](double v) { return std::min(v, 0.3); }, -2, 2, {0.3}},
      {"pow (scalar exponent)", [](const Tensor& x) { return pow(x, 2.5); },
       [](double v) { return std::pow(v, 2.5); }, 0.2, 3},
  };
}

/// Uniform values in [low, high) at least 0.05 from every kink, as a float64 tensor of `shape`.
Tensor values_away_from_kinks(const UnaryOp& op, const Shape& shape, Generator& gen) {
  std::vector<double> values;
  while (static_cast<int64_t>(values.size()) < shape_numel(shape)) {
    double v = op.low + (op.high - op.low) * gen.uniform();
    bool near_kink = false;
    for (double k : op.kinks) near_kink = near_kink || std::abs(v - k) < 0.05;
    if (!near_kink) values.push_back(v);
  }
  return from_vector(values, shape);
}

/// The same kind of input in four layouts, each a leaf that requires grad.
std::vector<std::pair<std::string, Tensor>> inputs_for(const UnaryOp& op, Generator& gen) {
  std::vector<std::pair<std::string, Tensor>> inputs = {
      {"contiguous [3, 4]", values_away_from_kinks(op, {3, 4}, gen)},
      {"transposed [4, 3] -> [3, 4]", values_away_from_kinks(op, {4, 3}, gen).t()},
      {"sliced every other row and column", values_away_from_kinks(op, {6, 7}, gen).slice(0, 0, 6, 2).slice(1, 1, 7, 2)},
      {"0-d", values_away_from_kinks(op, {}, gen)},
  };
  for (auto& [layout, x] : inputs) x.requires_grad_();
  return inputs;
}

}  // namespace

TEST_CASE("unary ops: forward matches std:: math in every layout", "[unary]") {
  for (const UnaryOp& op : unary_ops()) {
    Generator gen(21);
    for (const auto& [layout, x] : inputs_for(op, gen)) {
      INFO(op.name << " on " << layout);
      Tensor y = op.op(x);
      REQUIRE(y.shape() == x.shape());
      REQUIRE(y.dtype() == kFloat64);
      REQUIRE(y.requires_grad());
      std::vector<double> in = x.to_vector<double>(), out = y.to_vector<double>();
      for (size_t i = 0; i < in.size(); ++i) REQUIRE(out[i] == Approx(op.reference(in[i])).epsilon(1e-13).margin(1e-15));
    }
  }
}

TEST_CASE("unary ops: gradcheck on contiguous, non-contiguous and 0-d inputs", "[unary]") {
  for (const UnaryOp& op : unary_ops()) {
    Generator gen(22);
    for (const auto& [layout, x] : inputs_for(op, gen)) {
      INFO(op.name << " on " << layout);
      REQUIRE(gradcheck([&](const std::vector<Tensor>& in) { return op.op(in[0]); }, {x}));
    }
  }
}

TEST_CASE("unary ops compose: gradcheck through a chain", "[unary]") {
  Generator gen(23);
  Tensor x = uniform({4, 5}, 0.2, 2, kFloat64, &gen).t();
  x.requires_grad_();
  auto chain = [](const std::vector<Tensor>& in) {
    const Tensor& v = in[0];
    return gelu(tanh(sin(v) * 2.0)) + sigmoid(log(v)) * sqrt(exp(-v)) - abs(cos(v) - 0.5) + leaky_relu(v - 1.0, 0.2);
  };
  REQUIRE(gradcheck(chain, {x}));
}

TEST_CASE("Tensor methods are the same ops", "[unary]") {
  Tensor x = tensor({0.5, 1.5, 2.5}, {}, kFloat64);
  REQUIRE(x.exp().to_vector<double>() == exp(x).to_vector<double>());
  REQUIRE(x.log().to_vector<double>() == log(x).to_vector<double>());
  REQUIRE(x.sqrt().to_vector<double>() == sqrt(x).to_vector<double>());
  REQUIRE(x.abs().to_vector<double>() == abs(x).to_vector<double>());
  REQUIRE(x.relu().to_vector<double>() == relu(x).to_vector<double>());
  REQUIRE(x.tanh().to_vector<double>() == tanh(x).to_vector<double>());
  REQUIRE(x.sigmoid().to_vector<double>() == sigmoid(x).to_vector<double>());
  REQUIRE(x.pow(3).to_vector<double>() == pow(x, 3.0).to_vector<double>());
}

TEST_CASE("unary ops name their backward nodes", "[unary]") {
  Tensor x = tensor({0.5, 1.5}, {}, kFloat64);
  x.requires_grad_();
  REQUIRE(neg(x).grad_fn()->name() == "NegBackward");
  REQUIRE(exp(x).grad_fn()->name() == "ExpBackward");
  REQUIRE(log(x).grad_fn()->name() == "LogBackward");
  REQUIRE(sqrt(x).grad_fn()->name() == "SqrtBackward");
  REQUIRE(abs(x).grad_fn()->name() == "AbsBackward");
  REQUIRE(sin(x).grad_fn()->name() == "SinBackward");
  REQUIRE(cos(x).grad_fn()->name() == "CosBackward");
  REQUIRE(tanh(x).grad_fn()->name() == "TanhBackward");
  REQUIRE(sigmoid(x).grad_fn()->name() == "SigmoidBackward");
  REQUIRE(relu(x).grad_fn()->name() == "ReluBackward");
  REQUIRE(leaky_relu(x).grad_fn()->name() == "LeakyReluBackward");
  REQUIRE(gelu(x).grad_fn()->name() == "GeluBackward");
  REQUIRE(clamp(x, 0.0, 1.0).grad_fn()->name() == "ClampBackward");
  REQUIRE(pow(x, 2.0).grad_fn()->name() == "PowScalarBackward");
}

TEST_CASE("subgradients at the kinks are the documented ones", "[unary]") {
  auto grad_at = [](const std::function<Tensor(const Tensor&)>& op, std::initializer_list<double> points) {
    Tensor x = tensor(points, {}, kFloat64);
    x.requires_grad_();
    op(x).sum().backward();
    return x.grad().to_vector<double>();
  };
  // relu and abs take 0 at x = 0; leaky_relu takes the negative side's slope there.
  REQUIRE(grad_at(focus::relu, {-1, 0, 1}) == std::vector<double>{0, 0, 1});
  REQUIRE(grad_at(focus::abs, {-1, 0, 1}) == std::vector<double>{-1, 0, 1});
  REQUIRE(grad_at([](const Tensor& x) { return leaky_relu(x, 0.1); }, {-1, 0, 1}) ==
          std::vector<double>{0.1, 0.1, 1});
  // clamp passes the gradient at the bounds themselves, blocks it outside.
  REQUIRE(grad_at([](const Tensor& x) { return clamp(x, -1.0, 1.0); }, {-2, -1, 0, 1, 2}) ==
          std::vector<double>{0, 1, 1, 1, 0});
  // With min > max the result is the constant max, so nothing flows back.
  REQUIRE(grad_at([](const Tensor& x) { return clamp(x, 2.0, 1.0); }, {0, 1.5, 3}) == std::vector<double>{0, 0, 0});
}

TEST_CASE("saturating ops keep finite gradients for large inputs", "[unary]") {
  Tensor x = tensor({-800, -40, 40, 800}, {}, kFloat64);
  x.requires_grad_();
  (sigmoid(x) + tanh(x) + gelu(x)).sum().backward();
  std::vector<double> g = x.grad().to_vector<double>();
  for (double v : g) REQUIRE(std::isfinite(v));
  REQUIRE(g[0] == 0.0);
  REQUIRE(g[3] == 1.0);  // only gelu's slope (1) remains
}

TEST_CASE("sigmoid, tanh and exp backward use the saved output", "[unary]") {
  // Their analytic gradients at known points: σ'(0) = 1/4, tanh'(0) = 1, exp'(1) = e.
  Tensor x = tensor({0, 1}, {}, kFloat64);
  x.requires_grad_();
  sigmoid(x).backward(tensor({1, 0}, {}, kFloat64));
  REQUIRE(x.grad().at({0}) == 0.25);
  x.set_grad(Tensor());
  tanh(x).backward(tensor({1, 0}, {}, kFloat64));
  REQUIRE(x.grad().at({0}) == 1.0);
  x.set_grad(Tensor());
  exp(x).backward(tensor({0, 1}, {}, kFloat64));
  REQUIRE(x.grad().at({1}) == Approx(std::numbers::e).epsilon(1e-15));
}

TEST_CASE("unary ops on integer input compute in float32 without a graph", "[unary]") {
  Tensor labels = from_vector(std::vector<int64_t>{0, 1, 2}, {3});
  Tensor e = exp(labels);
  REQUIRE(e.dtype() == kFloat32);
  REQUIRE_FALSE(e.requires_grad());
  REQUIRE(e.at({1}) == Approx(std::numbers::e).epsilon(1e-6));
  REQUIRE(neg(labels).dtype() == kInt64);
  REQUIRE(relu(neg(labels)).to_vector<int64_t>() == std::vector<int64_t>{0, 0, 0});
}

TEST_CASE("unary ops name themselves in errors", "[unary]") {
  REQUIRE_THROWS_WITH(exp(Tensor()), Catch::Contains("exp: got an undefined tensor"));
  REQUIRE_THROWS_WITH(tanh(Tensor()), Catch::Contains("tanh: got an undefined tensor"));
  REQUIRE_THROWS_WITH(sigmoid(Tensor()), Catch::Contains("sigmoid: got an undefined tensor"));
  REQUIRE_THROWS_WITH(gelu(Tensor()), Catch::Contains("gelu: got an undefined tensor"));
  REQUIRE_THROWS_WITH(relu(Tensor()), Catch::Contains("relu: got an undefined tensor"));
  REQUIRE_THROWS_WITH(clamp(ones({2}), std::nullopt, std::nullopt),
                      Catch::Contains("clamp: at least one of min and max must be given"));
}
