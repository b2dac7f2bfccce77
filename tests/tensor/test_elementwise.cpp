// Raw elementwise kernels (tensor/cpu/unary.cpp, binary.cpp, where.cpp, random.cpp)
// against std:: math and naive loops, on contiguous, transposed, sliced and
// broadcast (stride 0) inputs, 0-d operands, mixed dtypes and sizes large
// enough to run in parallel.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "tensor/kernels.h"
#include "tensor/parallel.h"
#include "tensor/tensor.h"

using namespace focus;

namespace {

/// |a - b| <= atol + rtol * |b| for every element (NaNs must match), with a readable failure.
void require_close(const std::vector<double>& actual, const std::vector<double>& expected, double rtol, double atol,
                   const std::string& what) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    double a = actual[i], e = expected[i];
    bool ok = (std::isnan(a) && std::isnan(e)) || a == e || std::abs(a - e) <= atol + rtol * std::abs(e);
    if (!ok) {
      INFO(what << ": element " << i << " is " << a << ", expected " << e);
      REQUIRE(ok);
    }
  }
}

template <typename T>
constexpr double rtol_for() {
  return std::is_same_v<T, float> ? 2e-6 : 1e-14;
}

/// The same values in four layouts: contiguous, transposed, strided slice, broadcast (stride 0).
std::vector<std::pair<std::string, Tensor>> layouts(double low, double high, DType dtype, Generator& gen) {
  return {
      {"contiguous", uniform({5, 7}, low, high, dtype, &gen)},
      {"transposed", uniform({7, 5}, low, high, dtype, &gen).t()},
      {"sliced", uniform({10, 15}, low, high, dtype, &gen).slice(0, 1, 10, 2).slice(1, 0, 14, 2)},
      {"broadcast", uniform({5, 1}, low, high, dtype, &gen).expand({5, 7})},
  };
}

template <typename T>
struct UnaryCase {
  std::string name;
  std::function<Tensor(const Tensor&)> kernel;
  std::function<T(T)> reference;
  double low, high;  // input range: inside the op's domain
};

template <typename T>
std::vector<UnaryCase<T>> unary_cases() {
  // References in T use the same std:: function as the kernel; the composite ones
  // (sigmoid, gelu, ...) are computed in double, the way a textbook writes them.
  auto in_double = [](double (*f)(double)) { return [f](T v) { return static_cast<T>(f(static_cast<double>(v))); }; };
  return {
      {"neg", kernels::neg, [](T v) { return -v; }, -3, 3},
      {"exp", kernels::exp, [](T v) { return std::exp(v); }, -5, 5},
      {"log", kernels::log, [](T v) { return std::log(v); }, 0.01, 5},
      {"log1p", kernels::log1p, [](T v) { return std::log1p(v); }, -0.9, 5},
      {"sqrt", kernels::sqrt, [](T v) { return std::sqrt(v); }, 0, 5},
      {"rsqrt", kernels::rsqrt, [](T v) { return T(1) / std::sqrt(v); }, 0.01, 5},
      {"abs", kernels::abs, [](T v) { return std::abs(v); }, -3, 3},
      {"sign", kernels::sign, [](T v) { return T(v > 0) - T(v < 0); }, -3, 3},
      {"sin", kernels::sin, [](T v) { return std::sin(v); }, -6, 6},
      {"cos", kernels::cos, [](T v) { return std::cos(v); }, -6, 6},
      {"tanh", kernels::tanh, [](T v) { return std::tanh(v); }, -4, 4},
      {"erf", kernels::erf, [](T v) { return std::erf(v); }, -3, 3},
      {"sigmoid", kernels::sigmoid, in_double([](double v) { return 1 / (1 + std::exp(-v)); }), -10, 10},
      {"relu", kernels::relu, [](T v) { return v > 0 ? v : T(0); }, -3, 3},
      {"gelu", kernels::gelu,
       in_double([](double v) { return v * 0.5 * std::erfc(-v / std::numbers::sqrt2); }), -6, 4},
      {"reciprocal", kernels::reciprocal, [](T v) { return T(1) / v; }, 0.1, 5},
      {"square", kernels::square, [](T v) { return v * v; }, -3, 3},
      {"pow_scalar 2.5", [](const Tensor& x) { return kernels::pow_scalar(x, 2.5); },
       [](T v) { return std::pow(v, T(2.5)); }, 0, 3},
      {"pow_scalar 3", [](const Tensor& x) { return kernels::pow_scalar(x, 3); }, [](T v) { return v * v * v; }, -3, 3},
      {"pow_scalar -1", [](const Tensor& x) { return kernels::pow_scalar(x, -1); }, [](T v) { return T(1) / v; }, 0.1,
       3},
      {"pow_scalar 0.5", [](const Tensor& x) { return kernels::pow_scalar(x, 0.5); },
       [](T v) { return std::sqrt(v); }, 0, 3},
      {"pow_scalar 0", [](const Tensor& x) { return kernels::pow_scalar(x, 0); }, [](T) { return T(1); }, -3, 3},
      {"clamp [-0.5, 0.7]", [](const Tensor& x) { return kernels::clamp(x, -0.5, 0.7); },
       [](T v) { return std::min(std::max(v, T(-0.5)), T(0.7)); }, -2, 2},
      {"clamp min only", [](const Tensor& x) { return kernels::clamp(x, 0.25, std::nullopt); },
       [](T v) { return std::max(v, T(0.25)); }, -2, 2},
      {"clamp max only", [](const Tensor& x) { return kernels::clamp(x, std::nullopt, -0.25); },
       [](T v) { return std::min(v, T(-0.25)); }, -2, 2},
      {"affine", [](const Tensor& x) { return kernels::affine(x, 1.5, -0.25); },
       [](T v) { return v * T(1.5) + T(-0.25); }, -3, 3},
      {"leaky_relu", [](const Tensor& x) { return kernels::leaky_relu(x, 0.1); },
       [](T v) { return v > 0 ? v : T(0.1) * v; }, -3, 3},
  };
}

}  // namespace

TEMPLATE_TEST_CASE("unary kernels match std:: math in every layout", "[elementwise]", float, double) {
  using T = TestType;
  const DType dtype = dtype_of<T>::value;
  for (const UnaryCase<T>& op : unary_cases<T>()) {
    Generator gen(7);
    for (const auto& [layout, x] : layouts(op.low, op.high, dtype, gen)) {
      Tensor y = op.kernel(x);
      INFO(op.name << " on a " << layout << " " << dtype_name(dtype) << " input");
      REQUIRE(y.dtype() == dtype);
      REQUIRE(y.shape() == x.shape());
      std::vector<double> expected;
      for (T v : x.template to_vector<T>()) expected.push_back(op.reference(v));
      require_close(y.to_vector<double>(), expected, rtol_for<T>(), rtol_for<T>() * 1e-2, op.name);
    }
  }
}

namespace {
/// |got - exact| in units of float32's spacing at `exact` (subnormal spacing below the normal range);
/// 0 when both are the same infinity.
double ulp_error(float got, double exact) {
  if (std::isinf(got) && got == static_cast<float>(exact)) return 0;  // overflowed on both sides
  double magnitude = std::max(std::abs(exact), 1.1754943508222875e-38);
  double spacing = std::ldexp(1.0, std::ilogb(magnitude) - 23);
  return std::abs(got - exact) / spacing;
}
}  // namespace

TEST_CASE("float32 exp, tanh, sigmoid and gelu are accurate over the whole range", "[elementwise]") {
  // The float32 kernels are vec_math.h's vectorised ones, not libm's: sweep them against double-precision
  // std:: math, through the subnormal results of exp (x < -87.3) and its overflow to inf (x > 88.72).
  const int64_t n = 1 << 20;
  Tensor x = linspace(-110, 95, n, kFloat32);
  Tensor t = linspace(-12, 12, n, kFloat32);  // tanh is ±1 in float32 beyond |x| ≈ 9
  std::vector<float> xs = x.to_vector<float>(), ts = t.to_vector<float>();
  std::vector<float> e = kernels::exp(x).to_vector<float>(), s = kernels::sigmoid(x).to_vector<float>();
  std::vector<float> th = kernels::tanh(t).to_vector<float>();
  double worst_exp = 0, worst_sigmoid = 0, worst_tanh = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v = xs[i];
    worst_exp = std::max(worst_exp, ulp_error(e[i], std::exp(v)));
    worst_sigmoid = std::max(worst_sigmoid, ulp_error(s[i], 1 / (1 + std::exp(-v))));
    worst_tanh = std::max(worst_tanh, ulp_error(th[i], std::tanh(static_cast<double>(ts[i]))));
  }
  CHECK(worst_exp <= 2);
  CHECK(worst_sigmoid <= 3);
  CHECK(worst_tanh <= 3);
  // GELU into the subnormal range of its tail, and its derivative,
  // whose error is measured against |Φ(x)| + |x φ(x)|: the sum cancels to 0 at x ≈ -0.75.
  Tensor gx = linspace(-16, 12, n, kFloat32);
  std::vector<float> gs = gx.to_vector<float>(), gelu = kernels::gelu(gx).to_vector<float>();
  std::vector<float> slope = kernels::gelu_backward(ones({n}), gx).to_vector<float>();
  double worst_gelu = 0, worst_slope = 0, worst_tail = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v = gs[i];
    double cdf = 0.5 * std::erfc(-v / std::numbers::sqrt2), pdf = std::exp(-v * v / 2) / std::sqrt(2 * std::numbers::pi);
    if (cdf >= 1e-36)
      worst_gelu = std::max(worst_gelu, ulp_error(gelu[i], v * cdf));
    else  // Φ(x) is near or in float32's subnormal range (x < -12.5): a few ulp of precision go with it
      worst_tail = std::max(worst_tail, ulp_error(gelu[i], v * cdf));
    double scale = std::abs(cdf) + std::abs(v * pdf);
    if (scale > 1e-30)
      worst_slope = std::max(worst_slope, std::abs(slope[i] - (cdf + v * pdf)) / scale / std::ldexp(1.0, -24));
  }
  CHECK(worst_gelu <= 8);
  CHECK(worst_tail <= 16);
  CHECK(worst_slope <= 16);
  // The ends: overflow, underflow, saturation, NaN.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Tensor ends = from_vector(std::vector<float>{-inf, -1000, 89, 1000, inf, nan}, {6});
  std::vector<float> exp_ends = kernels::exp(ends).to_vector<float>();
  std::vector<float> tanh_ends = kernels::tanh(ends).to_vector<float>();
  std::vector<float> sigmoid_ends = kernels::sigmoid(ends).to_vector<float>();
  REQUIRE(std::vector<float>(exp_ends.begin(), exp_ends.end() - 1) == std::vector<float>{0, 0, inf, inf, inf});
  REQUIRE(std::vector<float>(tanh_ends.begin(), tanh_ends.end() - 1) == std::vector<float>{-1, -1, 1, 1, 1});
  REQUIRE(std::vector<float>(sigmoid_ends.begin(), sigmoid_ends.end() - 1) == std::vector<float>{0, 0, 1, 1, 1});
  REQUIRE(std::isnan(exp_ends.back()));
  REQUIRE(std::isnan(tanh_ends.back()));
  REQUIRE(std::isnan(sigmoid_ends.back()));
  std::vector<float> gelu_ends = kernels::gelu(ends).to_vector<float>();
  REQUIRE(std::vector<float>(gelu_ends.begin() + 1, gelu_ends.end() - 1) == std::vector<float>{0, 89, 1000, inf});
  REQUIRE(std::isnan(gelu_ends.back()));
  // tanh keeps full relative precision near 0, where 1 - 2 / (e^2x + 1) would cancel.
  REQUIRE(kernels::tanh(tensor({1e-5})).item() == Approx(1e-5).epsilon(1e-7));
}

TEST_CASE("float32 GELU: contiguous tensors (16 lanes at a time on AVX-512) and strided ones", "[elementwise]") {
  // A contiguous float32 tensor takes GELU's vector path where the build has one, a strided view of
  // the same values the general map: both within the bounds of the sweep above, on random values.
  // 100,003 of them: the vector path's last vector is partly masked.
  manual_seed(5);
  const int64_t n = 100003;
  Tensor wide = randn({n, 2}) * 4.0, dy_wide = randn({n, 2});
  Tensor strided = views::select(wide, 1, 0), dy_strided = views::select(dy_wide, 1, 0);
  REQUIRE_FALSE(strided.is_contiguous());
  Tensor x = contiguous(strided), dy = contiguous(dy_strided);
  const std::vector<float> xs = x.to_vector<float>(), gs = dy.to_vector<float>();
  for (const bool vector_path : {true, false}) {
    const Tensor& in = vector_path ? x : strided;
    const std::vector<float> y = kernels::gelu(in).to_vector<float>();
    const std::vector<float> d = kernels::gelu_backward(vector_path ? dy : dy_strided, in).to_vector<float>();
    double worst_y = 0, worst_d = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = xs[i], g = gs[i];
      const double cdf = 0.5 * std::erfc(-v / std::numbers::sqrt2);
      const double pdf = std::exp(-v * v / 2) / std::sqrt(2 * std::numbers::pi);
      // the sweep's bounds: 8 ulp, 16 where Φ(x) nears float32's subnormal range (x < -12.5)
      worst_y = std::max(worst_y, ulp_error(y[i], v * cdf) / (cdf >= 1e-36 ? 1.0 : 2.0));
      // dy·(Φ + xφ) rounded twice: measured against |dy|·(|Φ| + |xφ|), as the sweep does
      const double scale = std::abs(g) * (std::abs(cdf) + std::abs(v * pdf));
      if (scale > 1e-30)
        worst_d = std::max(worst_d, std::abs(d[i] - g * (cdf + v * pdf)) / scale / std::ldexp(1.0, -24));
    }
    INFO((vector_path ? "contiguous" : "strided") << ": worst " << worst_y << " ulp, derivative " << worst_d);
    CHECK(worst_y <= 8);
    CHECK(worst_d <= 16);
  }
}

TEST_CASE("unary kernels on 0-d and empty tensors", "[elementwise]") {
  Tensor s = scalar_tensor(0.5, kFloat64);
  Tensor y = kernels::exp(s);
  REQUIRE(y.dim() == 0);
  REQUIRE(y.item() == Approx(std::exp(0.5)).epsilon(1e-15));
  Tensor empty_input = zeros({0, 3});
  REQUIRE(kernels::tanh(empty_input).shape() == Shape{0, 3});
}

TEST_CASE("sigmoid is stable for large |x|", "[elementwise]") {
  // Written as e^x / (1 + e^x) it would give inf / inf = NaN for x = 1000; as 1 / (1 + e^-x) it would
  // round to exactly 0 far below the smallest representable result.
  for (DType dtype : {kFloat32, kFloat64}) {
    Tensor x = tensor({-1000, -80, -30, 0, 30, 80, 1000}, {}, dtype);
    std::vector<double> y = kernels::sigmoid(x).to_vector<double>();
    REQUIRE(y[0] == 0.0);
    REQUIRE(y[1] == Approx(std::exp(-80.0)).epsilon(1e-5));  // 1.8e-35 is still a normal float32
    REQUIRE(y[2] == Approx(std::exp(-30.0) / (1 + std::exp(-30.0))).epsilon(1e-6));
    REQUIRE(y[3] == 0.5);
    REQUIRE(y[4] == Approx(1.0).epsilon(1e-12));
    REQUIRE(y[5] == 1.0);
    REQUIRE(y[6] == 1.0);
    for (double v : y) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("gelu is the exact erf form, accurate in the negative tail", "[elementwise]") {
  // x Φ(x): Φ(1) = 0.841344746068543, Φ(-1) = 0.158655253931457, Φ(-5) = 2.866515718791939e-7.
  Tensor x = tensor({-5, -1, 0, 1}, {}, kFloat64);
  std::vector<double> y = kernels::gelu(x).to_vector<double>();
  REQUIRE(y[0] == Approx(-5 * 2.866515718791939e-7).epsilon(1e-12));
  REQUIRE(y[1] == Approx(-0.158655253931457).epsilon(1e-12));
  REQUIRE(y[2] == 0.0);
  REQUIRE(y[3] == Approx(0.841344746068543).epsilon(1e-12));
  // float32 keeps full relative precision in the tail too (1 + erf(x/√2) would cancel to ~1e-2 here).
  REQUIRE(kernels::gelu(tensor({-5})).item() == Approx(-5 * 2.866515718791939e-7).epsilon(1e-5));
}

TEST_CASE("unary kernels keep NaN visible", "[elementwise]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = tensor({nan}, {}, kFloat64);
  for (auto kernel : {kernels::relu, kernels::sign, kernels::abs, kernels::exp, kernels::sigmoid, kernels::tanh})
    REQUIRE(std::isnan(kernel(x).item()));
  REQUIRE(std::isnan(kernels::clamp(x, 0.0, 1.0).item()));
}

TEST_CASE("integer-valued unary ops stay int64, bool counts as int64", "[elementwise]") {
  Tensor x = from_vector(std::vector<int64_t>{-7, -1, 0, 2, 9}, {5});
  auto values = [](const Tensor& t) { return t.to_vector<int64_t>(); };
  REQUIRE(kernels::neg(x).dtype() == kInt64);
  REQUIRE(values(kernels::neg(x)) == std::vector<int64_t>{7, 1, 0, -2, -9});
  REQUIRE(values(kernels::abs(x)) == std::vector<int64_t>{7, 1, 0, 2, 9});
  REQUIRE(values(kernels::sign(x)) == std::vector<int64_t>{-1, -1, 0, 1, 1});
  REQUIRE(values(kernels::square(x)) == std::vector<int64_t>{49, 1, 0, 4, 81});
  REQUIRE(values(kernels::relu(x)) == std::vector<int64_t>{0, 0, 0, 2, 9});
  REQUIRE(values(kernels::clamp(x, -2.0, 5.0)) == std::vector<int64_t>{-2, -1, 0, 2, 5});
  REQUIRE(kernels::pow_scalar(x, 3).dtype() == kInt64);
  REQUIRE(values(kernels::pow_scalar(x, 3)) == std::vector<int64_t>{-343, -1, 0, 8, 729});
  REQUIRE(values(kernels::pow_scalar(x, 0)) == std::vector<int64_t>{1, 1, 1, 1, 1});
  // Overflow wraps modulo 2^64 as in PyTorch (computed without signed-overflow UB).
  const int64_t lowest = std::numeric_limits<int64_t>::lowest();
  Tensor extremes = from_vector(std::vector<int64_t>{lowest, int64_t{1} << 32}, {2});
  REQUIRE(values(kernels::neg(extremes)) == std::vector<int64_t>{lowest, -(int64_t{1} << 32)});
  REQUIRE(values(kernels::square(extremes)) == std::vector<int64_t>{0, 0});
  REQUIRE(values(kernels::pow_scalar(extremes, 2)) == std::vector<int64_t>{0, 0});
  Tensor flags = kernels::ne(x, scalar_tensor(0, kInt64));  // a bool tensor
  REQUIRE(kernels::neg(flags).dtype() == kInt64);
  REQUIRE(values(kernels::neg(flags)) == std::vector<int64_t>{-1, -1, 0, -1, -1});
}

TEST_CASE("float math on int64 and bool input gives float32, like PyTorch", "[elementwise]") {
  Tensor x = from_vector(std::vector<int64_t>{0, 1, 4}, {3});
  Tensor e = kernels::exp(x);
  REQUIRE(e.dtype() == kFloat32);
  require_close(e.to_vector<double>(), {1.0, std::exp(1.0), std::exp(4.0)}, 1e-6, 0, "exp(int64)");
  require_close(kernels::sqrt(x).to_vector<double>(), {0, 1, 2}, 0, 0, "sqrt(int64)");
  require_close(kernels::sigmoid(x).to_vector<double>(), {0.5, 1 / (1 + std::exp(-1.0)), 1 / (1 + std::exp(-4.0))},
                1e-6, 0, "sigmoid(int64)");
  // Non-integral exponents and bounds need floats too.
  Tensor p = kernels::pow_scalar(x, 0.5);
  REQUIRE(p.dtype() == kFloat32);
  require_close(p.to_vector<double>(), {0, 1, 2}, 0, 0, "pow(int64, 0.5)");
  Tensor c = kernels::clamp(x, 0.5, 2.5);
  REQUIRE(c.dtype() == kFloat32);
  require_close(c.to_vector<double>(), {0.5, 1, 2.5}, 0, 0, "clamp(int64, 0.5, 2.5)");
  Tensor flags = kernels::gt(x, scalar_tensor(0, kInt64));
  Tensor f = kernels::affine(flags, 2.0, 0.5);
  REQUIRE(f.dtype() == kFloat32);
  require_close(f.to_vector<double>(), {0.5, 2.5, 2.5}, 0, 0, "affine(bool)");
}

TEST_CASE("logical_not gives bool for every dtype", "[elementwise]") {
  Tensor f = tensor({0, -0.0, 2.5, std::numeric_limits<double>::quiet_NaN()}, {}, kFloat64);
  Tensor nf = kernels::logical_not(f);
  REQUIRE(nf.dtype() == kBool);
  REQUIRE(nf.to_vector<bool>() == std::vector<bool>{true, true, false, false});  // NaN is "true", as in C and PyTorch
  Tensor i = from_vector(std::vector<int64_t>{3, 0}, {2});
  REQUIRE(kernels::logical_not(i).to_vector<bool>() == std::vector<bool>{false, true});
  REQUIRE(kernels::logical_not(kernels::logical_not(i)).to_vector<bool>() == std::vector<bool>{true, false});
}

TEST_CASE("clamp with min above max gives max everywhere, as in PyTorch", "[elementwise]") {
  Tensor x = tensor({-1, 0.5, 3}, {}, kFloat64);
  REQUIRE(kernels::clamp(x, 2.0, 1.0).to_vector<double>() == std::vector<double>{1, 1, 1});
}

TEST_CASE("clamp without bounds is an error", "[elementwise]") {
  REQUIRE_THROWS_WITH(kernels::clamp(ones({2}), std::nullopt, std::nullopt),
                      Catch::Contains("clamp: at least one of min and max"));
}

// ---- binary kernels (tensor/cpu/binary.cpp) ----------------------------------------------

TEST_CASE("binary kernels broadcast [3, 1] with [1, 4]", "[elementwise]") {
  Generator gen(3);
  Tensor a = uniform({3, 1}, 0.5, 2, kFloat64, &gen);
  Tensor b = uniform({1, 4}, 0.5, 2, kFloat64, &gen);
  struct Case {
    std::string name;
    std::function<Tensor(const Tensor&, const Tensor&)> kernel;
    std::function<double(double, double)> reference;
  };
  std::vector<Case> cases = {
      {"add", kernels::add, [](double x, double y) { return x + y; }},
      {"sub", kernels::sub, [](double x, double y) { return x - y; }},
      {"mul", kernels::mul, [](double x, double y) { return x * y; }},
      {"div", kernels::div, [](double x, double y) { return x / y; }},
      {"pow", kernels::pow, [](double x, double y) { return std::pow(x, y); }},
      {"maximum", kernels::maximum, [](double x, double y) { return std::max(x, y); }},
      {"minimum", kernels::minimum, [](double x, double y) { return std::min(x, y); }},
  };
  for (const Case& op : cases) {
    Tensor y = op.kernel(a, b);
    REQUIRE(y.shape() == Shape{3, 4});
    std::vector<double> expected;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j) expected.push_back(op.reference(a.at({i, 0}), b.at({0, j})));
    require_close(y.to_vector<double>(), expected, 1e-15, 0, op.name);
  }
}

TEST_CASE("binary kernels on non-contiguous operands", "[elementwise]") {
  Generator gen(4);
  Tensor a = randn({6, 5}, kFloat32, &gen).t();                            // [5, 6], transposed
  Tensor b = randn({5, 12}, kFloat32, &gen).slice(1, 0, 12, 2);            // [5, 6], every other column
  Tensor y = kernels::mul(a, b);
  std::vector<double> expected;
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 6; ++j)
      expected.push_back(static_cast<float>(a.at({i, j})) * static_cast<float>(b.at({i, j})));
  require_close(y.to_vector<double>(), expected, 0, 0, "mul of a transposed and a sliced operand");
}

TEST_CASE("binary kernels with a 0-d operand", "[elementwise]") {
  Tensor x = tensor({1, 2, 3}, {}, kFloat64);
  Tensor two = scalar_tensor(2.0, kFloat64);
  REQUIRE(kernels::sub(two, x).to_vector<double>() == std::vector<double>{1, 0, -1});
  REQUIRE(kernels::div(x, two).to_vector<double>() == std::vector<double>{0.5, 1, 1.5});
  Tensor both = kernels::add(two, two);
  REQUIRE(both.dim() == 0);
  REQUIRE(both.item() == 4.0);
}

TEST_CASE("binary kernels promote dtypes", "[elementwise]") {
  Tensor i = from_vector(std::vector<int64_t>{1, 2, 3}, {3});
  Tensor f = tensor({0.5, 0.5, 0.5});  // float32
  Tensor sum = kernels::add(i, f);
  REQUIRE(sum.dtype() == kFloat32);
  REQUIRE(sum.to_vector<double>() == std::vector<double>{1.5, 2.5, 3.5});
  REQUIRE(kernels::mul(f, tensor({2}, {}, kFloat64)).dtype() == kFloat64);
  Tensor quotient = kernels::div(i, from_vector(std::vector<int64_t>{2}, {1}));  // true division
  REQUIRE(quotient.dtype() == kFloat32);
  REQUIRE(quotient.to_vector<double>() == std::vector<double>{0.5, 1, 1.5});
  Tensor flags = kernels::gt(i, scalar_tensor(1, kInt64));
  Tensor count = kernels::add(flags, flags);  // bool arithmetic counts in int64
  REQUIRE(count.dtype() == kInt64);
  REQUIRE(count.to_vector<int64_t>() == std::vector<int64_t>{0, 2, 2});
}

TEST_CASE("comparisons give bool tensors with broadcasting", "[elementwise]") {
  Tensor a = tensor({1, 2, 3}, {3, 1});
  Tensor b = tensor({2, 2}, {1, 2}, kFloat64);  // compared in float64
  using Flags = std::vector<bool>;
  auto check = [](const Tensor& t, const Flags& expected) {
    REQUIRE(t.dtype() == kBool);
    REQUIRE(t.shape() == Shape{3, 2});
    REQUIRE(t.to_vector<bool>() == expected);
  };
  check(kernels::eq(a, b), Flags{false, false, true, true, false, false});
  check(kernels::ne(a, b), Flags{true, true, false, false, true, true});
  check(kernels::lt(a, b), Flags{true, true, false, false, false, false});
  check(kernels::le(a, b), Flags{true, true, true, true, false, false});
  check(kernels::gt(a, b), Flags{false, false, false, false, true, true});
  check(kernels::ge(a, b), Flags{false, false, true, true, true, true});
  Tensor lt = kernels::lt(a, b), gt = kernels::gt(a, b);
  check(kernels::logical_or(lt, gt), Flags{true, true, false, false, true, true});
  check(kernels::logical_and(lt, kernels::logical_not(gt)), Flags{true, true, false, false, false, false});
}

TEST_CASE("binary kernels name the op and shapes that do not broadcast", "[elementwise]") {
  REQUIRE_THROWS_WITH(kernels::add(ones({2, 3}), ones({4})), Catch::Contains("add: shapes [2, 3] and [4] cannot be broadcast"));
  REQUIRE_THROWS_WITH(kernels::lt(ones({2}), ones({3})), Catch::Contains("lt: shapes [2] and [3]"));
}

// ---- where and masked_fill (tensor/cpu/where.cpp) ------------------------------------------

TEST_CASE("where broadcasts condition and both branches", "[elementwise]") {
  Tensor cond = kernels::gt(tensor({1, -1, 2}, {3, 1}), scalar_tensor(0.0));  // [3, 1]
  Tensor a = tensor({10, 20, 30, 40}, {1, 4}, kFloat64);
  Tensor b = scalar_tensor(-1, kFloat32);  // promoted to float64
  Tensor y = kernels::where(cond, a, b);
  REQUIRE(y.dtype() == kFloat64);
  REQUIRE(y.shape() == Shape{3, 4});
  REQUIRE(y.to_vector<double>() == std::vector<double>{10, 20, 30, 40, -1, -1, -1, -1, 10, 20, 30, 40});
  // A non-bool condition means "nonzero"; a transposed branch is read through its strides.
  Tensor nonzero = from_vector(std::vector<int64_t>{0, 5}, {2, 1});
  Tensor m = tensor({1, 2, 3, 4}, {2, 2}, kFloat64).t();  // [[1, 3], [2, 4]]
  REQUIRE(kernels::where(nonzero, m, kernels::neg(m)).to_vector<double>() == std::vector<double>{-1, -3, 2, 4});
}

TEST_CASE("where names all three shapes when they do not broadcast", "[elementwise]") {
  Tensor cond = kernels::gt(ones({2, 3}), zeros({1}));
  REQUIRE_THROWS_WITH(kernels::where(cond, ones({3}), ones({4})),
                      Catch::Contains("where: condition [2, 3], input [3] and other [4] cannot be broadcast"));
}

TEST_CASE("masked_fill writes the value where the broadcast mask is true", "[elementwise]") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64);
  Tensor mask = kernels::gt(tensor({0, 1, 0}, {1, 3}), scalar_tensor(0.0));
  Tensor y = kernels::masked_fill(x, mask, -INFINITY);
  REQUIRE(y.shape() == Shape{2, 3});
  std::vector<double> v = y.to_vector<double>();
  REQUIRE(v == std::vector<double>{1, -INFINITY, 3, 4, -INFINITY, 6});
  Tensor counts = from_vector(std::vector<int64_t>{1, 2, 3}, {3});
  REQUIRE(kernels::masked_fill(counts, mask.squeeze(0), 7).to_vector<int64_t>() == std::vector<int64_t>{1, 7, 3});
  // On a transposed input the mask follows the logical positions.
  Tensor xt = x.t();  // [[1, 4], [2, 5], [3, 6]]
  Tensor row_mask = kernels::gt(tensor({0, 1, 0}, {3, 1}), scalar_tensor(0.0));
  REQUIRE(kernels::masked_fill(xt, row_mask, 0).to_vector<double>() == std::vector<double>{1, 4, 0, 0, 3, 6});
}

TEST_CASE("masked_fill rejects bad masks and values", "[elementwise]") {
  Tensor x = zeros({2, 3});
  REQUIRE_THROWS_WITH(kernels::masked_fill(x, ones({2, 3}), 1.0),
                      Catch::Contains("masked_fill: mask must be a bool tensor, got float32"));
  Tensor big_mask = kernels::gt(ones({4, 2, 3}), zeros({1}));
  REQUIRE_THROWS_WITH(kernels::masked_fill(x, big_mask, 1.0),
                      Catch::Contains("masked_fill: mask of shape [4, 2, 3] cannot be broadcast to input of shape [2, 3]"));
  Tensor wrong_mask = kernels::gt(ones({2}), zeros({1}));
  REQUIRE_THROWS_WITH(kernels::masked_fill(x, wrong_mask, 1.0), Catch::Contains("mask of shape [2]"));
  Tensor labels = zeros({3}, kInt64);
  REQUIRE_THROWS_WITH(kernels::masked_fill(labels, kernels::eq(labels, labels), -INFINITY),
                      Catch::Contains("masked_fill: value -inf cannot be converted to int64"));
}

// ---- fused backward kernels ---------------------------------------------------------------

TEST_CASE("fused backward kernels match their formulas", "[elementwise]") {
  Generator gen(11);
  Tensor dy = randn({4, 5}, kFloat64, &gen);
  Tensor x = uniform({4, 5}, -2, 2, kFloat64, &gen);
  std::vector<double> g = dy.to_vector<double>(), v = x.to_vector<double>();
  auto expect = [&](const Tensor& actual, const std::function<double(double, double)>& formula, const char* name) {
    std::vector<double> expected;
    for (size_t i = 0; i < g.size(); ++i) expected.push_back(formula(g[i], v[i]));
    require_close(actual.to_vector<double>(), expected, 1e-14, 1e-15, name);
  };
  expect(kernels::tanh_backward(dy, x), [](double d, double y) { return d * (1 - y * y); }, "tanh_backward");
  expect(kernels::sigmoid_backward(dy, x), [](double d, double y) { return d * y * (1 - y); }, "sigmoid_backward");
  expect(kernels::leaky_relu_backward(dy, x, 0.2), [](double d, double u) { return u > 0 ? d : 0.2 * d; },
         "leaky_relu_backward");
  expect(kernels::gelu_backward(dy, x),
         [](double d, double u) {
           return d * (0.5 * (1 + std::erf(u / std::sqrt(2.0))) + u * std::exp(-u * u / 2) / std::sqrt(2 * std::numbers::pi));
         },
         "gelu_backward");
  expect(kernels::clamp_backward(dy, x, -1.0, 0.5), [](double d, double u) { return u >= -1 && u <= 0.5 ? d : 0; },
         "clamp_backward");
  expect(kernels::pow_scalar_backward(dy, kernels::abs(x), 1.5),
         [](double d, double u) { return d * 1.5 * std::sqrt(std::abs(u)); }, "pow_scalar_backward");
  Tensor half = scalar_tensor(0.5, kFloat64);
  expect(kernels::maximum_backward(dy, x, half),
         [](double d, double u) { return u > 0.5 ? d : u == 0.5 ? d / 2 : 0; }, "maximum_backward");
  REQUIRE(kernels::maximum_backward(ones({2}, kFloat64), tensor({1, 2}, {}, kFloat64), tensor({1, 1}, {}, kFloat64))
              .to_vector<double>() == std::vector<double>{0.5, 1.0});
  REQUIRE_THROWS_WITH(kernels::tanh_backward(dy, ones({3}, kFloat64)),
                      Catch::Contains("tanh_backward: operand of shape [3] does not broadcast to the gradient's shape [4, 5]"));
}

// ---- large sizes run in parallel and match a serial loop -------------------------------------

TEST_CASE("large elementwise loops split across threads give the serial result", "[elementwise][parallel]") {
  const int64_t n = int64_t{1} << 20;
  Generator gen(5);
  Tensor x = uniform({n}, -4, 4, kFloat32, &gen);
  Tensor b = uniform({n}, -4, 4, kFloat32, &gen);
  const float* xs = x.data<float>();
  const float* bs = b.data<float>();

  auto serial = [&](const std::function<double(int64_t)>& f) {
    std::vector<double> out(n);
    for (int64_t i = 0; i < n; ++i) out[i] = f(i);
    return out;
  };
  auto sigmoid_ref = [](double v) { return 1 / (1 + std::exp(-v)); };
  Tensor xt = x.view({1024, 1024}).t();  // many strided rows, split by row across threads
  auto run_all = [&] {
    return std::vector<Tensor>{kernels::exp(x), kernels::sigmoid(x), kernels::tanh_backward(b, x), kernels::add(x, b),
                               kernels::where(kernels::gt(x, b), x, b), kernels::relu(xt)};
  };

  const int threads = get_num_threads();
  std::vector<Tensor> parallel = run_all();
  set_num_threads(1);
  std::vector<Tensor> one_thread = run_all();
  set_num_threads(threads);
  // Every element is computed by the same code whichever thread runs it: bitwise equal.
  for (size_t k = 0; k < parallel.size(); ++k) {
    INFO("kernel " << k);
    REQUIRE(parallel[k].to_vector<float>() == one_thread[k].to_vector<float>());
  }
  // And equal to a plain loop: exactly where both run the same arithmetic, to float32 rounding (a few ulp)
  // for exp and sigmoid, whose float32 kernels are vec_math.h's rather than libm's.
  require_close(parallel[0].to_vector<double>(), serial([&](int64_t i) { return std::exp(double(xs[i])); }), 4e-7, 0,
                "exp");
  require_close(parallel[1].to_vector<double>(), serial([&](int64_t i) { return sigmoid_ref(double(xs[i])); }), 4e-7, 0,
                "sigmoid");
  // The kernel may fuse 1 - x² into one FMA (-march=x86-64-v3): compare with the exact value, to float rounding.
  require_close(parallel[2].to_vector<double>(),
                serial([&](int64_t i) { return double(bs[i]) * (1.0 - double(xs[i]) * double(xs[i])); }), 0, 1e-5,
                "tanh_backward");
  require_close(parallel[3].to_vector<double>(), serial([&](int64_t i) { return xs[i] + bs[i]; }), 0, 0, "add");
  require_close(parallel[4].to_vector<double>(), serial([&](int64_t i) { return xs[i] > bs[i] ? xs[i] : bs[i]; }), 0, 0,
                "where");
  require_close(parallel[5].to_vector<double>(), serial([&](int64_t k) {
                  float v = xs[(k % 1024) * 1024 + k / 1024];
                  return v < 0 ? 0.0f : v;
                }),
                0, 0, "relu of a transposed view");
}

// ---- bernoulli (tensor/cpu/random.cpp) ---------------------------------------------------------

TEST_CASE("bernoulli masks have the right rate and depend only on the seed", "[elementwise][random]") {
  const Shape shape{1 << 18};
  Generator gen(42);
  Tensor mask = kernels::bernoulli(shape, 0.3, gen);
  REQUIRE(mask.dtype() == kBool);
  REQUIRE(mask.shape() == shape);
  double rate = kernels::sum(mask, {}, false).item() / static_cast<double>(shape[0]);
  // Binomial standard deviation: sqrt(0.3 * 0.7 / 2^18) ≈ 9e-4; 5 sigma.
  REQUIRE(std::abs(rate - 0.3) < 4.5e-3);

  // The same seed gives the same mask whatever the thread count; the next call a different one.
  const int threads = get_num_threads();
  set_num_threads(1);
  Generator again(42);
  Tensor serial = kernels::bernoulli(shape, 0.3, again);
  set_num_threads(threads);
  REQUIRE(serial.to_vector<bool>() == mask.to_vector<bool>());
  REQUIRE(kernels::bernoulli(shape, 0.3, again).to_vector<bool>() != mask.to_vector<bool>());

  // Neighbouring elements are independent: P(both set) ≈ p².
  std::vector<bool> bits = mask.to_vector<bool>();
  int64_t pairs = 0;
  for (size_t i = 0; i + 1 < bits.size(); i += 2) pairs += bits[i] && bits[i + 1];
  REQUIRE(std::abs(pairs / (bits.size() / 2.0) - 0.09) < 4e-3);
}

TEST_CASE("bernoulli at p = 0 and 1 is exact, other p are checked", "[elementwise][random]") {
  Generator gen(1);
  REQUIRE(kernels::sum(kernels::bernoulli({1000}, 0.0, gen), {}, false).item() == 0);
  REQUIRE(kernels::sum(kernels::bernoulli({1000}, 1.0, gen), {}, false).item() == 1000);
  REQUIRE(kernels::bernoulli({0}, 0.5, gen).numel() == 0);
  REQUIRE_THROWS_WITH(kernels::bernoulli({3}, 1.5, gen), Catch::Contains("bernoulli: probability must be in [0, 1], got 1.5"));
  REQUIRE_THROWS_WITH(kernels::bernoulli({3}, std::nan(""), gen), Catch::Contains("bernoulli: probability"));
}
