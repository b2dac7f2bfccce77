// softmax and log_softmax: forward against a naive reference along every dim,
// stability for huge logits, gradcheck (also against the composite formula),
// the fused backward kernels, and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <numeric>

#include "focus.h"
#include "tensor/kernels.h"

using namespace focus;

namespace {

using Inputs = const std::vector<Tensor>&;

Tensor input(const Shape& shape, uint64_t seed, DType dtype = kFloat64) {
  Generator gen(seed);
  return randn(shape, dtype, &gen);
}

/// Logical shape `shape`, dims in reverse order in memory.
Tensor transposed(const Shape& shape, uint64_t seed, DType dtype = kFloat64) {
  std::vector<int64_t> reverse(shape.size());
  std::iota(reverse.begin(), reverse.end(), 0);
  std::reverse(reverse.begin(), reverse.end());
  return views::permute(input(Shape(shape.rbegin(), shape.rend()), seed, dtype), reverse);
}

/// Logical shape `shape`, every other element of a wider last dim.
Tensor sliced(const Shape& shape, uint64_t seed, DType dtype = kFloat64) {
  Shape wide = shape;
  wide.back() = 2 * shape.back();
  return views::slice(input(wide, seed, dtype), -1, 0, wide.back(), 2);
}

std::vector<std::pair<const char*, Tensor>> layouts(const Shape& shape, uint64_t seed, DType dtype = kFloat64) {
  return {{"contiguous", input(shape, seed, dtype)},
          {"transposed", transposed(shape, seed + 1, dtype)},
          {"sliced", sliced(shape, seed + 2, dtype)}};
}

/// Naive softmax (or log_softmax) along `dim`, in long double, as a row-major vector.
std::vector<double> naive_softmax(const Tensor& x, int64_t dim, bool log) {
  const Shape& shape = x.shape();
  if (dim < 0) dim += x.dim();
  int64_t outer = 1, size = shape[dim], inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[d];
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= shape[d];
  std::vector<double> v = x.to_vector<double>(), out(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t i) { return (o * size + i) * inner + j; };
      long double max = -INFINITY, total = 0;
      for (int64_t i = 0; i < size; ++i) max = std::max<long double>(max, v[at(i)]);
      for (int64_t i = 0; i < size; ++i) total += std::exp(v[at(i)] - max);
      for (int64_t i = 0; i < size; ++i)
        out[at(i)] = static_cast<double>(log ? v[at(i)] - max - std::log(total) : std::exp(v[at(i)] - max) / total);
    }
  return out;
}

void require_close(const std::vector<double>& got, const std::vector<double>& expected, double tol) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(got[i] == Approx(expected[i]).epsilon(tol).margin(tol));
  }
}

const std::vector<Shape> kShapes = {{5, 7}, {2, 3, 4}, {2, 3, 4, 5}};

}  // namespace

TEST_CASE("softmax and log_softmax match a naive reference along every dim", "[autograd][softmax]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    const double tol = dtype == kFloat32 ? 2e-6 : 1e-12;
    for (const Shape& shape : kShapes) {
      for (auto& [name, x] : layouts(shape, 1, dtype)) {
        for (int64_t dim = -x.dim(); dim < x.dim(); ++dim) {
          INFO(dtype_name(dtype) << " " << name << " " << shape_str(shape) << " dim " << dim);
          Tensor y = softmax(x, dim);
          REQUIRE(y.shape() == shape);
          REQUIRE(y.dtype() == dtype);
          require_close(y.to_vector<double>(), naive_softmax(x, dim, false), tol);
          require_close(log_softmax(x, dim).to_vector<double>(), naive_softmax(x, dim, true), tol);
          // Every row along dim sums to 1.
          for (double s : sum(y, {dim}).to_vector<double>()) REQUIRE(s == Approx(1.0).epsilon(tol));
          REQUIRE(x.softmax(dim).to_vector<double>() == y.to_vector<double>());
        }
      }
    }
  }
}

TEST_CASE("softmax of large inputs runs in parallel and matches the reference", "[autograd][softmax]") {
  for (const auto& [shape, dim] : std::vector<std::pair<Shape, int64_t>>{{{300, 1000}, 1}, {{64, 20, 50}, 1},
                                                                          {{2000, 40}, 0}}) {
    INFO(shape_str(shape) << " dim " << dim);
    Tensor x = input(shape, 2, kFloat32);
    require_close(softmax(x, dim).to_vector<double>(), naive_softmax(x, dim, false), 2e-6);
    require_close(log_softmax(x, dim).to_vector<double>(), naive_softmax(x, dim, true), 2e-6);
  }
}

TEST_CASE("softmax is stable for logits of +-1000", "[autograd][softmax]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    Tensor x = tensor({1000, -1000, 0, 1000}, {4}, dtype);
    std::vector<double> y = softmax(x, 0).to_vector<double>();
    REQUIRE(y == std::vector<double>{0.5, 0, 0, 0.5});
    std::vector<double> logy = log_softmax(x, 0).to_vector<double>();
    const double log2 = std::log(2.0);
    REQUIRE(logy[0] == Approx(-log2));
    REQUIRE(logy[1] == Approx(-2000 - log2));
    REQUIRE(logy[2] == Approx(-1000 - log2));
    REQUIRE(logy[3] == Approx(-log2));
    // The same along dim 0 of a matrix (the column path) and with all logits huge.
    Tensor columns = tensor({-1000, 1000, 1000, 999}, {2, 2}, dtype);
    std::vector<double> c = softmax(columns, 0).to_vector<double>();
    for (double v : c) REQUIRE(std::isfinite(v));
    REQUIRE(c[0] == 0);
    REQUIRE(c[2] == 1);
    REQUIRE(c[1] == Approx(1 / (1 + std::exp(-1.0))));
    for (double v : log_softmax(columns, 0).to_vector<double>()) REQUIRE(std::isfinite(v));
    // Gradients stay finite too.
    Tensor leaf = tensor({1000, -1000, 0, 1000}, {4}, dtype).requires_grad_();
    sum(mul(softmax(leaf, 0), tensor({1, 2, 3, 4}, {4}, dtype))).backward();
    for (double g : leaf.grad().to_vector<double>()) REQUIRE(std::isfinite(g));
  }
}

TEST_CASE("softmax and log_softmax gradients along every dim, on any layout", "[autograd][softmax]") {
  for (const Shape& shape : {Shape{4, 5}, Shape{2, 3, 4}}) {
    for (auto& [name, x] : layouts(shape, 3)) {
      Tensor leaf = x.requires_grad_();
      for (int64_t dim = -leaf.dim(); dim < leaf.dim(); ++dim) {
        INFO(name << " " << shape_str(shape) << " dim " << dim);
        REQUIRE(gradcheck([&](Inputs v) { return softmax(v[0], dim); }, {leaf}));
        REQUIRE(gradcheck([&](Inputs v) { return log_softmax(v[0], dim); }, {leaf}));
      }
    }
  }
  // A broadcast input, as attention scores plus a mask row would be.
  Tensor row = input({1, 6}, 4).requires_grad_();
  REQUIRE(gradcheck([](Inputs v) { return softmax(add(expand(v[0], {3, 6}), v[1]), -1); },
                    {row, input({3, 6}, 5).requires_grad_()}));
  REQUIRE(gradcheck([](Inputs v) { return log_softmax(expand(v[0], {3, 6}), 0); }, {row}));
}

TEST_CASE("the fused softmax gradients agree with the composite formulas", "[autograd][softmax]") {
  for (int64_t dim : {0, 1, 2}) {
    Tensor x = input({3, 4, 5}, 6).requires_grad_();
    Tensor dy = input({3, 4, 5}, 7);
    // softmax = exp(x) / Σ exp(x), log_softmax = x - log Σ exp(x): built from primitives.
    Tensor fused = softmax(x, dim);
    Tensor composite = div(exp(x), sum(exp(x), {dim}, true));
    require_close(fused.to_vector<double>(), composite.to_vector<double>(), 1e-12);
    fused.backward(dy);
    std::vector<double> fused_grad = x.grad().to_vector<double>();
    x.set_grad(Tensor());
    composite.backward(dy);
    require_close(fused_grad, x.grad().to_vector<double>(), 1e-12);

    x.set_grad(Tensor());
    Tensor fused_log = log_softmax(x, dim);
    Tensor composite_log = sub(x, logsumexp(x, {dim}, true));
    require_close(fused_log.to_vector<double>(), composite_log.to_vector<double>(), 1e-12);
    fused_log.backward(dy);
    fused_grad = x.grad().to_vector<double>();
    x.set_grad(Tensor());
    composite_log.backward(dy);
    require_close(fused_grad, x.grad().to_vector<double>(), 1e-12);
  }
}

TEST_CASE("softmax_backward kernels: dx = y (dy - Σ dy y) and dx = dy - exp(y) Σ dy", "[autograd][softmax]") {
  Tensor x = input({3, 4}, 8), dy = input({3, 4}, 9);
  Tensor y = kernels::softmax(x, 1), logy = kernels::log_softmax(x, 1);
  std::vector<double> yv = y.to_vector<double>(), lv = logy.to_vector<double>(), gv = dy.to_vector<double>();
  std::vector<double> expected(12), expected_log(12);
  for (int r = 0; r < 3; ++r) {
    double dot = 0, total = 0;
    for (int c = 0; c < 4; ++c) {
      dot += gv[r * 4 + c] * yv[r * 4 + c];
      total += gv[r * 4 + c];
    }
    for (int c = 0; c < 4; ++c) {
      expected[r * 4 + c] = yv[r * 4 + c] * (gv[r * 4 + c] - dot);
      expected_log[r * 4 + c] = gv[r * 4 + c] - std::exp(lv[r * 4 + c]) * total;
    }
  }
  require_close(kernels::softmax_backward(y, dy, 1).to_vector<double>(), expected, 1e-14);
  require_close(kernels::log_softmax_backward(logy, dy, -1).to_vector<double>(), expected_log, 1e-14);
  // A non-contiguous gradient (transposed storage) gives the same result.
  Tensor dy_t = views::transpose(kernels::contiguous_copy(views::transpose(dy, 0, 1)), 0, 1);
  REQUIRE(!dy_t.is_contiguous());
  require_close(kernels::softmax_backward(y, dy_t, 1).to_vector<double>(), expected, 1e-14);

  REQUIRE_THROWS_WITH(kernels::softmax_backward(y, zeros({4, 3}, kFloat64), 1),
                      Catch::Contains("softmax_backward: output of shape [3, 4] and gradient of shape [4, 3] differ"));
  REQUIRE_THROWS_WITH(kernels::log_softmax_backward(logy, zeros({3, 4}), 1),
                      Catch::Contains("log_softmax_backward: output is float64 but gradient is float32"));
}

TEST_CASE("softmax and log_softmax reject a bad dim or dtype", "[autograd][softmax]") {
  Tensor x = zeros({2, 3, 4});
  REQUIRE_THROWS_WITH(softmax(x, 3), Catch::Contains("softmax: dim 3 is out of range for a tensor of shape [2, 3, 4]"));
  REQUIRE_THROWS_WITH(softmax(x, -4), Catch::Contains("softmax: dim -4 is out of range"));
  REQUIRE_THROWS_WITH(log_softmax(x, 5),
                      Catch::Contains("log_softmax: dim 5 is out of range for a tensor of shape [2, 3, 4]"));
  REQUIRE_THROWS_WITH(softmax(zeros({3}, kInt64), 0),
                      Catch::Contains("softmax: expected a float32 or float64 tensor, got int64"));
  REQUIRE_THROWS_WITH(log_softmax(zeros({3}, kBool), 0),
                      Catch::Contains("log_softmax: expected a float32 or float64 tensor, got bool"));
}
