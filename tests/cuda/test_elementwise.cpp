// The elementwise CUDA kernels (tensor/cuda/binary.cu, unary.cu, where.cu) against the
// CPU on the same inputs: every binary op, comparison and logical op with broadcasting
// and strided (transposed, sliced, expanded) operands; every unary op and fused
// backward; where and masked_fill; dtype promotion; NaN and integer edge cases exactly;
// and the gradients of the differentiable ops through autograd on both devices.
// Without a GPU every test reports "skipped" (exit code 4).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "focus.h"
#include "tests/cuda/cuda_check.h"
#include "tests/support.h"

using namespace focus;
using focus::testing::check_parity;
using focus::testing::gpu;
using focus::testing::kElementwiseTolerance;
using focus::testing::kReductionTolerance;
using focus::testing::require_gpu_or_skip;

namespace {

/// Float64 results are held to this (a few ulp of CUDA's and glibc's libm, normwise).
constexpr double kFloat64Tolerance = 1e-12;

double tolerance_for(DType dtype) { return dtype == kFloat64 ? kFloat64Tolerance : kElementwiseTolerance; }

std::string dtype_str(DType dtype) { return std::string(dtype_name(dtype)); }
/// " float32" etc., to append to an op's name in messages.
std::string in_dtype(DType dtype) { return std::string(" ") += dtype_name(dtype); }

using View = std::function<Tensor(const Tensor&)>;
Tensor same(const Tensor& t) { return t; }

/// One input on both devices: the same values, and the same view taken on each device (so
/// the GPU kernel really reads a transposed, sliced or expanded layout, not a packed copy).
struct Operand {
  Tensor cpu, gpu;
};
Operand operand(const Tensor& base, const View& view = same) { return {view(base), view(base.to(gpu()))}; }

Tensor uniform_values(const Shape& shape, double low, double high, DType dtype, uint64_t seed) {
  Generator gen(seed);
  return uniform(shape, low, high, dtype, &gen);
}

/// Small integers as `dtype`: comparisons, maximum and clamp then meet ties and bounds exactly.
Tensor integer_values(const Shape& shape, int64_t low, int64_t high, DType dtype, uint64_t seed) {
  Generator gen(seed);
  return randint(low, high, shape, kInt64, &gen).to(dtype);
}

/// Same dtype and shape, NaN at the same positions, and the other values within `tolerance`
/// (check_parity's normwise measure, which on its own would skip over NaN).
void check_same(const Tensor& cpu_result, const Tensor& gpu_result, double tolerance, const std::string& what) {
  INFO(what);
  REQUIRE(gpu_result.device() == gpu());
  REQUIRE(gpu_result.dtype() == cpu_result.dtype());
  REQUIRE(gpu_result.shape() == cpu_result.shape());
  const std::vector<double> x = cpu_result.to_vector<double>(), y = gpu_result.to(kCPU).to_vector<double>();
  int64_t nan_mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i) nan_mismatches += std::isnan(x[i]) != std::isnan(y[i]);
  CHECK(nan_mismatches == 0);
  check_parity(cpu_result, gpu_result, tolerance, what);
}

/// The same values, zeros with the same sign and NaN where the CPU has NaN: integer, bool,
/// selected and edge-case results.
void check_exact(const Tensor& cpu_result, const Tensor& gpu_result, const std::string& what) {
  INFO(what);
  REQUIRE(gpu_result.device() == gpu());
  REQUIRE(gpu_result.dtype() == cpu_result.dtype());
  REQUIRE(gpu_result.shape() == cpu_result.shape());
  const Tensor back = gpu_result.to(kCPU);
  if (cpu_result.dtype() == kInt64) {
    CHECK(back.to_vector<int64_t>() == cpu_result.to_vector<int64_t>());
    return;
  }
  const std::vector<double> x = cpu_result.to_vector<double>(), y = back.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("element " << i << ": cpu " << x[i] << ", gpu " << y[i]);
    CHECK(((x[i] == y[i] && std::signbit(x[i]) == std::signbit(y[i])) || (std::isnan(x[i]) && std::isnan(y[i]))));
  }
}

/// Element by element: both NaN, equal (infinities included), or within 1e-5 relative. For
/// inputs with infinities, where check_parity's normwise measure would accept anything.
void check_close(const Tensor& cpu_result, const Tensor& gpu_result, const std::string& what) {
  INFO(what);
  REQUIRE(gpu_result.device() == gpu());
  REQUIRE(gpu_result.dtype() == cpu_result.dtype());
  REQUIRE(gpu_result.shape() == cpu_result.shape());
  const std::vector<double> x = cpu_result.to_vector<double>(), y = gpu_result.to(kCPU).to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("element " << i << ": cpu " << x[i] << ", gpu " << y[i]);
    CHECK((x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])) ||
           std::abs(x[i] - y[i]) <= kElementwiseTolerance * std::abs(x[i])));
  }
}

// ---- binary ops ------------------------------------------------------------------------------

struct BinaryLayout {
  std::string name;
  Shape a_shape, b_shape;
  View a_view = same, b_view = same;
};

/// Odd sizes (not multiples of 32 or 256), broadcasting both ways, and strided operands.
std::vector<BinaryLayout> binary_layouts() {
  return {
      {"same shape [257, 131], contiguous", {257, 131}, {257, 131}},
      {"[37, 1, 53] with [5, 53]", {37, 1, 53}, {5, 53}},
      {"transposed [53, 37]ᵀ with a column [37, 1]", {53, 37}, {37, 1}, [](const Tensor& t) { return t.t(); }},
      {"row [1, 29] with transposed [29, 43]ᵀ", {1, 29}, {29, 43}, same, [](const Tensor& t) { return t.t(); }},
      {"every third column of [61, 40] with a 0-d", {61, 40}, {}, [](const Tensor& t) { return t.slice(1, 1, 40, 3); }},
      {"[9, 17] with [17] expanded to [9, 17]", {9, 17}, {17}, same,
       [](const Tensor& t) { return t.expand({9, 17}); }},
      {"1031 elements, 1-D", {1031}, {1031}},
  };
}

struct BinaryCase {
  std::string name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  double a_low = -3, a_high = 3, b_low = -3, b_high = 3;
};

std::vector<BinaryCase> binary_cases() {
  return {
      {"add", kernels::add},
      {"sub", kernels::sub},
      {"mul", kernels::mul},
      {"div", kernels::div, -3, 3, 0.5, 2.5},
      {"pow", kernels::pow, 0.1, 3, -2.5, 2.5},
      {"maximum", kernels::maximum},
      {"minimum", kernels::minimum},
      {"add_scaled", [](const Tensor& a, const Tensor& b) { return kernels::add_scaled(a, b, -0.37); }},
  };
}

struct ComparisonCase {
  std::string name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
};

std::vector<ComparisonCase> comparison_cases() {
  return {{"eq", kernels::eq}, {"ne", kernels::ne}, {"lt", kernels::lt},
          {"le", kernels::le}, {"gt", kernels::gt}, {"ge", kernels::ge},
          {"logical_and", kernels::logical_and}, {"logical_or", kernels::logical_or}};
}

// ---- unary ops -------------------------------------------------------------------------------

struct UnaryLayout {
  std::string name;
  Shape shape;
  View view = same;
};

std::vector<UnaryLayout> unary_layouts() {
  return {
      {"contiguous [1031]", {1031}},
      {"contiguous [513, 1031] (many blocks)", {513, 1031}},
      {"transposed [43, 29]ᵀ", {43, 29}, [](const Tensor& t) { return t.t(); }},
      {"every third column of [61, 40]", {61, 40}, [](const Tensor& t) { return t.slice(1, 1, 40, 3); }},
      {"0-d", {}},
  };
}

struct UnaryCase {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  double low, high;  // inside the op's domain
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", kernels::neg, -5, 5},
      {"exp", kernels::exp, -10, 10},
      {"log", kernels::log, 0.01, 10},
      {"log1p", kernels::log1p, -0.9, 10},
      {"sqrt", kernels::sqrt, 0, 10},
      {"rsqrt", kernels::rsqrt, 0.01, 10},
      {"abs", kernels::abs, -5, 5},
      {"sign", kernels::sign, -5, 5},
      {"sin", kernels::sin, -10, 10},
      {"cos", kernels::cos, -10, 10},
      {"tanh", kernels::tanh, -6, 6},
      {"sigmoid", kernels::sigmoid, -20, 20},
      {"relu", kernels::relu, -5, 5},
      {"gelu", kernels::gelu, -8, 8},
      {"erf", kernels::erf, -4, 4},
      {"reciprocal", kernels::reciprocal, 0.1, 10},
      {"square", kernels::square, -5, 5},
      {"affine", [](const Tensor& x) { return kernels::affine(x, 1.7, -0.3); }, -5, 5},
      {"leaky_relu 0.1", [](const Tensor& x) { return kernels::leaky_relu(x, 0.1); }, -5, 5},
      {"clamp [-0.5, 1]", [](const Tensor& x) { return kernels::clamp(x, -0.5, 1.0); }, -2, 2},
      {"clamp min 0.3", [](const Tensor& x) { return kernels::clamp(x, 0.3, std::nullopt); }, -2, 2},
      {"clamp max 0.3", [](const Tensor& x) { return kernels::clamp(x, std::nullopt, 0.3); }, -2, 2},
      {"clamp min > max", [](const Tensor& x) { return kernels::clamp(x, 1.0, -1.0); }, -2, 2},
      {"pow 1", [](const Tensor& x) { return kernels::pow_scalar(x, 1); }, -3, 3},
      {"pow 2", [](const Tensor& x) { return kernels::pow_scalar(x, 2); }, -3, 3},
      {"pow 3", [](const Tensor& x) { return kernels::pow_scalar(x, 3); }, -3, 3},
      {"pow 0.5", [](const Tensor& x) { return kernels::pow_scalar(x, 0.5); }, 0, 4},
      {"pow -0.5", [](const Tensor& x) { return kernels::pow_scalar(x, -0.5); }, 0.1, 4},
      {"pow -1", [](const Tensor& x) { return kernels::pow_scalar(x, -1); }, 0.1, 4},
      {"pow 2.5", [](const Tensor& x) { return kernels::pow_scalar(x, 2.5); }, 0.1, 4},
      {"pow -1.7", [](const Tensor& x) { return kernels::pow_scalar(x, -1.7); }, 0.1, 4},
      {"pow 4 (negative base)", [](const Tensor& x) { return kernels::pow_scalar(x, 4); }, -3, 3},
  };
}

// ---- fused backward kernels ------------------------------------------------------------------

struct BackwardCase {
  std::string name;
  /// dx from dy and the forward's input x (the case derives what it saves from x).
  std::function<Tensor(const Tensor& dy, const Tensor& x)> backward;
  /// What the forward saves, computed from x on the CPU (the same values go to the GPU).
  std::function<Tensor(const Tensor& x)> saved;
  double low, high;
};

std::vector<BackwardCase> backward_cases() {
  return {
      {"tanh_backward", kernels::tanh_backward, kernels::tanh, -4, 4},
      {"sigmoid_backward", kernels::sigmoid_backward, kernels::sigmoid, -8, 8},
      {"relu backward (slope 0, on relu's output)",
       [](const Tensor& dy, const Tensor& y) { return kernels::leaky_relu_backward(dy, y, 0); }, kernels::relu, -3, 3},
      {"leaky_relu_backward 0.2", [](const Tensor& dy, const Tensor& x) { return kernels::leaky_relu_backward(dy, x, 0.2); },
       same, -3, 3},
      {"gelu_backward", kernels::gelu_backward, same, -8, 8},
      {"clamp_backward [-0.5, 1]",
       [](const Tensor& dy, const Tensor& x) { return kernels::clamp_backward(dy, x, -0.5, 1.0); }, same, -2, 2},
      {"clamp_backward min 0.3",
       [](const Tensor& dy, const Tensor& x) { return kernels::clamp_backward(dy, x, 0.3, std::nullopt); }, same, -2, 2},
      {"clamp_backward max 0.3",
       [](const Tensor& dy, const Tensor& x) { return kernels::clamp_backward(dy, x, std::nullopt, 0.3); }, same, -2, 2},
      {"pow_scalar_backward 0",
       [](const Tensor& dy, const Tensor& x) { return kernels::pow_scalar_backward(dy, x, 0); }, same, 0.1, 3},
      {"pow_scalar_backward 1",
       [](const Tensor& dy, const Tensor& x) { return kernels::pow_scalar_backward(dy, x, 1); }, same, 0.1, 3},
      {"pow_scalar_backward 2",
       [](const Tensor& dy, const Tensor& x) { return kernels::pow_scalar_backward(dy, x, 2); }, same, -3, 3},
      {"pow_scalar_backward 3",
       [](const Tensor& dy, const Tensor& x) { return kernels::pow_scalar_backward(dy, x, 3); }, same, -3, 3},
      {"pow_scalar_backward 2.5",
       [](const Tensor& dy, const Tensor& x) { return kernels::pow_scalar_backward(dy, x, 2.5); }, same, 0.1, 3},
      {"pow_scalar_backward -1.5",
       [](const Tensor& dy, const Tensor& x) { return kernels::pow_scalar_backward(dy, x, -1.5); }, same, 0.1, 3},
  };
}

/// The gradient's layout and the saved operand's (which broadcasts to the gradient's shape).
struct BackwardLayout {
  std::string name;
  Shape dy_shape, x_shape;
  View dy_view = same, x_view = same;
};

std::vector<BackwardLayout> backward_layouts() {
  return {
      {"contiguous [1031]", {1031}, {1031}},
      {"contiguous [129, 257]", {129, 257}, {129, 257}},
      {"transposed dy [53, 37]ᵀ, transposed x", {53, 37}, {53, 37}, [](const Tensor& t) { return t.t(); },
       [](const Tensor& t) { return t.t(); }},
      {"dy [37, 53], x a row [1, 53]", {37, 53}, {1, 53}},
      {"sliced dy, x [13] broadcast", {61, 40}, {13}, [](const Tensor& t) { return t.slice(1, 1, 40, 3); }},
  };
}

// ---- autograd parity ---------------------------------------------------------------------------

using AutogradFn = std::function<Tensor(const std::vector<Tensor>& inputs, Device device)>;

/// Runs f forward and backward (with one random upstream gradient) on both devices from the
/// same leaf values, and compares the output and every leaf's gradient. Gradients of
/// broadcast operands go through sum_to, a reduction: hence `grad_tolerance`.
void check_autograd(const std::string& what, const AutogradFn& f, const std::vector<Tensor>& leaves, uint64_t seed,
                    double grad_tolerance) {
  std::vector<Tensor> cpu_leaves, gpu_leaves;
  for (const Tensor& leaf : leaves) {
    cpu_leaves.push_back(leaf.detach().clone().requires_grad_());
    gpu_leaves.push_back(leaf.detach().to(gpu()).requires_grad_());
  }
  Tensor y_cpu = f(cpu_leaves, kCPU), y_gpu = f(gpu_leaves, gpu());
  check_same(y_cpu.detach(), y_gpu.detach(), tolerance_for(y_cpu.dtype()), what + ": forward");
  Tensor dy = focus::testing::random(y_cpu.shape(), seed, y_cpu.dtype());
  y_cpu.backward(dy);
  y_gpu.backward(dy.to(gpu()));
  for (size_t i = 0; i < leaves.size(); ++i) {
    REQUIRE(gpu_leaves[i].grad().defined());
    check_same(cpu_leaves[i].grad(), gpu_leaves[i].grad(), grad_tolerance,
               what + ": gradient of input " + std::to_string(i));
  }
}

}  // namespace

TEST_CASE("binary arithmetic matches the CPU with broadcasting and strided operands", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 100;
  for (DType dtype : {kFloat32, kFloat64})
    for (const BinaryCase& op : binary_cases())
      for (const BinaryLayout& layout : binary_layouts()) {
        Operand a = operand(uniform_values(layout.a_shape, op.a_low, op.a_high, dtype, ++seed), layout.a_view);
        Operand b = operand(uniform_values(layout.b_shape, op.b_low, op.b_high, dtype, ++seed), layout.b_view);
        check_same(op.op(a.cpu, b.cpu), op.op(a.gpu, b.gpu), tolerance_for(dtype),
                   op.name + " " + dtype_str(dtype) + ", " + layout.name);
      }
}

TEST_CASE("binary arithmetic with ties: maximum and minimum agree exactly", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 200;
  for (DType dtype : {kFloat32, kFloat64, kInt64})
    for (const BinaryLayout& layout : binary_layouts()) {
      Operand a = operand(integer_values(layout.a_shape, -3, 4, dtype, ++seed), layout.a_view);
      Operand b = operand(integer_values(layout.b_shape, -3, 4, dtype, ++seed), layout.b_view);
      const std::string where = dtype_str(dtype) + ", " + layout.name;
      check_exact(kernels::maximum(a.cpu, b.cpu), kernels::maximum(a.gpu, b.gpu), "maximum " + where);
      check_exact(kernels::minimum(a.cpu, b.cpu), kernels::minimum(a.gpu, b.gpu), "minimum " + where);
    }
}

TEST_CASE("comparisons and logical ops match the CPU exactly, ties included", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 300;
  for (DType dtype : {kFloat32, kFloat64, kInt64, kBool})
    for (const ComparisonCase& op : comparison_cases())
      for (const BinaryLayout& layout : binary_layouts()) {
        // Values in {-1, 0, 1}: many ties, and zeros for the logical ops (bool: {true, false}).
        Operand a = operand(integer_values(layout.a_shape, -1, 2, dtype, ++seed), layout.a_view);
        Operand b = operand(integer_values(layout.b_shape, -1, 2, dtype, ++seed), layout.b_view);
        Tensor expected = op.op(a.cpu, b.cpu), actual = op.op(a.gpu, b.gpu);
        REQUIRE(actual.dtype() == kBool);
        check_exact(expected, actual, op.name + " " + dtype_str(dtype) + ", " + layout.name);
      }
}

TEST_CASE("int64 arithmetic matches the CPU exactly", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 400;
  for (const BinaryLayout& layout : binary_layouts()) {
    Operand a = operand(integer_values(layout.a_shape, -1000, 1000, kInt64, ++seed), layout.a_view);
    Operand b = operand(integer_values(layout.b_shape, -1000, 1000, kInt64, ++seed), layout.b_view);
    check_exact(kernels::add(a.cpu, b.cpu), kernels::add(a.gpu, b.gpu), "add, " + layout.name);
    check_exact(kernels::sub(a.cpu, b.cpu), kernels::sub(a.gpu, b.gpu), "sub, " + layout.name);
    check_exact(kernels::mul(a.cpu, b.cpu), kernels::mul(a.gpu, b.gpu), "mul, " + layout.name);
    // alpha is truncated to int64 (2) on both devices.
    check_exact(kernels::add_scaled(a.cpu, b.cpu, 2.7), kernels::add_scaled(a.gpu, b.gpu, 2.7),
                "add_scaled, " + layout.name);
    // Integer division is true division into float32.
    Tensor divisor_cpu = kernels::add(kernels::abs(b.cpu), scalar_tensor(1, kInt64));
    Tensor divisor_gpu = kernels::add(kernels::abs(b.gpu), scalar_tensor(1, TensorOptions(kInt64).with_device(gpu())));
    Tensor quotient = kernels::div(a.gpu, divisor_gpu);
    REQUIRE(quotient.dtype() == kFloat32);
    check_same(kernels::div(a.cpu, divisor_cpu), quotient, kElementwiseTolerance, "div, " + layout.name);
  }
  // Powers: exact where the CPU's double pow is exact (results below 2^53), and negative
  // exponents, which truncate 1/base^n to 0 unless |base| = 1.
  Operand base = operand(integer_values({7, 61}, -9, 10, kInt64, 401));
  Operand exponent = operand(integer_values({61}, 0, 12, kInt64, 402));
  check_exact(kernels::pow(base.cpu, exponent.cpu), kernels::pow(base.gpu, exponent.gpu), "pow, exponents 0..11");
  Operand small_base = operand(from_vector(std::vector<int64_t>{1, -1, 2, -3, 1, -1, 7, -2}, {8}));
  Operand negative = operand(from_vector(std::vector<int64_t>{-1, -3, -1, -2, -4, -2, -1, -5}, {8}));
  check_exact(kernels::pow(small_base.cpu, negative.cpu), kernels::pow(small_base.gpu, negative.gpu),
              "pow, negative exponents");
}

TEST_CASE("dtype promotion matches the CPU", "[cuda]") {
  require_gpu_or_skip();
  Operand f32 = operand(uniform_values({37, 53}, -3, 3, kFloat32, 500));
  Operand f64 = operand(uniform_values({53}, -3, 3, kFloat64, 501));
  Operand i64 = operand(integer_values({37, 1}, -50, 50, kInt64, 502));
  Operand flags = operand(integer_values({53}, 0, 2, kBool, 503));
  Operand more_flags = operand(integer_values({37, 1}, 0, 2, kBool, 504));

  struct Case {
    std::string name;
    const Operand &a, &b;
    DType expected;
  };
  const std::vector<Case> cases = {
      {"int64 + float32", i64, f32, kFloat32}, {"float32 + float64", f32, f64, kFloat64},
      {"bool + bool", flags, more_flags, kInt64}, {"bool + float32", flags, f32, kFloat32},
      {"int64 + bool", i64, flags, kInt64},      {"float64 + int64", f64, i64, kFloat64},
  };
  for (const Case& c : cases) {
    for (const auto& [name, op] : std::vector<std::pair<std::string, std::function<Tensor(const Tensor&, const Tensor&)>>>{
             {"add", kernels::add}, {"mul", kernels::mul}, {"sub", kernels::sub}, {"maximum", kernels::maximum}}) {
      Tensor actual = op(c.a.gpu, c.b.gpu);
      REQUIRE(actual.dtype() == c.expected);
      check_same(op(c.a.cpu, c.b.cpu), actual, kElementwiseTolerance, name + ": " + c.name);
    }
    check_exact(kernels::lt(c.a.cpu, c.b.cpu), kernels::lt(c.a.gpu, c.b.gpu), "lt: " + c.name);
    check_exact(kernels::logical_or(c.a.cpu, c.b.cpu), kernels::logical_or(c.a.gpu, c.b.gpu), "logical_or: " + c.name);
  }
  // Division of bools and ints is float32 (a divisor without zeros: ±inf would hide errors).
  Operand divisor = operand(integer_values({37, 1}, 1, 50, kInt64, 505));
  Tensor quotient = kernels::div(flags.gpu, divisor.gpu);
  REQUIRE(quotient.dtype() == kFloat32);
  check_same(kernels::div(flags.cpu, divisor.cpu), quotient, kElementwiseTolerance, "bool / int64");
}

TEST_CASE("NaN, signed zero and infinity behave as on the CPU", "[cuda]") {
  require_gpu_or_skip();
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (DType dtype : {kFloat32, kFloat64}) {
    Operand a = operand(from_vector(std::vector<double>{nan, 1, nan, 2, -0.0, inf, -inf, 0, 3}, {9}).to(dtype));
    Operand b = operand(from_vector(std::vector<double>{1, nan, nan, 2, 0.0, 5, 2, nan, -inf}, {9}).to(dtype));
    const std::string type = in_dtype(dtype);
    // maximum/minimum are `x > y ? x : y`: NaN in b wins, NaN in a loses.
    check_exact(kernels::maximum(a.cpu, b.cpu), kernels::maximum(a.gpu, b.gpu), "maximum" + type);
    check_exact(kernels::minimum(a.cpu, b.cpu), kernels::minimum(a.gpu, b.gpu), "minimum" + type);
    for (const ComparisonCase& op : comparison_cases())
      check_exact(op.op(a.cpu, b.cpu), op.op(a.gpu, b.gpu), op.name + type);
    check_exact(kernels::relu(a.cpu), kernels::relu(a.gpu), "relu" + type);
    check_exact(kernels::sign(a.cpu), kernels::sign(a.gpu), "sign" + type);
    check_exact(kernels::abs(a.cpu), kernels::abs(a.gpu), "abs" + type);
    check_exact(kernels::clamp(a.cpu, -1.0, 1.0), kernels::clamp(a.gpu, -1.0, 1.0), "clamp" + type);
    check_exact(kernels::logical_not(a.cpu), kernels::logical_not(a.gpu), "logical_not" + type);
    check_close(kernels::sigmoid(a.cpu), kernels::sigmoid(a.gpu), "sigmoid" + type);
    check_close(kernels::exp(a.cpu), kernels::exp(a.gpu), "exp" + type);
    check_close(kernels::gelu(a.cpu), kernels::gelu(a.gpu), "gelu" + type);
    check_close(kernels::tanh(a.cpu), kernels::tanh(a.gpu), "tanh" + type);
    Operand dy = operand(from_vector(std::vector<double>{1, 2, 3, inf, 5, 6, 7, 8, 9}, {9}).to(dtype));
    check_exact(kernels::leaky_relu_backward(dy.cpu, a.cpu, 0), kernels::leaky_relu_backward(dy.gpu, a.gpu, 0),
                "relu backward" + type);
    check_exact(kernels::maximum_backward(dy.cpu, a.cpu, b.cpu), kernels::maximum_backward(dy.gpu, a.gpu, b.gpu),
                "maximum_backward" + type);
  }
}

TEST_CASE("add_ adds in place with b broadcast, into contiguous and strided tensors", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 600;
  for (DType dtype : {kFloat32, kFloat64})
    for (const BinaryLayout& layout :
         std::vector<BinaryLayout>{{"[37, 53] += [53]", {37, 53}, {53}},
                                   {"[257, 131] += [257, 131]", {257, 131}, {257, 131}},
                                   {"transposed [53, 37]ᵀ += [37, 1]", {53, 37}, {37, 1}, [](const Tensor& t) { return t.t(); }},
                                   {"every third column += transposed", {13, 40}, {13, 13},
                                    [](const Tensor& t) { return t.slice(1, 1, 40, 3); },
                                    [](const Tensor& t) { return t.t(); }}}) {
      Operand a = operand(uniform_values(layout.a_shape, -3, 3, dtype, ++seed), layout.a_view);
      Operand b = operand(uniform_values(layout.b_shape, -3, 3, dtype, ++seed), layout.b_view);
      kernels::add_(a.cpu, b.cpu);
      kernels::add_(a.gpu, b.gpu);
      check_same(a.cpu, a.gpu, tolerance_for(dtype), "add_ " + dtype_str(dtype) + ", " + layout.name);
    }
  // Another dtype is converted to a's first; into a bool tensor, + is logical or.
  Operand a = operand(uniform_values({9, 17}, -3, 3, kFloat32, 650));
  Operand b = operand(integer_values({17}, -5, 5, kInt64, 651));
  kernels::add_(a.cpu, b.cpu);
  kernels::add_(a.gpu, b.gpu);
  check_same(a.cpu, a.gpu, kElementwiseTolerance, "add_ float32 += int64");
  Operand flags = operand(integer_values({9, 17}, 0, 2, kBool, 652));
  Operand more_flags = operand(integer_values({17}, 0, 2, kBool, 653));
  kernels::add_(flags.cpu, more_flags.cpu);
  kernels::add_(flags.gpu, more_flags.gpu);
  check_exact(flags.cpu, flags.gpu, "add_ bool += bool");
}

TEST_CASE("unary ops match the CPU in every layout", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 700;
  for (DType dtype : {kFloat32, kFloat64})
    for (const UnaryCase& op : unary_cases())
      for (const UnaryLayout& layout : unary_layouts()) {
        Operand x = operand(uniform_values(layout.shape, op.low, op.high, dtype, ++seed), layout.view);
        check_same(op.op(x.cpu), op.op(x.gpu), tolerance_for(dtype), op.name + " " + dtype_str(dtype) + ", " + layout.name);
      }
}

TEST_CASE("unary ops on int64 and bool inputs keep the CPU's result dtypes", "[cuda]") {
  require_gpu_or_skip();
  for (DType dtype : {kInt64, kBool}) {
    Operand x = operand(integer_values({43, 29}, dtype == kBool ? 0 : -7, dtype == kBool ? 2 : 8, dtype, 800),
                        [](const Tensor& t) { return t.t(); });
    const std::string type = in_dtype(dtype);
    // Sign-preserving arithmetic stays integral (bool counts as int64), exactly.
    for (const auto& [name, op] : std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>>{
             {"neg", kernels::neg},
             {"abs", kernels::abs},
             {"sign", kernels::sign},
             {"square", kernels::square},
             {"relu", kernels::relu},
             {"clamp [-2, 3]", [](const Tensor& t) { return kernels::clamp(t, -2.0, 3.0); }},
             {"pow 3", [](const Tensor& t) { return kernels::pow_scalar(t, 3); }},
             {"pow 0", [](const Tensor& t) { return kernels::pow_scalar(t, 0); }},
             {"logical_not", kernels::logical_not}}) {
      Tensor actual = op(x.gpu);
      REQUIRE(actual.dtype() == (name == "logical_not" ? kBool : kInt64));
      check_exact(op(x.cpu), actual, name + type);
    }
    // Float math, fractional clamp bounds and fractional powers give float32.
    for (const auto& [name, op] : std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>>{
             {"exp", kernels::exp},
             {"tanh", kernels::tanh},
             {"sigmoid", kernels::sigmoid},
             {"gelu", kernels::gelu},
             {"affine", [](const Tensor& t) { return kernels::affine(t, 0.5, 0.25); }},
             {"leaky_relu", [](const Tensor& t) { return kernels::leaky_relu(t, 0.1); }},
             {"clamp [-0.5, 2.5]", [](const Tensor& t) { return kernels::clamp(t, -0.5, 2.5); }},
             {"pow 1.5 of |x|", [](const Tensor& t) { return kernels::pow_scalar(kernels::abs(t), 1.5); }}}) {
      Tensor actual = op(x.gpu);
      REQUIRE(actual.dtype() == kFloat32);
      check_same(op(x.cpu), actual, kElementwiseTolerance, name + type);
    }
  }
  // int64 overflow wraps like PyTorch's: |INT64_MIN|, -INT64_MIN and big powers.
  Operand extremes = operand(from_vector(std::vector<int64_t>{std::numeric_limits<int64_t>::min(),
                                                              std::numeric_limits<int64_t>::max(), 3037000500, -7},
                                         {4}));
  check_exact(kernels::abs(extremes.cpu), kernels::abs(extremes.gpu), "abs of int64 extremes");
  check_exact(kernels::neg(extremes.cpu), kernels::neg(extremes.gpu), "neg of int64 extremes");
  check_exact(kernels::square(extremes.cpu), kernels::square(extremes.gpu), "square of int64 extremes");
  check_exact(kernels::pow_scalar(extremes.cpu, 5), kernels::pow_scalar(extremes.gpu, 5), "pow 5 of int64 extremes");
  check_exact(kernels::clamp(extremes.cpu, -1e19, 1e30), kernels::clamp(extremes.gpu, -1e19, 1e30),
              "clamp of int64 with bounds past its range");
}

TEST_CASE("fused backward kernels match the CPU with strided and broadcast operands", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 900;
  for (DType dtype : {kFloat32, kFloat64})
    for (const BackwardCase& op : backward_cases())
      for (const BackwardLayout& layout : backward_layouts()) {
        Operand dy = operand(focus::testing::random(layout.dy_shape, ++seed, dtype), layout.dy_view);
        Operand x = operand(op.saved(uniform_values(layout.x_shape, op.low, op.high, dtype, ++seed)), layout.x_view);
        check_same(op.backward(dy.cpu, x.cpu), op.backward(dy.gpu, x.gpu), tolerance_for(dtype),
                   op.name + " " + dtype_str(dtype) + ", " + layout.name);
      }
  // Integer-valued x meets the clamp bounds exactly (inclusive on both devices).
  Operand dy = operand(focus::testing::random({1031}, 950, kFloat32));
  Operand x = operand(integer_values({1031}, -3, 4, kFloat32, 951));
  check_exact(kernels::clamp_backward(dy.cpu, x.cpu, -1.0, 2.0), kernels::clamp_backward(dy.gpu, x.gpu, -1.0, 2.0),
              "clamp_backward at the bounds");
  // A saved operand of another dtype is converted to dy's.
  Operand x64 = operand(uniform_values({1031}, -3, 3, kFloat64, 952));
  check_same(kernels::gelu_backward(dy.cpu, x64.cpu), kernels::gelu_backward(dy.gpu, x64.gpu), kElementwiseTolerance,
             "gelu_backward float32 dy, float64 x");
}

TEST_CASE("maximum_backward splits ties like the CPU, with broadcasting", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 1000;
  for (DType dtype : {kFloat32, kFloat64})
    for (const BinaryLayout& layout : binary_layouts()) {
      Operand a = operand(integer_values(layout.a_shape, -2, 3, dtype, ++seed), layout.a_view);
      Operand b = operand(integer_values(layout.b_shape, -2, 3, dtype, ++seed), layout.b_view);
      Operand dy = operand(focus::testing::random(broadcast_shapes(a.cpu.shape(), b.cpu.shape(), "test"), ++seed, dtype));
      const std::string where = dtype_str(dtype) + ", " + layout.name;
      check_exact(kernels::maximum_backward(dy.cpu, a.cpu, b.cpu), kernels::maximum_backward(dy.gpu, a.gpu, b.gpu),
                  "a's share, " + where);
      check_exact(kernels::maximum_backward(dy.cpu, b.cpu, a.cpu), kernels::maximum_backward(dy.gpu, b.gpu, a.gpu),
                  "b's share, " + where);
    }
}

TEST_CASE("where and masked_fill match the CPU", "[cuda]") {
  require_gpu_or_skip();
  uint64_t seed = 1100;
  for (DType dtype : {kFloat32, kFloat64, kInt64, kBool}) {
    const std::string type = in_dtype(dtype);
    auto values = [&](const Shape& shape) {
      return dtype == kBool ? integer_values(shape, 0, 2, kBool, ++seed) : integer_values(shape, -100, 100, dtype, ++seed);
    };
    // cond [37, 1] broadcast, a transposed [53, 37]ᵀ, b 0-d.
    Operand cond = operand(integer_values({37, 1}, 0, 2, kBool, ++seed));
    Operand a = operand(values({53, 37}), [](const Tensor& t) { return t.t(); });
    Operand b = operand(values({}));
    check_exact(kernels::where(cond.cpu, a.cpu, b.cpu), kernels::where(cond.gpu, a.gpu, b.gpu),
                "where, broadcast cond, transposed a, 0-d b" + type);
    // All three full-size and contiguous; cond sliced.
    Operand wide_cond = operand(integer_values({129, 514}, 0, 2, kBool, ++seed),
                                [](const Tensor& t) { return t.slice(1, 0, 514, 2); });
    Operand full_a = operand(values({129, 257})), full_b = operand(values({129, 257}));
    check_exact(kernels::where(wide_cond.cpu, full_a.cpu, full_b.cpu),
                kernels::where(wide_cond.gpu, full_a.gpu, full_b.gpu), "where, sliced cond" + type);
    // masked_fill: the mask broadcasts to x's shape.
    Operand mask = operand(integer_values({53}, 0, 2, kBool, ++seed));
    Operand x = operand(values({37, 53}));
    check_exact(kernels::masked_fill(x.cpu, mask.cpu, -7.0), kernels::masked_fill(x.gpu, mask.gpu, -7.0),
                "masked_fill, row mask" + type);
    Operand transposed_x = operand(values({53, 37}), [](const Tensor& t) { return t.t(); });
    Operand column_mask = operand(integer_values({37, 1}, 0, 2, kBool, ++seed));
    check_exact(kernels::masked_fill(transposed_x.cpu, column_mask.cpu, 3.0),
                kernels::masked_fill(transposed_x.gpu, column_mask.gpu, 3.0), "masked_fill, transposed x" + type);
  }
  // A float condition means "nonzero"; a and b of different dtypes promote.
  Operand float_cond = operand(integer_values({37, 53}, -1, 2, kFloat32, 1190));
  Operand ints = operand(integer_values({53}, -9, 9, kInt64, 1191));
  Operand floats = operand(uniform_values({37, 1}, -3, 3, kFloat64, 1192));
  Tensor actual = kernels::where(float_cond.gpu, ints.gpu, floats.gpu);
  REQUIRE(actual.dtype() == kFloat64);
  check_exact(kernels::where(float_cond.cpu, ints.cpu, floats.cpu), actual, "where, float cond, int64 vs float64");
  Tensor filled = kernels::masked_fill(floats.gpu, kernels::gt(floats.gpu, scalar_tensor(0.0, TensorOptions(kFloat64).with_device(gpu()))),
                                       std::numeric_limits<double>::infinity());
  check_exact(kernels::masked_fill(floats.cpu, kernels::gt(floats.cpu, scalar_tensor(0.0, kFloat64)),
                                   std::numeric_limits<double>::infinity()),
              filled, "masked_fill with +inf");
}

TEST_CASE("gradients of the elementwise ops match the CPU through autograd", "[cuda]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    const std::string type = in_dtype(dtype);
    // Broadcast operands: their gradients are summed back by sum_to (a reduction).
    const double reduced = dtype == kFloat64 ? kFloat64Tolerance : kReductionTolerance;
    const double elementwise = tolerance_for(dtype);
    Tensor a = uniform_values({6, 1, 9}, -2, 2, dtype, 1200), b = uniform_values({5, 9}, -2, 2, dtype, 1201);
    Tensor positive = uniform_values({6, 1, 9}, 0.5, 2, dtype, 1202);
    check_autograd("add" + type, [](const std::vector<Tensor>& in, Device) { return add(in[0], in[1]); }, {a, b}, 1,
                   reduced);
    check_autograd("sub" + type, [](const std::vector<Tensor>& in, Device) { return sub(in[0], in[1]); }, {a, b}, 2,
                   reduced);
    check_autograd("mul" + type, [](const std::vector<Tensor>& in, Device) { return mul(in[0], in[1]); }, {a, b}, 3,
                   reduced);
    check_autograd("div" + type, [](const std::vector<Tensor>& in, Device) { return div(in[1], in[0]); },
                   {positive, b}, 4, reduced);
    check_autograd("pow, tensor exponent" + type,
                   [](const std::vector<Tensor>& in, Device) { return pow(in[0], in[1]); }, {positive, b}, 5, reduced);
    check_autograd("maximum" + type, [](const std::vector<Tensor>& in, Device) { return maximum(in[0], in[1]); },
                   {integer_values({6, 1, 9}, -2, 3, dtype, 1203), integer_values({5, 9}, -2, 3, dtype, 1204)}, 6,
                   reduced);
    // Strided leaves' gradients too: a transposed operand.
    Tensor square_matrix = uniform_values({23, 23}, -2, 2, dtype, 1205);
    check_autograd("mul with a transposed operand" + type,
                   [](const std::vector<Tensor>& in, Device) { return mul(in[0].t(), in[1]); },
                   {square_matrix, uniform_values({23}, -2, 2, dtype, 1206)}, 7, reduced);

    Tensor x = uniform_values({37, 53}, -4, 4, dtype, 1210);
    check_autograd("pow 2.5" + type, [](const std::vector<Tensor>& in, Device) { return pow(in[0], 2.5); },
                   {uniform_values({37, 53}, 0.1, 3, dtype, 1211)}, 8, elementwise);
    check_autograd("tanh" + type, [](const std::vector<Tensor>& in, Device) { return tanh(in[0]); }, {x}, 9,
                   elementwise);
    check_autograd("sigmoid" + type, [](const std::vector<Tensor>& in, Device) { return sigmoid(in[0]); }, {x}, 10,
                   elementwise);
    check_autograd("relu" + type, [](const std::vector<Tensor>& in, Device) { return relu(in[0]); }, {x}, 11,
                   elementwise);
    check_autograd("gelu" + type, [](const std::vector<Tensor>& in, Device) { return gelu(in[0]); }, {x}, 12,
                   elementwise);
    check_autograd("leaky_relu" + type, [](const std::vector<Tensor>& in, Device) { return leaky_relu(in[0], 0.2); },
                   {x}, 13, elementwise);
    check_autograd("clamp" + type, [](const std::vector<Tensor>& in, Device) { return clamp(in[0], -1.0, 2.0); }, {x},
                   14, elementwise);

    Tensor cond = integer_values({6, 5, 1}, 0, 2, kBool, 1212);
    check_autograd(
        "where" + type,
        [cond](const std::vector<Tensor>& in, Device device) { return where(cond.to(device), in[0], in[1]); }, {a, b},
        15, reduced);
    Tensor mask = integer_values({53}, 0, 2, kBool, 1213);
    check_autograd(
        "masked_fill" + type,
        [mask](const std::vector<Tensor>& in, Device device) { return masked_fill(in[0], mask.to(device), 0.5); }, {x},
        16, elementwise);
  }
}

TEST_CASE("an op on a CPU and a CUDA tensor names both devices", "[cuda]") {
  require_gpu_or_skip();
  Tensor on_cpu = ones({3}), on_gpu = ones({3}).to(gpu());
  REQUIRE_THROWS_WITH(kernels::add(on_cpu, on_gpu), Catch::Contains("add") && Catch::Contains("cpu") &&
                                                        Catch::Contains("cuda:0"));
  REQUIRE_THROWS_WITH(add(on_gpu, on_cpu), Catch::Contains("cpu") && Catch::Contains("cuda:0"));
  REQUIRE_THROWS_WITH(on_cpu + on_gpu, Catch::Contains("cpu") && Catch::Contains("cuda:0"));
  REQUIRE_THROWS_WITH(kernels::where(kernels::gt(on_gpu, on_gpu), on_gpu, on_cpu),
                      Catch::Contains("where") && Catch::Contains("cpu") && Catch::Contains("cuda:0"));
  REQUIRE_THROWS_WITH(kernels::tanh_backward(on_gpu, on_cpu), Catch::Contains("cpu") && Catch::Contains("cuda:0"));
  REQUIRE_THROWS_WITH(kernels::add_(on_gpu, on_cpu), Catch::Contains("cpu") && Catch::Contains("cuda:0"));
}
