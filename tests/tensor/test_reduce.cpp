// Reduction kernels (tensor/cpu/reduce.cpp) against a naive nested-loop reference:
// sum, mean, var, amax, amin, max/min with indices, argmax, argmin, logsumexp, sum_to.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "focus.h"
#include "tensor/kernels.h"

using namespace focus;

namespace {

// ---- the naive reference -----------------------------------------------------------

std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

/// Every output's slice of x, in row-major order of the reduced dims (so for a
/// single reduced dim, position k in a slice is index k along that dim).
struct Slices {
  Shape out_shape;
  std::vector<std::vector<double>> values;  // one per output, row-major over out_shape
};

Slices slices_of(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const int64_t ndim = x.dim();
  std::vector<bool> reduced(ndim, dims.empty());
  for (int64_t d : dims) reduced[d < 0 ? d + ndim : d] = true;
  Shape keep;
  Slices s;
  for (int64_t d = 0; d < ndim; ++d) {
    keep.push_back(reduced[d] ? 1 : x.shape()[d]);
    if (!reduced[d] || keepdim) s.out_shape.push_back(keep.back());
  }
  Shape keep_strides(ndim);
  for (int64_t d = ndim - 1, stride = 1; d >= 0; --d) {
    keep_strides[d] = stride;
    stride *= keep[d];
  }
  s.values.resize(shape_numel(keep));
  std::vector<double> data = x.to_vector<double>();  // logical row-major order, whatever the strides
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    std::vector<int64_t> index = unravel(flat, x.shape());
    int64_t out = 0;
    for (int64_t d = 0; d < ndim; ++d)
      if (!reduced[d]) out += index[d] * keep_strides[d];
    s.values[out].push_back(data[flat]);
  }
  return s;
}

double naive_sum(const std::vector<double>& v) {
  long double total = 0;
  for (double x : v) total += x;
  return static_cast<double>(total);
}
double naive_mean(const std::vector<double>& v) { return naive_sum(v) / static_cast<double>(v.size()); }
double naive_var(const std::vector<double>& v, int64_t correction) {
  long double m = naive_mean(v), total = 0;
  for (double x : v) total += (x - m) * (x - m);
  return static_cast<double>(total / static_cast<long double>(static_cast<int64_t>(v.size()) - correction));
}
double naive_max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double naive_min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double naive_argmax(const std::vector<double>& v) {  // first index of the max
  return static_cast<double>(std::max_element(v.begin(), v.end()) - v.begin());
}
double naive_argmin(const std::vector<double>& v) {
  return static_cast<double>(std::min_element(v.begin(), v.end()) - v.begin());
}
double naive_logsumexp(const std::vector<double>& v) {
  long double total = 0;
  for (double x : v) total += std::exp(static_cast<long double>(x));
  return static_cast<double>(std::log(total));
}

/// Checks `got` against f applied to each slice. Float32 results come from double
/// accumulation, so they are within float rounding of the exact value.
template <typename F>
void check_against(const Tensor& got, const Slices& ref, F f, double rel, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == ref.out_shape);
  std::vector<double> values = got.to_vector<double>();
  REQUIRE(values.size() == ref.values.size());
  for (size_t o = 0; o < values.size(); ++o) {
    double expected = f(ref.values[o]);
    INFO("output " << o << " of " << values.size());
    REQUIRE(values[o] == Approx(expected).epsilon(rel).margin(rel));
  }
}

// ---- inputs: the same logical tensor in several memory layouts ----------------------

Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed) {
  Generator gen(seed);
  if (dtype == kInt64) return randint(-20, 21, shape, kInt64, &gen);
  return randn(shape, dtype, &gen);
}

/// (name, tensor) pairs with logical shape `shape`: contiguous, permuted strides,
/// a step slice (innermost stride 2), a window of a larger tensor, and a broadcast view.
std::vector<std::pair<std::string, Tensor>> layouts(const Shape& shape, DType dtype, uint64_t seed) {
  std::vector<std::pair<std::string, Tensor>> out;
  const int64_t n = static_cast<int64_t>(shape.size());
  out.emplace_back("contiguous", random_tensor(shape, dtype, seed));

  // Reversed dim order in memory: a permuted view of a contiguous tensor.
  Shape reversed(shape.rbegin(), shape.rend());
  std::vector<int64_t> back(n);
  std::iota(back.begin(), back.end(), 0);
  std::reverse(back.begin(), back.end());
  out.emplace_back("permuted", views::permute(random_tensor(reversed, dtype, seed + 1), back));

  Shape wide = shape;
  wide.back() = 2 * shape.back();
  out.emplace_back("step slice", views::slice(random_tensor(wide, dtype, seed + 2), n - 1, 0, wide.back(), 2));

  Shape bigger = shape;
  for (auto& s : bigger) s += 1;
  Tensor window = random_tensor(bigger, dtype, seed + 3);
  for (int64_t d = 0; d < n; ++d) window = views::slice(window, d, 1, bigger[d], 1);
  out.emplace_back("window", window);

  Shape one_row = shape;
  one_row[0] = 1;
  out.emplace_back("broadcast", views::expand(random_tensor(one_row, dtype, seed + 4), shape));
  return out;
}

/// All subsets of {0..ndim-1}; the empty one means "all dims" to the kernels.
std::vector<std::vector<int64_t>> all_dim_sets(int64_t ndim) {
  std::vector<std::vector<int64_t>> sets;
  for (int64_t mask = 0; mask < (1 << ndim); ++mask) {
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < ndim; ++d)
      if (mask & (1 << d)) dims.push_back(mask % 3 == 0 ? d - ndim : d);  // some as negative dims
    sets.push_back(dims);
  }
  return sets;
}

std::string describe(const std::string& layout, const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  std::string d;
  for (int64_t v : dims) d += std::to_string(v) + " ";
  return layout + " " + shape_str(shape) + " dims {" + d + "} keepdim " + (keepdim ? "true" : "false");
}

const std::vector<Shape> kShapes = {{7, 5}, {3, 4, 6}, {2, 3, 4, 5}, {4, 1, 9}};

}  // namespace

TEST_CASE("sum, mean, var, amax and amin match a naive reference over every set of dims", "[reduce]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    const double rel = dtype == kFloat32 ? 2e-6 : 1e-12;
    for (const Shape& shape : kShapes) {
      for (auto& [name, x] : layouts(shape, dtype, 11)) {
        for (const auto& dims : all_dim_sets(x.dim())) {
          for (bool keepdim : {false, true}) {
            std::string what = std::string(dtype_name(dtype)) + " " + describe(name, shape, dims, keepdim);
            Slices ref = slices_of(x, dims, keepdim);
            check_against(kernels::sum(x, dims, keepdim), ref, naive_sum, rel, "sum " + what);
            check_against(kernels::mean(x, dims, keepdim), ref, naive_mean, rel, "mean " + what);
            check_against(kernels::amax(x, dims, keepdim), ref, naive_max, 0, "amax " + what);
            check_against(kernels::amin(x, dims, keepdim), ref, naive_min, 0, "amin " + what);
            bool enough = x.numel() / std::max<int64_t>(shape_numel(ref.out_shape), 1) > 1;
            if (enough) {  // var of a single element divides by 0
              check_against(kernels::var(x, dims, 1, keepdim), ref, [](auto& v) { return naive_var(v, 1); }, rel * 10,
                            "var " + what);
              check_against(kernels::var(x, dims, 0, keepdim), ref, [](auto& v) { return naive_var(v, 0); }, rel * 10,
                            "var(correction 0) " + what);
            }
            check_against(kernels::logsumexp(x, dims, keepdim), ref, naive_logsumexp, rel * 10, "logsumexp " + what);
          }
        }
      }
    }
  }
}

TEST_CASE("int64 and bool reductions: sums are int64 and exact, means are float32", "[reduce]") {
  for (const Shape& shape : kShapes) {
    for (auto& [name, x] : layouts(shape, kInt64, 21)) {
      for (const auto& dims : all_dim_sets(x.dim())) {
        for (bool keepdim : {false, true}) {
          std::string what = describe(name, shape, dims, keepdim);
          Slices ref = slices_of(x, dims, keepdim);
          Tensor s = kernels::sum(x, dims, keepdim);
          REQUIRE(s.dtype() == kInt64);
          check_against(s, ref, naive_sum, 0, "sum " + what);
          check_against(kernels::amax(x, dims, keepdim), ref, naive_max, 0, "amax " + what);
          check_against(kernels::amin(x, dims, keepdim), ref, naive_min, 0, "amin " + what);
          Tensor m = kernels::mean(x, dims, keepdim);
          REQUIRE(m.dtype() == kFloat32);
          check_against(m, ref, naive_mean, 1e-6, "mean " + what);
        }
      }
    }
  }
  Tensor mask = kernels::gt(tensor({1, -2, 3, 4, -5, 6}, {2, 3}), scalar_tensor(0));
  Tensor count = kernels::sum(mask, {1}, false);
  REQUIRE(count.dtype() == kInt64);
  REQUIRE(count.to_vector<int64_t>() == std::vector<int64_t>{2, 2});
  REQUIRE(kernels::mean(mask, {}, false).item<double>() == Approx(4.0 / 6.0));
  REQUIRE(kernels::amax(mask, {0}, false).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
}

TEST_CASE("max, min, argmax and argmin along each dim match a naive reference", "[reduce]") {
  for (DType dtype : {kFloat32, kFloat64, kInt64}) {
    for (const Shape& shape : kShapes) {
      for (auto& [name, x] : layouts(shape, dtype, 31)) {
        for (int64_t dim = -x.dim(); dim < x.dim(); ++dim) {
          for (bool keepdim : {false, true}) {
            std::string what = std::string(dtype_name(dtype)) + " " + describe(name, shape, {dim}, keepdim);
            Slices ref = slices_of(x, {dim}, keepdim);
            auto [values, indices] = kernels::max(x, dim, keepdim);
            REQUIRE(indices.dtype() == kInt64);
            REQUIRE(values.dtype() == dtype);
            check_against(values, ref, naive_max, 0, "max values " + what);
            check_against(indices, ref, naive_argmax, 0, "max indices " + what);
            auto [min_values, min_indices] = kernels::min(x, dim, keepdim);
            check_against(min_values, ref, naive_min, 0, "min values " + what);
            check_against(min_indices, ref, naive_argmin, 0, "min indices " + what);
            check_against(kernels::argmax(x, dim, keepdim), ref, naive_argmax, 0, "argmax " + what);
            check_against(kernels::argmin(x, dim, keepdim), ref, naive_argmin, 0, "argmin " + what);
          }
        }
      }
    }
  }
}

TEST_CASE("argmax and max pick the first index on ties, in rows and in columns", "[reduce]") {
  // Int64 inputs in a small range make many ties: checked in bulk against the reference.
  Generator gen(5);
  Tensor x = randint(0, 3, {40, 50}, kInt64, &gen);
  for (int64_t dim : {0, 1}) {
    Slices ref = slices_of(x, {dim}, false);
    check_against(kernels::argmax(x, dim, false), ref, naive_argmax, 0, "argmax ties dim " + std::to_string(dim));
    check_against(kernels::argmin(x, dim, false), ref, naive_argmin, 0, "argmin ties dim " + std::to_string(dim));
  }
  Tensor t = tensor({1, 3, 3, 2, 3}, {5});
  REQUIRE(kernels::argmax(t, 0, false).item<int64_t>() == 1);
  REQUIRE(kernels::max(t, 0, false).second.item<int64_t>() == 1);
  // Column mode (reducing dim 0 of a contiguous matrix) ties too.
  Tensor c = tensor({5, 9, 7, 9, 7, 2}, {3, 2});  // columns {5, 7, 7} and {9, 9, 2}
  REQUIRE(kernels::argmax(c, 0, false).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  REQUIRE(kernels::max(c, 0, false).second.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  // All -inf: the first index, value -inf.
  double inf = std::numeric_limits<double>::infinity();
  Tensor all_low = full({4}, -inf);
  REQUIRE(kernels::argmax(all_low, 0, false).item<int64_t>() == 0);
  REQUIRE(kernels::amax(all_low, {}, false).item<double>() == -inf);
}

TEST_CASE("a NaN wins max, min, argmax and amax (it propagates, as in PyTorch)", "[reduce]") {
  double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t n : {5, 100}) {  // a short row, and one long enough for the vectorised loop
    Tensor x = arange(0.0, static_cast<double>(n), 1.0, kFloat32);
    x.set({3}, nan);
    REQUIRE(std::isnan(kernels::amax(x, {}, false).item<double>()));
    REQUIRE(std::isnan(kernels::amin(x, {}, false).item<double>()));
    REQUIRE(kernels::argmax(x, 0, false).item<int64_t>() == 3);
    REQUIRE(kernels::argmin(x, 0, false).item<int64_t>() == 3);
    REQUIRE(std::isnan(kernels::max(x, 0, false).first.item<double>()));
    // And in column mode.
    Tensor column = views::expand(views::unsqueeze(x, 1), {n, 4});
    REQUIRE(kernels::argmax(kernels::contiguous_copy(column), 0, false).to_vector<int64_t>() ==
            std::vector<int64_t>(4, 3));
  }
}

TEST_CASE("float32 sums accumulate in double", "[reduce]") {
  REQUIRE(kernels::sum(ones({1000000}), {}, false).item<double>() == 1000000.0);
  // 0.1f ten million times: float accumulation would drift by percent.
  Tensor tenths = full({10000000}, 0.1);
  double exact = 10000000.0 * static_cast<double>(0.1f);
  REQUIRE(kernels::sum(tenths, {}, false).item<double>() == Approx(exact).epsilon(1e-7));
  REQUIRE(kernels::mean(tenths, {}, false).item<double>() == Approx(0.1f).epsilon(1e-7));
  // Columns too: (1e6, 2) summed over dim 0.
  Tensor columns = full({1000000, 2}, 0.1);
  for (double v : kernels::sum(columns, {0}, false).to_vector<double>())
    REQUIRE(v == Approx(1000000.0 * static_cast<double>(0.1f)).epsilon(1e-7));
}

TEST_CASE("var is two-pass: no cancellation for a large mean and a small spread", "[reduce]") {
  // Values 1e4 + {0, 0.5, 1, ...}: float32 Σx² - (Σx)²/n would lose every digit.
  Tensor x = kernels::add(full({1000}, 10000.0), arange(0.0, 500.0, 0.5, kFloat32));
  std::vector<double> v = x.to_vector<double>();
  REQUIRE(kernels::var(x, {}, 1, false).item<double>() == Approx(naive_var(v, 1)).epsilon(1e-6));
  // Hand-computed: var of {1, 2, 3, 4} is 5/3 unbiased, 5/4 population.
  Tensor small = tensor({1, 2, 3, 4});
  REQUIRE(kernels::var(small, {0}, 1, false).item<double>() == Approx(5.0 / 3.0));
  REQUIRE(kernels::var(small, {0}, 0, false).item<double>() == Approx(1.25));
}

TEST_CASE("logsumexp does not overflow", "[reduce]") {
  Tensor big = tensor({1000, 1000, -1000}, {3}, kFloat64);
  REQUIRE(kernels::logsumexp(big, {0}, false).item<double>() == Approx(1000 + std::log(2.0)));
  Tensor small = tensor({-1000, -1000}, {2});
  REQUIRE(kernels::logsumexp(small, {0}, false).item<double>() == Approx(-1000 + std::log(2.0)));
  double inf = std::numeric_limits<double>::infinity();
  REQUIRE(kernels::logsumexp(full({3}, -inf), {0}, false).item<double>() == -inf);
  Tensor with_inf = tensor({1, 2, 3});
  with_inf.set({1}, inf);
  REQUIRE(kernels::logsumexp(with_inf, {0}, false).item<double>() == inf);
}

TEST_CASE("large reductions take the parallel paths and agree with the reference", "[reduce][parallel]") {
  // Shapes that go down each parallel path: many outputs, few long rows (split
  // rows), one output, few wide columns (split rows of columns), many column blocks.
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{600, 300}, {1}},      {{3, 70000}, {1}},   {{200000}, {}},     {{70000, 3}, {0}},
      {{2, 40000, 3}, {1}},   {{300, 20000}, {0}}, {{8, 64, 32, 32}, {0, 2, 3}}, {{64, 2, 1000}, {0, 2}},
  };
  const int saved_threads = get_num_threads();
  for (int threads : {1, 2, 3, 4}) {
    set_num_threads(threads);
    for (const auto& [shape, dims] : cases) {
      Tensor x = random_tensor(shape, kFloat32, 41);
      std::string what = std::to_string(threads) + " threads " + describe("contiguous", shape, dims, false);
      Slices ref = slices_of(x, dims, false);
      check_against(kernels::sum(x, dims, false), ref, naive_sum, 2e-6, "sum " + what);
      check_against(kernels::var(x, dims, 1, false), ref, [](auto& v) { return naive_var(v, 1); }, 2e-6, "var " + what);
      check_against(kernels::amax(x, dims, false), ref, naive_max, 0, "amax " + what);
      check_against(kernels::logsumexp(x, dims, false), ref, naive_logsumexp, 2e-6, "logsumexp " + what);
      if (dims.size() == 1) {
        check_against(kernels::argmax(x, dims[0], false), ref, naive_argmax, 0, "argmax " + what);
        check_against(kernels::argmin(x, dims[0], false), ref, naive_argmin, 0, "argmin " + what);
      }
    }
    // An argmax whose best value sits at the very end of a long split row.
    Tensor ramp = arange(0.0, 300000.0, 1.0, kFloat32);
    REQUIRE(kernels::argmax(ramp, 0, false).item<int64_t>() == 299999);
    REQUIRE(kernels::argmin(ramp, 0, false).item<int64_t>() == 0);
  }
  set_num_threads(saved_threads);
}

TEST_CASE("reductions of 0-d and empty tensors", "[reduce]") {
  Tensor s = scalar_tensor(3.5);
  REQUIRE(kernels::sum(s, {}, false).item<double>() == 3.5);
  REQUIRE(kernels::sum(s, {0}, false).dim() == 0);
  REQUIRE(kernels::amax(s, {-1}, true).item<double>() == 3.5);
  REQUIRE(kernels::argmax(s, 0, false).item<int64_t>() == 0);

  Tensor empty_rows = zeros({0, 3});
  Tensor sums = kernels::sum(empty_rows, {0}, false);
  REQUIRE(sums.shape() == Shape{3});
  REQUIRE(sums.to_vector<float>() == std::vector<float>{0, 0, 0});
  REQUIRE(std::isnan(kernels::mean(empty_rows, {0}, false).at({0})));
  REQUIRE(kernels::sum(empty_rows, {1}, false).shape() == Shape{0});
  REQUIRE(kernels::logsumexp(empty_rows, {0}, false).at({1}) == -std::numeric_limits<double>::infinity());
  REQUIRE_THROWS_WITH(kernels::amax(empty_rows, {0}, false),
                      Catch::Contains("amax: cannot reduce over a zero-size dim of a tensor of shape [0, 3]"));
  REQUIRE_THROWS_WITH(kernels::argmax(empty_rows, 0, false),
                      Catch::Contains("argmax: cannot reduce over a zero-size dim"));
}

TEST_CASE("reductions reject bad dims, dtypes and corrections with clear messages", "[reduce]") {
  Tensor x = zeros({2, 3, 4});
  REQUIRE_THROWS_WITH(kernels::sum(x, {1, -2}, false),
                      Catch::Contains("sum: dim 1 appears more than once in dims [1, -2] (tensor of shape [2, 3, 4])"));
  REQUIRE_THROWS_WITH(
      kernels::mean(x, {3}, false),
      Catch::Contains("mean: dim 3 is out of range for a tensor of shape [2, 3, 4] (expected -3 to 2)"));
  REQUIRE_THROWS_WITH(kernels::amax(x, {-4}, false), Catch::Contains("amax: dim -4 is out of range"));
  REQUIRE_THROWS_WITH(kernels::argmax(x, 5, false), Catch::Contains("argmax: dim 5 is out of range"));
  REQUIRE_THROWS_WITH(kernels::max(x, -7, false), Catch::Contains("max: dim -7 is out of range"));
  REQUIRE_THROWS_WITH(kernels::var(x, {0, 0}, 1, false), Catch::Contains("var: dim 0 appears more than once"));
  REQUIRE_THROWS_WITH(kernels::var(zeros({3}, kInt64), {}, 1, false),
                      Catch::Contains("var: expected a float32 or float64 tensor, got int64"));
  REQUIRE_THROWS_WITH(kernels::var(x, {}, -1, false), Catch::Contains("var: correction must be >= 0, got -1"));
  REQUIRE_THROWS_WITH(kernels::logsumexp(zeros({3}, kInt64), {}, false),
                      Catch::Contains("logsumexp: expected a float32 or float64 tensor, got int64"));
}

TEST_CASE("sum_to sums a broadcast gradient back to the operand's shape", "[reduce][sum_to]") {
  Tensor g = random_tensor({2, 3, 4}, kFloat64, 51);
  struct Case {
    Shape target;
    std::vector<int64_t> dims;  // dims of g summed (keepdim) to reach the target
  };
  const std::vector<Case> cases = {
      {{3, 4}, {0}},       {{4}, {0, 1}},     {{1, 4}, {0, 1}},  {{3, 1}, {0, 2}}, {{2, 1, 4}, {1}},
      {{1, 3, 1}, {0, 2}}, {{1}, {0, 1, 2}},  {{}, {0, 1, 2}},   {{2, 3, 1}, {2}}, {{1, 1, 1}, {0, 1, 2}},
  };
  for (const Case& c : cases) {
    INFO("target " << shape_str(c.target));
    Tensor got = kernels::sum_to(g, c.target);
    REQUIRE(got.shape() == c.target);
    Slices ref = slices_of(g, c.dims, true);
    std::vector<double> values = got.to_vector<double>();
    REQUIRE(values.size() == ref.values.size());
    for (size_t o = 0; o < values.size(); ++o) REQUIRE(values[o] == Approx(naive_sum(ref.values[o])).epsilon(1e-12));
  }
  // Nothing broadcast: the same tensor back, no copy.
  REQUIRE(kernels::sum_to(g, {2, 3, 4}).shares_storage(g));
  // sum_to undoes expand: each element counted once per copy.
  Tensor bias = tensor({1, 2, 3}, {3});
  Tensor expanded = views::expand(bias, {4, 5, 3});
  REQUIRE(kernels::sum_to(expanded, {3}).to_vector<float>() == std::vector<float>{20, 40, 60});
  REQUIRE(kernels::sum_to(expanded, {5, 1}).to_vector<float>() == std::vector<float>(5, 24));
  // A transposed gradient.
  Tensor gt = views::transpose(random_tensor({4, 6}, kFloat64, 52), 0, 1);  // (6, 4)
  Tensor col = kernels::sum_to(gt, {6, 1});
  Slices ref = slices_of(gt, {1}, true);
  for (int64_t i = 0; i < 6; ++i) REQUIRE(col.at({i, 0}) == Approx(naive_sum(ref.values[i])));

  REQUIRE_THROWS_WITH(kernels::sum_to(g, {4, 4}),
                      Catch::Contains("sum_to: a tensor of shape [2, 3, 4] cannot be summed to shape [4, 4]"));
  REQUIRE_THROWS_WITH(kernels::sum_to(g, {5, 2, 3, 4}),
                      Catch::Contains("sum_to: a tensor of shape [2, 3, 4] cannot be summed to shape [5, 2, 3, 4]"));
}

TEST_CASE("reduced_dims_mask resolves negative dims and empty lists", "[reduce]") {
  REQUIRE(kernels::reduced_dims_mask({2, 3, 4}, {}, "op") == std::vector<bool>{true, true, true});
  REQUIRE(kernels::reduced_dims_mask({2, 3, 4}, {-1, 0}, "op") == std::vector<bool>{true, false, true});
  REQUIRE(kernels::reduced_dims_mask({}, {0}, "op").empty());
  REQUIRE_THROWS_WITH(kernels::reduced_dims_mask({}, {1}, "op"), Catch::Contains("op: dim 1 is out of range"));
}
