// nn::Linear and functional::linear (the fused GEMM-onto-bias op): forward against
// a naive loop, gradients numerically and against the composite matmul + add,
// default initialisation, and the error messages.
#include <catch2/catch.hpp>
#include <cmath>

#include "focus.h"
#include "nn/functional/linear.h"
#include "nn/gradcheck.h"
#include "nn/layers/linear.h"
#include "../support.h"

using namespace focus;
using focus::testing::random;
using focus::testing::random_leaf;
namespace F = focus::nn::functional;

namespace {

// y[r, o] = Σ_i x[r, i]·W[o, i] + b[o] over x flattened to rows.
std::vector<double> naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t K = w.size(1), N = w.size(0), M = x.numel() / K;
  std::vector<double> xv = x.contiguous().to_vector<double>(), wv = w.contiguous().to_vector<double>();
  std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>(N, 0.0);
  std::vector<double> y(M * N);
  for (int64_t r = 0; r < M; ++r)
    for (int64_t o = 0; o < N; ++o) {
      double s = bv[o];
      for (int64_t i = 0; i < K; ++i) s += xv[r * K + i] * wv[o * K + i];
      y[r * N + o] = s;
    }
  return y;
}

void require_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
}

}  // namespace

TEST_CASE("linear forward matches the naive loop for any leading dims", "[linear]") {
  Tensor w = random({5, 3}, 1, kFloat32), b = random({5}, 2, kFloat32);
  for (const Shape& shape : {Shape{4, 3}, Shape{2, 3, 3}, Shape{3}, Shape{0, 3}}) {
    Tensor x = random(shape, 3, kFloat32);
    Tensor y = F::linear(x, w, b);
    Shape expected = shape;
    expected.back() = 5;
    REQUIRE(y.shape() == expected);
    require_close(y.to_vector<double>(), naive_linear(x, w, b), 1e-5);
    require_close(F::linear(x, w).to_vector<double>(), naive_linear(x, w, {}), 1e-5);
  }
  // Non-contiguous operands: a transposed input and a transposed weight view.
  Tensor xt = random({3, 6}, 4, kFloat32).t();  // [6, 3]
  Tensor wt = random({3, 5}, 5, kFloat32).t();  // [5, 3]
  require_close(F::linear(xt, wt, b).to_vector<double>(), naive_linear(xt, wt, b), 1e-5);
}

TEST_CASE("linear gradients are right numerically", "[linear][gradcheck]") {
  Tensor w = random_leaf({4, 3}, 11), b = random_leaf({4}, 12);
  auto fn = [](const std::vector<Tensor>& in) { return F::linear(in[0], in[1], in[2]); };
  SECTION("contiguous, 2-D and 3-D inputs") {
    REQUIRE(gradcheck(fn, {random_leaf({5, 3}, 13), w, b}));
    REQUIRE(gradcheck(fn, {random_leaf({2, 3, 3}, 14), w, b}));
    REQUIRE(gradcheck(fn, {random_leaf({3}, 15), w, b}));
  }
  SECTION("transposed input and weight views") {
    Tensor xt = random_leaf({3, 5}, 16), wt = random_leaf({3, 4}, 17);
    auto transposed = [](const std::vector<Tensor>& in) { return F::linear(in[0].t(), in[1].t(), in[2]); };
    REQUIRE(gradcheck(transposed, {xt, wt, b}));
  }
  SECTION("a sliced input") {
    Tensor wide = random_leaf({5, 7}, 18);
    auto sliced = [](const std::vector<Tensor>& in) { return F::linear(in[0].slice(1, 1, 7, 2), in[1], in[2]); };
    REQUIRE(gradcheck(sliced, {wide, w, b}));
  }
  SECTION("a broadcast (expanded) input and no bias") {
    auto broadcast = [](const std::vector<Tensor>& in) { return F::linear(in[0].expand({6, 3}), in[1]); };
    REQUIRE(gradcheck(broadcast, {random_leaf({1, 3}, 19), w}));
  }
}

TEST_CASE("fused linear agrees with matmul + add, values and gradients", "[linear]") {
  Tensor x1 = random_leaf({2, 5, 3}, 21), w1 = random_leaf({4, 3}, 22), b1 = random_leaf({4}, 23);
  Tensor x2 = x1.detach().clone().requires_grad_(), w2 = w1.detach().clone().requires_grad_(),
         b2 = b1.detach().clone().requires_grad_();
  Tensor upstream = random({2, 5, 4}, 24);
  Tensor fused = F::linear(x1, w1, b1);
  Tensor composite = add(matmul(x2, w2.t()), b2);
  require_close(fused.to_vector<double>(), composite.to_vector<double>(), 1e-12);
  sum(mul(fused, upstream)).backward();
  sum(mul(composite, upstream)).backward();
  require_close(x1.grad().to_vector<double>(), x2.grad().to_vector<double>(), 1e-12);
  require_close(w1.grad().to_vector<double>(), w2.grad().to_vector<double>(), 1e-12);
  require_close(b1.grad().to_vector<double>(), b2.grad().to_vector<double>(), 1e-12);
}

TEST_CASE("Linear layer: parameters, default init, gradcheck, parity", "[linear]") {
  manual_seed(5);
  nn::Linear fc(64, 10);
  CHECK(fc.weight.shape() == Shape{10, 64});
  CHECK(fc.bias.shape() == Shape{10});
  CHECK(fc.num_parameters() == 650);
  CHECK(fc.extra_repr() == "in_features=64, out_features=10, bias=true");
  // PyTorch's default: U(−1/√in, 1/√in) for weight and bias.
  const double bound = 1.0 / 8.0;
  for (double v : fc.weight.to_vector<double>()) REQUIRE(std::abs(v) <= bound);
  for (double v : fc.bias.to_vector<double>()) REQUIRE(std::abs(v) <= bound);
  double max_abs = 0;
  for (double v : fc.weight.to_vector<double>()) max_abs = std::max(max_abs, std::abs(v));
  CHECK(max_abs > 0.9 * bound);

  nn::Linear small(3, 2);
  Tensor x = random_leaf({4, 3}, 31);
  REQUIRE(nn::gradcheck(small, [&](const std::vector<Tensor>& in) { return small(in[0]); }, {x}));
  small.to(kFloat64);  // nn::gradcheck gave the layer back in float32
  Tensor y = small(x);
  CHECK(y.to_vector<double>() == F::linear(x, small.weight, small.bias).to_vector<double>());
  CHECK(small.last_output_shape() == Shape{4, 2});

  nn::Linear no_bias(nn::LinearOptions(3, 2).bias(false));
  CHECK_FALSE(no_bias.bias.defined());
  CHECK(no_bias.named_parameters().size() == 1);
  CHECK(no_bias.named_parameters()[0].first == "weight");
}

TEST_CASE("LinearOptions: PyTorch's names and defaults, a generator draws the same layer twice", "[linear]") {
  const nn::LinearOptions options(5, 3);
  CHECK(options.in_features() == 5);
  CHECK(options.out_features() == 3);
  CHECK(options.bias());
  nn::Linear fc(nn::LinearOptions(5, 3).bias(false));
  CHECK(fc.options.in_features() == 5);
  CHECK_FALSE(fc.options.bias());
  CHECK(fc.extra_repr() == "in_features=5, out_features=3, bias=false");
  Generator first(9), second(9);
  nn::Linear a(options, &first), b(options, &second);
  CHECK(a.weight.to_vector<float>() == b.weight.to_vector<float>());
  CHECK(a.bias.to_vector<float>() == b.bias.to_vector<float>());
}

TEST_CASE("Linear state_dict round trip", "[linear]") {
  nn::Linear a(3, 2), b(3, 2);
  b.load_state_dict(a.state_dict());
  Tensor x = random({2, 3}, 41, kFloat32);
  CHECK(a(x).to_vector<float>() == b(x).to_vector<float>());
}

TEST_CASE("linear error messages name the shapes", "[linear]") {
  nn::Linear fc(4, 2);
  REQUIRE_THROWS_WITH(fc(zeros({8, 5})),
                      Catch::Contains("Linear(in_features=4, out_features=2): input of shape [8, 5] has 5 features, "
                                      "expected 4"));
  REQUIRE_THROWS_WITH(F::linear(zeros({8, 5}), zeros({2, 4})),
                      Catch::Contains("linear: input of shape [8, 5] and weight of shape [2, 4]"));
  REQUIRE_THROWS_WITH(F::linear(zeros({8, 4}), zeros({2, 4}), zeros({3})),
                      Catch::Contains("bias of shape [3] does not match weight of shape [2, 4]"));
  REQUIRE_THROWS_WITH(F::linear(zeros({8, 4}), zeros({4})), Catch::Contains("weight must have shape"));
  REQUIRE_THROWS_WITH(F::linear(zeros({8, 4}), zeros({2, 4}, kFloat64)), Catch::Contains("float32 and float64"));
}

TEST_CASE("linear backward takes a broadcast upstream gradient", "[linear]") {
  // sum() sends back a stride-0 expanded gradient of ones.
  Tensor x = random_leaf({3, 2}, 51), w = random_leaf({4, 2}, 52), b = random_leaf({4}, 53);
  sum(F::linear(x, w, b)).backward();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 2; ++k) {
      double column = 0;  // dx[i, k] = Σ_o W[o, k]
      for (int64_t o = 0; o < 4; ++o) column += w.at({o, k});
      CHECK(x.grad().at({i, k}) == Approx(column));
    }
  for (int64_t o = 0; o < 4; ++o) {
    CHECK(b.grad().at({o}) == Approx(3.0));
    for (int64_t k = 0; k < 2; ++k)  // dW[o, k] = Σ_i x[i, k]
      CHECK(w.grad().at({o, k}) == Approx(x.at({0, k}) + x.at({1, k}) + x.at({2, k})));
  }
}
