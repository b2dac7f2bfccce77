// add, sub, mul, div, pow, maximum, minimum and the operators: forward values,
// float64 gradcheck on contiguous, non-contiguous, broadcast and 0-d operands,
// and the error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

using namespace focus;

namespace {

using BinaryOp = std::function<Tensor(const Tensor&, const Tensor&)>;

Tensor leaf(Tensor t) {
  t.requires_grad_();
  return t;
}

/// Pairs of float64 operands that require grad, in the layouts every binary op must handle.
/// `low`/`high` bound the values (positive for div's denominator and pow's base).
std::vector<std::pair<std::string, std::pair<Tensor, Tensor>>> operand_pairs(double low, double high,
                                                                              uint64_t seed) {
  Generator gen(seed);
  auto u = [&](const Shape& shape) { return uniform(shape, low, high, kFloat64, &gen); };
  return {
      {"same shape", {leaf(u({3, 4})), leaf(u({3, 4}))}},
      {"transposed and sliced", {leaf(u({4, 3}).t()), leaf(u({3, 8}).slice(1, 1, 8, 2))}},
      {"broadcast [3, 1] x [1, 4]", {leaf(u({3, 1})), leaf(u({1, 4}))}},
      {"broadcast [3, 4] x [4]", {leaf(u({3, 4})), leaf(u({4}))}},
      {"0-d operand", {leaf(u({2, 3})), leaf(scalar_tensor(0.5 * (low + high), kFloat64))}},
  };
}

void require_gradcheck_all_layouts(const std::string& name, const BinaryOp& op, double low, double high) {
  for (auto& [layout, operands] : operand_pairs(low, high, 17)) {
    INFO(name << ", " << layout);
    auto result = gradcheck([&](const std::vector<Tensor>& in) { return op(in[0], in[1]); },
                            {operands.first, operands.second});
    REQUIRE(result);
  }
}

/// y[i][j] = f(a[i][0], b[0][j]) for a [3, 1] and b [1, 4]: the broadcast forward, element by element.
void require_broadcast_forward(const BinaryOp& op, const std::function<double(double, double)>& reference) {
  Tensor a = tensor({0.5, 1.5, 2.5}, {3, 1}, kFloat64);
  Tensor b = tensor({1, 2, 3, 4}, {1, 4}, kFloat64);
  Tensor y = op(a, b);
  REQUIRE(y.shape() == Shape{3, 4});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) REQUIRE(y.at({i, j}) == Approx(reference(a.at({i, 0}), b.at({0, j}))));
}

}  // namespace

TEST_CASE("add: forward, gradients in every layout", "[arithmetic]") {
  require_broadcast_forward(focus::add, [](double x, double y) { return x + y; });
  require_gradcheck_all_layouts("add", focus::add, -2, 2);
}

TEST_CASE("sub: forward, gradients in every layout", "[arithmetic]") {
  require_broadcast_forward(focus::sub, [](double x, double y) { return x - y; });
  require_gradcheck_all_layouts("sub", focus::sub, -2, 2);
}

TEST_CASE("mul: forward, gradients in every layout", "[arithmetic]") {
  require_broadcast_forward(focus::mul, [](double x, double y) { return x * y; });
  require_gradcheck_all_layouts("mul", focus::mul, -2, 2);
}

TEST_CASE("div: forward, gradients in every layout", "[arithmetic]") {
  require_broadcast_forward(focus::div, [](double x, double y) { return x / y; });
  require_gradcheck_all_layouts("div", focus::div, 0.5, 2);  // denominators away from 0
}

TEST_CASE("pow with a tensor exponent: forward, gradients in every layout", "[arithmetic]") {
  require_broadcast_forward([](const Tensor& a, const Tensor& b) { return pow(a, b); },
                            [](double x, double y) { return std::pow(x, y); });
  require_gradcheck_all_layouts("pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, 0.5, 2);
}

TEST_CASE("pow with a tensor exponent at base 0 gives finite gradients", "[arithmetic]") {
  // d/db 0^b is taken as 0 for b >= 0 (PyTorch's convention), not 0 * log 0 = NaN; d/da a^0 is 0.
  Tensor a = leaf(tensor({0, 0, 2}, {}, kFloat64));
  Tensor b = leaf(tensor({2, 0, 0}, {}, kFloat64));
  Tensor y = pow(a, b);
  REQUIRE(y.to_vector<double>() == std::vector<double>{0, 1, 1});
  y.backward(ones({3}, kFloat64));
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{0, 0, 0});  // 2 * 0^1, 0 * 0^-1 -> 0, 0 * 2^-1
  REQUIRE(b.grad().to_vector<double>() == std::vector<double>{0, 0, std::log(2.0)});
}

TEST_CASE("pow with a scalar exponent: forward and gradients", "[arithmetic]") {
  Generator gen(3);
  for (double p : {2.0, 3.0, 0.5, -1.0, -0.5, 1.5, 1.0, 0.0}) {
    INFO("exponent " << p);
    Tensor x = leaf(uniform({3, 4}, 0.5, 2, kFloat64, &gen));
    Tensor y = pow(x, p);
    for (int64_t i = 0; i < 3; ++i) REQUIRE(y.at({i, 1}) == Approx(std::pow(x.at({i, 1}), p)));
    REQUIRE(gradcheck([p](const std::vector<Tensor>& in) { return pow(in[0], p); }, {x}));
    Tensor xt = leaf(uniform({4, 3}, 0.5, 2, kFloat64, &gen).t());
    REQUIRE(gradcheck([p](const std::vector<Tensor>& in) { return in[0].pow(p); }, {xt}));
  }
  // Negative bases with integer exponents are fine too.
  Tensor x = leaf(uniform({5}, -2, -0.5, kFloat64, &gen));
  REQUIRE(gradcheck([](const std::vector<Tensor>& in) { return pow(in[0], 3.0); }, {x}));
  // x^0 is constant: the gradient is 0 even at x = 0, where p * x^(p-1) would be 0 * inf.
  Tensor z = leaf(zeros({2}, kFloat64));
  pow(z, 0.0).sum().backward();
  REQUIRE(z.grad().to_vector<double>() == std::vector<double>{0, 0});
}

namespace {
/// n float64 values, pairwise at least 0.2 apart in shuffled order: no two are near a tie.
std::vector<double> distinct_values(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> order = randperm(n, &gen).to_vector<int64_t>();
  std::vector<double> values;
  for (int64_t k : order) values.push_back(0.3 * static_cast<double>(k) - 0.15 * static_cast<double>(n) + 0.1 * gen.uniform());
  return values;
}

Tensor leaf_from(const std::vector<double>& all, size_t begin, const Shape& shape) {
  int64_t n = shape_numel(shape);
  return leaf(from_vector(std::vector<double>(all.begin() + begin, all.begin() + begin + n), shape));
}
}  // namespace

TEST_CASE("maximum and minimum: forward and gradients away from ties", "[arithmetic]") {
  std::vector<double> v = distinct_values(40, 5);
  std::vector<std::pair<std::string, std::pair<Tensor, Tensor>>> cases = {
      {"same shape", {leaf_from(v, 0, {3, 4}), leaf_from(v, 12, {3, 4})}},
      {"transposed and sliced", {leaf_from(v, 0, {4, 3}).t(), leaf_from(v, 12, {3, 8}).slice(1, 0, 8, 2)}},
      {"broadcast [3, 1] x [1, 4]", {leaf_from(v, 0, {3, 1}), leaf_from(v, 3, {1, 4})}},
      {"0-d operand", {leaf_from(v, 0, {2, 3}), leaf_from(v, 6, {})}},
  };
  for (auto& [layout, operands] : cases) {
    INFO(layout);
    const auto& [a, b] = operands;
    Tensor hi = maximum(a, b), lo = minimum(a, b);
    Tensor a_full = a.expand(hi.shape()), b_full = b.expand(hi.shape());
    for (int64_t i = 0; i < hi.size(0); ++i)
      for (int64_t j = 0; j < hi.size(1); ++j) {
        REQUIRE(hi.at({i, j}) == std::max(a_full.at({i, j}), b_full.at({i, j})));
        REQUIRE(lo.at({i, j}) == std::min(a_full.at({i, j}), b_full.at({i, j})));
      }
    REQUIRE(gradcheck([](const std::vector<Tensor>& in) { return maximum(in[0], in[1]); }, {a, b}));
    REQUIRE(gradcheck([](const std::vector<Tensor>& in) { return minimum(in[0], in[1]); }, {a, b}));
  }
}

TEST_CASE("maximum and minimum split the gradient half/half on ties", "[arithmetic]") {
  Tensor a = leaf(tensor({1, 2, 3}, {}, kFloat64));
  Tensor b = leaf(tensor({1, 0, 5}, {}, kFloat64));
  maximum(a, b).backward(tensor({2, 2, 2}, {}, kFloat64));
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{1, 2, 0});
  REQUIRE(b.grad().to_vector<double>() == std::vector<double>{1, 0, 2});
  Tensor c = leaf(tensor({1, 2, 3}, {}, kFloat64));
  Tensor d = leaf(tensor({1, 0, 5}, {}, kFloat64));
  minimum(c, d).backward(tensor({2, 2, 2}, {}, kFloat64));
  REQUIRE(c.grad().to_vector<double>() == std::vector<double>{1, 0, 2});
  REQUIRE(d.grad().to_vector<double>() == std::vector<double>{1, 2, 0});
  // So maximum(x, x) = x passes the whole gradient through.
  Tensor x = leaf(tensor({-1, 4}, {}, kFloat64));
  maximum(x, x).sum().backward();
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{1, 1});
}

TEST_CASE("operators with tensor and scalar operands", "[arithmetic]") {
  Tensor x = tensor({1, 2, 4}, {}, kFloat64);
  Tensor w = tensor({0.5, -1, 2}, {}, kFloat64);
  REQUIRE((x + w).to_vector<double>() == std::vector<double>{1.5, 1, 6});
  REQUIRE((x - w).to_vector<double>() == std::vector<double>{0.5, 3, 2});
  REQUIRE((x * w).to_vector<double>() == std::vector<double>{0.5, -2, 8});
  REQUIRE((x / w).to_vector<double>() == std::vector<double>{2, -2, 2});
  REQUIRE((-x).to_vector<double>() == std::vector<double>{-1, -2, -4});
  REQUIRE((x + 1.0).to_vector<double>() == std::vector<double>{2, 3, 5});
  REQUIRE((x - 1.0).to_vector<double>() == std::vector<double>{0, 1, 3});
  REQUIRE((x * 3.0).to_vector<double>() == std::vector<double>{3, 6, 12});
  REQUIRE((x / 2.0).to_vector<double>() == std::vector<double>{0.5, 1, 2});
  REQUIRE((1.0 + x).to_vector<double>() == std::vector<double>{2, 3, 5});
  REQUIRE((1.0 - x).to_vector<double>() == std::vector<double>{0, -1, -3});
  REQUIRE((3.0 * x).to_vector<double>() == std::vector<double>{3, 6, 12});
  REQUIRE((4.0 / x).to_vector<double>() == std::vector<double>{4, 2, 1});
  // A scalar keeps the tensor's dtype: float32 stays float32.
  REQUIRE((tensor({1, 2}) * 0.5).dtype() == kFloat32);

  Generator gen(9);
  Tensor a = leaf(uniform({3, 4}, 0.5, 2, kFloat64, &gen));
  Tensor b = leaf(uniform({4}, 0.5, 2, kFloat64, &gen));
  auto expression = [](const std::vector<Tensor>& in) {
    const Tensor &p = in[0], &q = in[1];
    return (2.0 - p) * q / (p + 1.0) - 3.0 / q + (-p) * 0.5 + p / 4.0 - 1.0;
  };
  REQUIRE(gradcheck(expression, {a, b}));
  Tensor at = leaf(uniform({4, 3}, 0.5, 2, kFloat64, &gen).t());
  REQUIRE(gradcheck(expression, {at, b}));
}

TEST_CASE("an operand used twice gets both gradients", "[arithmetic]") {
  Generator gen(12);
  Tensor x = leaf(uniform({2, 3}, 0.5, 2, kFloat64, &gen));
  for (const BinaryOp& op : std::vector<BinaryOp>{focus::add, focus::sub, focus::mul, focus::div, maximum, minimum,
                                                  [](const Tensor& a, const Tensor& b) { return pow(a, b); }})
    REQUIRE(gradcheck([&](const std::vector<Tensor>& in) { return op(in[0], in[0]); }, {x}));
  // x * x: d/dx = 2x, one half through each operand.
  Tensor y = leaf(tensor({3}, {}, kFloat64));
  mul(y, y).backward();
  REQUIRE(y.grad().item() == 6.0);
}

TEST_CASE("gradients reach only the inputs that need them", "[arithmetic]") {
  Tensor a = leaf(tensor({1, 2}, {}, kFloat64));
  Tensor b = tensor({3, 4}, {}, kFloat64);  // a constant
  Tensor y = mul(a, b);
  REQUIRE(y.requires_grad());
  REQUIRE(y.grad_fn()->name() == "MulBackward");
  y.sum().backward();
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{3, 4});
  REQUIRE_FALSE(b.grad().defined());
  // No input requires grad: nothing is recorded.
  REQUIRE_FALSE(div(b, b).requires_grad());
  REQUIRE(div(b, b).grad_fn() == nullptr);
}

TEST_CASE("a float32 operand gets a float32 gradient from a float64 result", "[arithmetic]") {
  Tensor a = leaf(tensor({1, 2}));  // float32
  Tensor b = leaf(tensor({3, 5}, {}, kFloat64));
  Tensor y = sub(mul(a, b), div(b, a));
  REQUIRE(y.dtype() == kFloat64);
  y.sum().backward();
  REQUIRE(a.grad().dtype() == kFloat32);
  REQUIRE(b.grad().dtype() == kFloat64);
  // dy/da = b + b / a², dy/db = a - 1 / a
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{6, 5 + 5.0 / 4});
  REQUIRE(b.grad().to_vector<double>() == std::vector<double>{0, 1.5});
}

TEST_CASE("a gradient summed over broadcast dims has the operand's shape", "[arithmetic]") {
  Tensor a = leaf(ones({3, 1}, kFloat64));
  Tensor b = leaf(tensor({1, 2, 3, 4}, {4}, kFloat64));
  mul(a, b).sum().backward();
  REQUIRE(a.grad().shape() == Shape{3, 1});
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{10, 10, 10});
  REQUIRE(b.grad().shape() == Shape{4});
  REQUIRE(b.grad().to_vector<double>() == std::vector<double>{3, 3, 3, 3});
}

TEST_CASE("arithmetic ops name the op and shapes that do not broadcast", "[arithmetic]") {
  Tensor a = ones({2, 3}), b = ones({4});
  REQUIRE_THROWS_WITH(add(a, b), Catch::Contains("add: shapes [2, 3] and [4] cannot be broadcast"));
  REQUIRE_THROWS_WITH(sub(a, b), Catch::Contains("sub: shapes [2, 3] and [4] cannot be broadcast"));
  REQUIRE_THROWS_WITH(mul(a, b), Catch::Contains("mul: shapes [2, 3] and [4] cannot be broadcast"));
  REQUIRE_THROWS_WITH(div(a, b), Catch::Contains("div: shapes [2, 3] and [4] cannot be broadcast"));
  REQUIRE_THROWS_WITH(pow(a, b), Catch::Contains("pow: shapes [2, 3] and [4] cannot be broadcast"));
  REQUIRE_THROWS_WITH(maximum(a, b), Catch::Contains("maximum: shapes [2, 3] and [4] cannot be broadcast"));
  REQUIRE_THROWS_WITH(minimum(a, b), Catch::Contains("minimum: shapes [2, 3] and [4] cannot be broadcast"));
  REQUIRE_THROWS_WITH(a * b, Catch::Contains("mul: shapes [2, 3] and [4]"));
}
