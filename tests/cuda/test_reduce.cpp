// The reduction and softmax CUDA kernels (tensor/cuda/reduce.cu, softmax.cu) against the
// CPU on the same inputs: every reduction over all dims, the first, the last, a middle
// and two non-adjacent dims, with and without keepdim, on contiguous, permuted, step-sliced
// and broadcast inputs, odd sizes (37x129x5) and long rows and columns that split across
// blocks; int64 and bool sums exactly; max/min indices exactly (distinct values, and the
// first index on ties); sum_to as broadcast backward uses it; logsumexp and softmax with
// large values and -inf; softmax and its backward along every dim; empty tensors; and the
// gradients of the differentiable ops through autograd on both devices.
// Without a GPU every test reports "skipped" (exit code 4).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "focus.h"
#include "tensor/kernels.h"
#include "tests/cuda/cuda_check.h"
#include "tests/support.h"

using namespace focus;
using focus::testing::check_parity;
using focus::testing::gpu;
using focus::testing::kElementwiseTolerance;
using focus::testing::kReductionTolerance;
using focus::testing::random;
using focus::testing::require_gpu_or_skip;

namespace {

/// Float64 reductions sum in a different order on each device: a few ulp per term, normwise.
constexpr double kFloat64Tolerance = 1e-12;

double tolerance_for(DType dtype) { return dtype == kFloat64 ? kFloat64Tolerance : kReductionTolerance; }

using View = std::function<Tensor(const Tensor&)>;
Tensor same(const Tensor& t) { return t; }

/// One input on both devices: the same values, and the same view taken on each device (so
/// the GPU kernel really reads a permuted, sliced or broadcast layout, not a packed copy).
struct Input {
  std::string name;
  Tensor cpu, gpu;
};
Input input(const std::string& name, const Tensor& base, const View& view = same) {
  return {name, view(base), view(base.to(gpu()))};
}

std::string dims_str(const std::vector<int64_t>& dims, bool keepdim) {
  std::string s = "dims [";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]" + (keepdim ? " keepdim" : "");
}

/// Same dtype and shape, NaN at the same positions, the other values within `tolerance`
/// (check_parity's normwise measure alone would pass over a NaN).
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

/// Element by element: NaN where the CPU has NaN, the same infinities, and finite values
/// within `tolerance` relative to max(1, |cpu value|). For results with infinities,
/// where a normwise measure would be infinite and pass everything.
void check_elementwise(const Tensor& cpu_result, const Tensor& gpu_result, double tolerance, const std::string& what) {
  INFO(what);
  REQUIRE(gpu_result.device() == gpu());
  REQUIRE(gpu_result.dtype() == cpu_result.dtype());
  REQUIRE(gpu_result.shape() == cpu_result.shape());
  const std::vector<double> x = cpu_result.to_vector<double>(), y = gpu_result.to(kCPU).to_vector<double>();
  int64_t mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isinf(x[i]))
      mismatches += !(std::isnan(x[i]) ? std::isnan(y[i]) : x[i] == y[i]);
    else
      mismatches += !(std::abs(x[i] - y[i]) <= tolerance * std::max(1.0, std::abs(x[i])));
  }
  CHECK(mismatches == 0);
}

/// Exactly the same values (NaN where the CPU has NaN): integer results, indices, maxima.
void check_exact(const Tensor& cpu_result, const Tensor& gpu_result, const std::string& what) {
  INFO(what);
  REQUIRE(gpu_result.device() == gpu());
  REQUIRE(gpu_result.dtype() == cpu_result.dtype());
  REQUIRE(gpu_result.shape() == cpu_result.shape());
  if (cpu_result.dtype() == kInt64 || cpu_result.dtype() == kBool) {
    CHECK(gpu_result.to(kCPU).to_vector<int64_t>() == cpu_result.to_vector<int64_t>());
    return;
  }
  const std::vector<double> x = cpu_result.to_vector<double>(), y = gpu_result.to(kCPU).to_vector<double>();
  int64_t mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i) mismatches += !(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])));
  CHECK(mismatches == 0);
}

/// The floating reductions over `dims` (sum, mean, var both ways, amax, amin, logsumexp),
/// and with one dim also max/min (values and indices) and argmax/argmin: indices are
/// compared exactly, so `in` must not tie at a slice's max or min.
void check_reductions(const Input& in, const std::vector<int64_t>& dims, bool keepdim) {
  const std::string what = in.name + " " + dims_str(dims, keepdim);
  const double tol = tolerance_for(in.cpu.dtype());
  check_same(kernels::sum(in.cpu, dims, keepdim), kernels::sum(in.gpu, dims, keepdim), tol, "sum " + what);
  check_same(kernels::mean(in.cpu, dims, keepdim), kernels::mean(in.gpu, dims, keepdim), tol, "mean " + what);
  for (int64_t correction : {0, 1})
    check_same(kernels::var(in.cpu, dims, correction, keepdim), kernels::var(in.gpu, dims, correction, keepdim), tol,
               "var correction " + std::to_string(correction) + " " + what);
  check_exact(kernels::amax(in.cpu, dims, keepdim), kernels::amax(in.gpu, dims, keepdim), "amax " + what);
  check_exact(kernels::amin(in.cpu, dims, keepdim), kernels::amin(in.gpu, dims, keepdim), "amin " + what);
  check_same(kernels::logsumexp(in.cpu, dims, keepdim), kernels::logsumexp(in.gpu, dims, keepdim), tol,
             "logsumexp " + what);
  if (dims.size() != 1) return;
  const int64_t dim = dims[0];
  auto [max_cpu, argmax_cpu] = kernels::max(in.cpu, dim, keepdim);
  auto [max_gpu, argmax_gpu] = kernels::max(in.gpu, dim, keepdim);
  check_exact(max_cpu, max_gpu, "max values " + what);
  check_exact(argmax_cpu, argmax_gpu, "max indices " + what);
  auto [min_cpu, argmin_cpu] = kernels::min(in.cpu, dim, keepdim);
  auto [min_gpu, argmin_gpu] = kernels::min(in.gpu, dim, keepdim);
  check_exact(min_cpu, min_gpu, "min values " + what);
  check_exact(argmin_cpu, argmin_gpu, "min indices " + what);
  check_exact(kernels::argmax(in.cpu, dim, keepdim), kernels::argmax(in.gpu, dim, keepdim), "argmax " + what);
  check_exact(kernels::argmin(in.cpu, dim, keepdim), kernels::argmin(in.gpu, dim, keepdim), "argmin " + what);
}

/// Distinct values in random order (a permutation of 0..n-1, centred and scaled), so a
/// max or min never ties and indices compare exactly.
Tensor distinct_values(const Shape& shape, uint64_t seed, DType dtype = kFloat32) {
  Generator gen(seed);
  const int64_t n = shape_numel(shape);
  return kernels::affine(randperm(n, &gen).to(dtype), 1.0 / static_cast<double>(n), -0.5).reshape(shape);
}

/// The inputs every reduction runs on: [37, 129, 5] (no size a multiple of 32), contiguous,
/// permuted from [5, 129, 37] (no stride-1 dim where the shape's last dim is), sliced
/// with step 2 along the last dim (no stride-1 dim at all: the kernels copy first). Values
/// are distinct, so max/min indices compare exactly.
std::vector<Input> odd_inputs(DType dtype) {
  return {
      input("contiguous [37, 129, 5]", distinct_values({37, 129, 5}, 1, dtype)),
      input("permuted [5, 129, 37] -> [37, 129, 5]", distinct_values({5, 129, 37}, 2, dtype),
            [](const Tensor& t) { return t.permute({2, 1, 0}); }),
      input("step-2 slice of [37, 129, 10]", distinct_values({37, 129, 10}, 3, dtype),
            [](const Tensor& t) { return t.slice(2, 0, 10, 2); }),
  };
}

const std::vector<std::vector<int64_t>> kDimSets = {{}, {-1}, {2}, {0}, {1}, {0, 2}, {0, 1}, {1, 2}, {2, 0}};

/// Leaves on both devices with the same values.
struct Leaves {
  Tensor cpu, gpu;
};
Leaves leaves(const Tensor& values) {
  Tensor a = values.clone(), b = values.to(gpu());
  a.requires_grad_();
  b.requires_grad_();
  return {a, b};
}

/// f on both devices, its forward compared, then backward of the same random upstream
/// gradient on each, and the input gradients compared.
void check_gradient(const Tensor& x, const std::function<Tensor(const Tensor&)>& f, const std::string& what,
                    double tolerance = kReductionTolerance) {
  Leaves in = leaves(x);
  Tensor y_cpu = f(in.cpu), y_gpu = f(in.gpu);
  check_same(y_cpu.detach(), y_gpu.detach(), tolerance, what + " forward");
  Tensor upstream = random(y_cpu.shape(), 99, y_cpu.dtype());
  y_cpu.backward(upstream);
  y_gpu.backward(upstream.to(gpu()));
  REQUIRE(in.gpu.grad().defined());
  check_same(in.cpu.grad(), in.gpu.grad(), tolerance, what + " gradient");
}

}  // namespace

// ---- reductions ------------------------------------------------------------------------

TEST_CASE("cuda reductions match the CPU over every set of dims, on contiguous and strided odd-sized inputs",
          "[cuda]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64})
    for (const Input& in : odd_inputs(dtype))
      for (const auto& dims : kDimSets)
        for (bool keepdim : {false, true}) check_reductions(in, dims, keepdim);
}

TEST_CASE("cuda reductions of a broadcast (stride-0) input match the CPU", "[cuda]") {
  require_gpu_or_skip();
  Input in = input("[37, 1, 5] expanded to [37, 129, 5]", distinct_values({37, 1, 5}, 4),
                   [](const Tensor& t) { return t.expand({37, 129, 5}); });
  for (const auto& dims : kDimSets)
    for (bool keepdim : {false, true}) {
      const std::string what = in.name + " " + dims_str(dims, keepdim);
      check_same(kernels::sum(in.cpu, dims, keepdim), kernels::sum(in.gpu, dims, keepdim), kReductionTolerance,
                 "sum " + what);
      check_same(kernels::var(in.cpu, dims, 1, keepdim), kernels::var(in.gpu, dims, 1, keepdim), kReductionTolerance,
                 "var " + what);
      check_exact(kernels::amax(in.cpu, dims, keepdim), kernels::amax(in.gpu, dims, keepdim), "amax " + what);
    }
  // Along the broadcast dim every value ties: the first index, 0, everywhere.
  check_exact(kernels::argmax(in.cpu, 1, false), kernels::argmax(in.gpu, 1, false), "argmax along the broadcast dim");
  check_exact(kernels::argmin(in.cpu, 0, true), kernels::argmin(in.gpu, 0, true), "argmin " + in.name + " dim 0");
}

TEST_CASE("cuda reductions of long rows and columns split across blocks and match the CPU", "[cuda]") {
  require_gpu_or_skip();
  // Shapes that take each launch path: a single long row (split over blocks), a full
  // sum, few long rows, many short rows, a bias gradient (columns split over blocks),
  // few wide columns, NCHW's per-channel reduction (two reduced groups), a short inner dim.
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{1, 300000}, {1}},        {{1, 300000}, {}},    {{300001}, {0}},     {{3, 70001}, {1}},
      {{20000, 7}, {1}},         {{4096, 768}, {0}},   {{70001, 3}, {0}},   {{3, 50000}, {0}},
      {{8, 64, 33, 33}, {0, 2, 3}}, {{64, 2, 1000}, {0, 2}}, {{2, 40000, 3}, {1}}, {{1000, 1000}, {}},
  };
  uint64_t seed = 10;
  for (const auto& [shape, dims] : cases)
    for (bool keepdim : {false, true}) {
      Tensor values = distinct_values(shape, seed++);
      check_reductions(input("shape " + shape_str(shape), values), dims, keepdim);
    }
  // The best value at the very end of a long split row, and at the start.
  Input ramp = input("ramp", arange(0.0, 300000.0, 1.0, kFloat32));
  check_exact(kernels::argmax(ramp.cpu, 0, false), kernels::argmax(ramp.gpu, 0, false), "argmax of a ramp");
  check_exact(kernels::argmin(ramp.cpu, 0, false), kernels::argmin(ramp.gpu, 0, false), "argmin of a ramp");
}

TEST_CASE("cuda max, min, argmax and argmin pick the first index on ties, in rows and columns", "[cuda]") {
  require_gpu_or_skip();
  Generator gen(5);
  // Values in {0, 1, 2}: almost every slice ties at its max and min.
  for (const Shape& shape : {Shape{40, 50}, Shape{3, 5000}, Shape{5000, 3}, Shape{2, 100000}}) {
    Tensor x = randint(0, 3, shape, kInt64, &gen);
    for (DType dtype : {kInt64, kFloat32}) {
      Input in = input("ties " + shape_str(shape) + " " + std::string(dtype_name(dtype)), x.to(dtype));
      for (int64_t dim : {0, 1}) {
        const std::string what = in.name + " dim " + std::to_string(dim);
        check_exact(kernels::argmax(in.cpu, dim, false), kernels::argmax(in.gpu, dim, false), "argmax " + what);
        check_exact(kernels::argmin(in.cpu, dim, false), kernels::argmin(in.gpu, dim, false), "argmin " + what);
        check_exact(kernels::max(in.cpu, dim, false).second, kernels::max(in.gpu, dim, false).second,
                    "max indices " + what);
        check_exact(kernels::min(in.cpu, dim, true).second, kernels::min(in.gpu, dim, true).second,
                    "min indices " + what);
      }
    }
  }
  // Bool: max and argmax too.
  Input flags = input("bool [30, 70]", randint(0, 2, {30, 70}, kInt64, &gen).to(kBool));
  for (int64_t dim : {0, 1}) {
    check_exact(kernels::argmax(flags.cpu, dim, false), kernels::argmax(flags.gpu, dim, false), "bool argmax");
    check_exact(kernels::amax(flags.cpu, {dim}, false), kernels::amax(flags.gpu, {dim}, false), "bool amax");
    check_exact(kernels::amin(flags.cpu, {dim}, false), kernels::amin(flags.gpu, {dim}, false), "bool amin");
  }
}

TEST_CASE("cuda int64 and bool sums are int64 and exact, their means float32", "[cuda]") {
  require_gpu_or_skip();
  Generator gen(6);
  Input ints = input("int64 [37, 129, 5]", randint(-1000000, 1000000, {37, 129, 5}, kInt64, &gen));
  Input permuted = input("int64 permuted", randint(-50, 50, {5, 129, 37}, kInt64, &gen),
                         [](const Tensor& t) { return t.permute({2, 1, 0}); });
  Input flags = input("bool [37, 129, 5]", randint(0, 2, {37, 129, 5}, kInt64, &gen).to(kBool));
  Input big = input("int64 [300000]", randint(-(int64_t{1} << 40), int64_t{1} << 40, {300000}, kInt64, &gen));
  for (const Input& in : {ints, permuted, flags})
    for (const auto& dims : kDimSets)
      for (bool keepdim : {false, true}) {
        const std::string what = in.name + " " + dims_str(dims, keepdim);
        Tensor sum_gpu = kernels::sum(in.gpu, dims, keepdim);
        REQUIRE(sum_gpu.dtype() == kInt64);
        check_exact(kernels::sum(in.cpu, dims, keepdim), sum_gpu, "sum " + what);
        Tensor mean_gpu = kernels::mean(in.gpu, dims, keepdim);
        REQUIRE(mean_gpu.dtype() == kFloat32);
        check_same(kernels::mean(in.cpu, dims, keepdim), mean_gpu, kElementwiseTolerance, "mean " + what);
        check_exact(kernels::amax(in.cpu, dims, keepdim), kernels::amax(in.gpu, dims, keepdim), "amax " + what);
      }
  // Sums past 2^53 would lose digits in a double accumulator: int64 keeps them all.
  check_exact(kernels::sum(big.cpu, {}, false), kernels::sum(big.gpu, {}, false), "sum " + big.name);
}

TEST_CASE("cuda reductions propagate NaN like the CPU", "[cuda]") {
  require_gpu_or_skip();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t n : {5, 100, 300000}) {
    Tensor x = distinct_values({2, n}, 7);
    x.set({0, 3}, nan);
    x.set({1, n - 1}, nan);
    Input in = input("NaN row of " + std::to_string(n), x);
    for (const auto& dims : std::vector<std::vector<int64_t>>{{}, {1}, {0}}) {
      const std::string what = in.name + " " + dims_str(dims, false);
      check_exact(kernels::amax(in.cpu, dims, false), kernels::amax(in.gpu, dims, false), "amax " + what);
      check_exact(kernels::amin(in.cpu, dims, false), kernels::amin(in.gpu, dims, false), "amin " + what);
      check_same(kernels::sum(in.cpu, dims, false), kernels::sum(in.gpu, dims, false), kReductionTolerance,
                 "sum " + what);
      check_same(kernels::logsumexp(in.cpu, dims, false), kernels::logsumexp(in.gpu, dims, false),
                 kReductionTolerance, "logsumexp " + what);
    }
    for (int64_t dim : {0, 1}) {
      check_exact(kernels::argmax(in.cpu, dim, false), kernels::argmax(in.gpu, dim, false), "argmax " + in.name);
      check_exact(kernels::argmin(in.cpu, dim, false), kernels::argmin(in.gpu, dim, false), "argmin " + in.name);
    }
  }
}

TEST_CASE("cuda logsumexp is stable for large values and infinities", "[cuda]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    // Values around ±1000 (exp overflows float64 past 709): the shift by the max keeps them finite.
    Tensor x = kernels::affine(random({64, 300}, 8, dtype), 50.0, 1000.0);
    Tensor low = kernels::affine(random({64, 300}, 9, dtype), 50.0, -1000.0);
    for (const Input& in : {input("around 1000", x), input("around -1000", low)})
      for (const auto& dims : std::vector<std::vector<int64_t>>{{}, {1}, {0}}) {
        Tensor result = kernels::logsumexp(in.gpu, dims, false);
        check_same(kernels::logsumexp(in.cpu, dims, false), result, tolerance_for(dtype),
                   "logsumexp " + in.name + " " + dims_str(dims, false));
        for (double v : result.to(kCPU).to_vector<double>()) REQUIRE(std::isfinite(v));
      }
    // Rows of all -inf give -inf, a +inf gives +inf.
    const double inf = std::numeric_limits<double>::infinity();
    Tensor edges = random({3, 40}, 10, dtype);
    for (int64_t j = 0; j < 40; ++j) edges.set({0, j}, -inf);
    edges.set({1, 17}, inf);
    Input in = input("infinities", edges);
    check_elementwise(kernels::logsumexp(in.cpu, {1}, false), kernels::logsumexp(in.gpu, {1}, false),
                      tolerance_for(dtype), "logsumexp with infinities");
  }
}

TEST_CASE("cuda reductions of 0-d and empty tensors match the CPU", "[cuda]") {
  require_gpu_or_skip();
  Input scalar = input("0-d", scalar_tensor(3.5));
  check_exact(kernels::sum(scalar.cpu, {}, false), kernels::sum(scalar.gpu, {}, false), "sum of 0-d");
  check_exact(kernels::amax(scalar.cpu, {-1}, true), kernels::amax(scalar.gpu, {-1}, true), "amax of 0-d");
  check_exact(kernels::argmax(scalar.cpu, 0, false), kernels::argmax(scalar.gpu, 0, false), "argmax of 0-d");
  check_exact(kernels::var(scalar.cpu, {}, 0, false), kernels::var(scalar.gpu, {}, 0, false), "var of 0-d");

  Input empty_rows = input("[0, 3]", zeros({0, 3}));
  for (bool keepdim : {false, true}) {
    check_exact(kernels::sum(empty_rows.cpu, {0}, keepdim), kernels::sum(empty_rows.gpu, {0}, keepdim), "sum");
    check_same(kernels::mean(empty_rows.cpu, {0}, keepdim), kernels::mean(empty_rows.gpu, {0}, keepdim), 0, "mean");
    check_same(kernels::var(empty_rows.cpu, {0}, 1, keepdim), kernels::var(empty_rows.gpu, {0}, 1, keepdim), 0,
               "var");
    check_exact(kernels::logsumexp(empty_rows.cpu, {0}, keepdim), kernels::logsumexp(empty_rows.gpu, {0}, keepdim),
                "logsumexp");
    check_exact(kernels::sum(empty_rows.cpu, {1}, keepdim), kernels::sum(empty_rows.gpu, {1}, keepdim),
                "sum to an empty result");
  }
  Input int_empty = input("int64 [4, 0]", zeros({4, 0}, kInt64));
  check_exact(kernels::sum(int_empty.cpu, {1}, false), kernels::sum(int_empty.gpu, {1}, false), "int64 sum of empty");
  check_same(kernels::mean(int_empty.cpu, {1}, false), kernels::mean(int_empty.gpu, {1}, false), 0,
             "int64 mean of empty");
  REQUIRE_THROWS_WITH(kernels::amax(empty_rows.gpu, {0}, false),
                      Catch::Contains("amax: cannot reduce over a zero-size dim of a tensor of shape [0, 3]"));
  REQUIRE_THROWS_WITH(kernels::argmax(empty_rows.gpu, 0, false), Catch::Contains("argmax: cannot reduce"));
  REQUIRE_THROWS_WITH(kernels::var(zeros({2, 3}, kInt64).to(gpu()), {}, 1, false),
                      Catch::Contains("var: expected a float32 or float64 tensor, got int64"));
}

TEST_CASE("cuda sum_to sums broadcast gradients back to the operand's shape", "[cuda]") {
  require_gpu_or_skip();
  // [B, T, C] gradients summed to a bias [C], a per-position [1, T, 1], a per-batch
  // [B, 1, C], and a [T, C] operand that lacked the batch dim; then the same from a
  // transposed gradient, and a large bias gradient of a transformer's [B·T, C].
  const Shape full_shape{16, 33, 70};
  Tensor g = random(full_shape, 11, kFloat32);
  const std::vector<Shape> targets = {{70}, {1, 33, 1}, {16, 1, 70}, {33, 70}, {1, 1, 1}, {33, 1}, {16, 33, 70}};
  for (const Input& in : {input("[16, 33, 70]", g),
                          input("transposed", random({16, 70, 33}, 12, kFloat32),
                                [](const Tensor& t) { return t.transpose(1, 2); })})
    for (const Shape& target : targets) {
      Tensor result = kernels::sum_to(in.gpu, target);
      REQUIRE(result.shape() == target);
      check_same(kernels::sum_to(in.cpu, target), result, kReductionTolerance,
                 "sum_to " + in.name + " -> " + shape_str(target));
    }
  for (const Shape& target : {Shape{768}, Shape{1, 768}}) {
    Input big = input("[8, 512, 768]", random({8, 512, 768}, 13, kFloat32));
    check_same(kernels::sum_to(big.cpu, target), kernels::sum_to(big.gpu, target), kReductionTolerance,
               "sum_to [8, 512, 768] -> " + shape_str(target));
  }
  REQUIRE_THROWS_WITH(kernels::sum_to(g.to(gpu()), {5}), Catch::Contains("cannot be summed to shape"));
}

// ---- softmax family ------------------------------------------------------------------------

TEST_CASE("cuda softmax, log_softmax and their backward match the CPU along every dim", "[cuda]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    const double tol = tolerance_for(dtype);
    const std::vector<Input> inputs = {
        input("[37, 129, 5]", random({37, 129, 5}, 20, dtype)),
        input("permuted [5, 129, 37] -> [37, 129, 5]", random({5, 129, 37}, 21, dtype),
              [](const Tensor& t) { return t.permute({2, 1, 0}); }),
        input("[64, 1000]", random({64, 1000}, 22, dtype)),
        input("[2, 300000]", random({2, 300000}, 23, dtype)),
        input("[3000, 2]", random({3000, 2}, 24, dtype)),
        input("[4, 1]", random({4, 1}, 25, dtype)),
    };
    for (const Input& in : inputs)
      for (int64_t dim = -1; dim < in.cpu.dim(); ++dim) {
        const std::string what = in.name + " dim " + std::to_string(dim) + " " + std::string(dtype_name(dtype));
        Tensor y_cpu = kernels::softmax(in.cpu, dim), y_gpu = kernels::softmax(in.gpu, dim);
        check_same(y_cpu, y_gpu, tol, "softmax " + what);
        Tensor logy_cpu = kernels::log_softmax(in.cpu, dim), logy_gpu = kernels::log_softmax(in.gpu, dim);
        check_same(logy_cpu, logy_gpu, tol, "log_softmax " + what);
        // The backward kernels on the CPU's outputs (so only the backward differs), with a
        // transposed upstream gradient where there are two dims to swap.
        Tensor dy = random(in.cpu.shape(), 26, dtype);
        Tensor dy_gpu = dy.to(gpu());
        if (in.cpu.dim() >= 2) {
          dy = kernels::contiguous_copy(dy.transpose(0, 1)).transpose(0, 1);
          dy_gpu = kernels::contiguous_copy(dy_gpu.transpose(0, 1)).transpose(0, 1);
        }
        check_same(kernels::softmax_backward(y_cpu, dy, dim), kernels::softmax_backward(y_cpu.to(gpu()), dy_gpu, dim),
                   tol, "softmax_backward " + what);
        check_same(kernels::log_softmax_backward(logy_cpu, dy, dim),
                   kernels::log_softmax_backward(logy_cpu.to(gpu()), dy_gpu, dim), tol,
                   "log_softmax_backward " + what);
      }
  }
}

TEST_CASE("cuda softmax is stable for large values and handles -inf like the CPU", "[cuda]") {
  require_gpu_or_skip();
  const double inf = std::numeric_limits<double>::infinity();
  // Logits around ±5000: exp would overflow without the max shift.
  Input large = input("around 5000", kernels::affine(random({50, 77}, 30, kFloat32), 100.0, 5000.0));
  Input small = input("around -5000", kernels::affine(random({50, 77}, 31, kFloat32), 100.0, -5000.0));
  for (const Input& in : {large, small})
    for (int64_t dim : {0, 1}) {
      Tensor y = kernels::softmax(in.gpu, dim);
      check_same(kernels::softmax(in.cpu, dim), y, kReductionTolerance, "softmax " + in.name);
      check_same(kernels::log_softmax(in.cpu, dim), kernels::log_softmax(in.gpu, dim), kReductionTolerance,
                 "log_softmax " + in.name);
      for (double v : y.to(kCPU).to_vector<double>()) REQUIRE(std::isfinite(v));
    }
  // A causal mask (-inf above the diagonal, so row 0 has one finite entry and the first
  // element of most rows' pieces is -inf), a row of all -inf (NaN, as on the CPU) and a row with +inf.
  Tensor masked = random({40, 40}, 32, kFloat32);
  for (int64_t i = 0; i < 40; ++i)
    for (int64_t j = i + 1; j < 40; ++j) masked.set({i, j}, -inf);
  Tensor flipped = kernels::contiguous_copy(masked.transpose(0, 1));  // -inf first in each row
  for (const Input& in : {input("causal mask", masked), input("mask with -inf first", flipped)})
    for (int64_t dim : {0, 1}) {
      check_elementwise(kernels::softmax(in.cpu, dim), kernels::softmax(in.gpu, dim), kReductionTolerance,
                        "softmax " + in.name + " dim " + std::to_string(dim));
      check_elementwise(kernels::log_softmax(in.cpu, dim), kernels::log_softmax(in.gpu, dim), kReductionTolerance,
                        "log_softmax " + in.name + " dim " + std::to_string(dim));
    }
  Tensor edges = random({3, 40}, 33, kFloat32);
  for (int64_t j = 0; j < 40; ++j) edges.set({0, j}, -inf);
  edges.set({1, 17}, inf);
  Input in = input("infinities", edges);
  check_elementwise(kernels::softmax(in.cpu, 1), kernels::softmax(in.gpu, 1), kReductionTolerance,
                    "softmax with infinities");
  check_elementwise(kernels::log_softmax(in.cpu, 1), kernels::log_softmax(in.gpu, 1), kReductionTolerance,
                    "log_softmax with infinities");
}

// ---- gradients through autograd ------------------------------------------------------------

TEST_CASE("cuda gradients of sum, mean, var, amax and logsumexp match the CPU", "[cuda]") {
  require_gpu_or_skip();
  Tensor x = distinct_values({37, 129, 5}, 40);
  for (const auto& dims : std::vector<std::vector<int64_t>>{{}, {-1}, {0}, {0, 2}})
    for (bool keepdim : {false, true}) {
      const std::string what = dims_str(dims, keepdim);
      check_gradient(x, [&](const Tensor& t) { return sum(t, dims, keepdim); }, "sum " + what);
      check_gradient(x, [&](const Tensor& t) { return mean(t, dims, keepdim); }, "mean " + what);
      check_gradient(x, [&](const Tensor& t) { return var(t, dims, 1, keepdim); }, "var " + what);
      check_gradient(x, [&](const Tensor& t) { return amax(t, dims, keepdim); }, "amax " + what);
      if (!dims.empty())
        check_gradient(x, [&](const Tensor& t) { return logsumexp(t, dims, keepdim); }, "logsumexp " + what);
    }
  check_gradient(x, [](const Tensor& t) { return max(t, 1, false).first; }, "max values dim 1");
  // Float64 too, through a transposed view.
  Tensor x64 = random({30, 41}, 41);
  check_gradient(x64, [](const Tensor& t) { return var(t.t(), {0}, 1, false); }, "var of a transpose, float64",
                 kFloat64Tolerance);
  check_gradient(x64, [](const Tensor& t) { return logsumexp(t.t(), {1}, true); }, "logsumexp of a transpose, float64",
                 kFloat64Tolerance);
}

TEST_CASE("cuda gradients of softmax and log_softmax match the CPU", "[cuda]") {
  require_gpu_or_skip();
  Tensor x = random({37, 129, 5}, 50, kFloat32);
  for (int64_t dim : {-1, 0, 1}) {
    const std::string what = "dim " + std::to_string(dim);
    check_gradient(x, [&](const Tensor& t) { return softmax(t, dim); }, "softmax " + what);
    check_gradient(x, [&](const Tensor& t) { return log_softmax(t, dim); }, "log_softmax " + what);
  }
  Tensor x64 = random({24, 300}, 51);
  check_gradient(x64, [](const Tensor& t) { return softmax(t.t(), 1); }, "softmax of a transpose, float64",
                 kFloat64Tolerance);
  check_gradient(x64, [](const Tensor& t) { return log_softmax(t, 1); }, "log_softmax float64", kFloat64Tolerance);
}
