// nn::LayerNorm and the fused layer_norm op: forward against a naive double loop,
// gradients numerically and against the composite mean/var version, stability
// with a large mean, the layer's parameters and errors.
#include <catch2/catch.hpp>
#include <cmath>

#include "focus.h"
#include "nn/functional/normalization.h"
#include "nn/gradcheck.h"
#include "nn/layers/layer_norm.h"
#include "../support.h"

using namespace focus;
using focus::testing::random;
using focus::testing::random_leaf;
namespace F = focus::nn::functional;

namespace {

// Per row of D trailing elements: (x − mean)/√(var + eps)·w + b, in double.
std::vector<double> naive_layer_norm(const Tensor& x, int64_t D, const Tensor& w, const Tensor& b, double eps) {
  std::vector<double> xv = x.contiguous().to_vector<double>(), out(xv.size());
  std::vector<double> wv = w.defined() ? w.contiguous().to_vector<double>() : std::vector<double>(D, 1.0);
  std::vector<double> bv = b.defined() ? b.contiguous().to_vector<double>() : std::vector<double>(D, 0.0);
  for (size_t r = 0; r < xv.size() / D; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < D; ++j) mean += xv[r * D + j];
    mean /= D;
    for (int64_t j = 0; j < D; ++j) var += (xv[r * D + j] - mean) * (xv[r * D + j] - mean);
    var /= D;
    for (int64_t j = 0; j < D; ++j) out[r * D + j] = (xv[r * D + j] - mean) / std::sqrt(var + eps) * wv[j] + bv[j];
  }
  return out;
}

// The same function composed from primitive ops (population variance).
Tensor composite_layer_norm(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& w, const Tensor& b,
                            double eps) {
  Tensor centred = sub(x, mean(x, dims, true));
  Tensor normalised = div(centred, sqrt(add(var(x, dims, 0, true), scalar_tensor(eps, x.dtype()))));
  return add(mul(normalised, w), b);
}

void require_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / (1 + std::abs(want[i])));
  INFO("worst relative error " << worst);
  REQUIRE(worst <= tol);
}

}  // namespace

TEST_CASE("layer_norm forward matches the naive loop", "[layer_norm]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    const double tol = dtype == kFloat32 ? 1e-5 : 1e-12;
    Tensor x = random({4, 6}, 1, dtype), w = random({6}, 2, dtype), b = random({6}, 3, dtype);
    require_close(F::layer_norm(x, {6}, w, b).to_vector<double>(), naive_layer_norm(x, 6, w, b, 1e-5), tol);
    require_close(F::layer_norm(x, {6}).to_vector<double>(), naive_layer_norm(x, 6, {}, {}, 1e-5), tol);

    Tensor x3 = random({2, 3, 4}, 4, dtype), w2 = random({3, 4}, 5, dtype), b2 = random({3, 4}, 6, dtype);
    require_close(F::layer_norm(x3, {3, 4}, w2, b2, 1e-3).to_vector<double>(), naive_layer_norm(x3, 12, w2, b2, 1e-3),
                  tol);
    Tensor xt = random({5, 2, 3}, 7, dtype).transpose(0, 2);  // non-contiguous [3, 2, 5]
    require_close(F::layer_norm(xt, {5}, {}, random({5}, 8, dtype)).to_vector<double>(),
                  naive_layer_norm(xt, 5, {}, random({5}, 8, dtype), 1e-5), tol);
  }
}

TEST_CASE("layer_norm is stable when the mean dwarfs the spread", "[layer_norm]") {
  // float32 rows around 10⁴ with spread 10⁻¹: E[x²] − E[x]² would lose every digit.
  Tensor x = add(random({8, 64}, 9, kFloat32), scalar_tensor(1e4)).contiguous();
  x = add(mul(sub(x, scalar_tensor(1e4)), scalar_tensor(0.1)), scalar_tensor(1e4));
  std::vector<double> want = naive_layer_norm(x, 64, {}, {}, 1e-5);
  require_close(F::layer_norm(x, {64}).to_vector<double>(), want, 2e-3);
}

TEST_CASE("layer_norm gradients are right numerically", "[layer_norm][gradcheck]") {
  auto fn = [](const std::vector<Tensor>& in) { return F::layer_norm(in[0], {4}, in[1], in[2]); };
  SECTION("contiguous") { REQUIRE(gradcheck(fn, {random_leaf({3, 4}, 11), random_leaf({4}, 12), random_leaf({4}, 13)})); }
  SECTION("two normalised dims") {
    auto fn2 = [](const std::vector<Tensor>& in) { return F::layer_norm(in[0], {3, 2}, in[1], in[2], 1e-3); };
    REQUIRE(gradcheck(fn2, {random_leaf({2, 3, 2}, 14), random_leaf({3, 2}, 15), random_leaf({3, 2}, 16)}));
  }
  SECTION("transposed input, weight only, bias only, neither") {
    auto transposed = [](const std::vector<Tensor>& in) { return F::layer_norm(in[0].t(), {4}, in[1], in[2]); };
    REQUIRE(gradcheck(transposed, {random_leaf({4, 5}, 17), random_leaf({4}, 18), random_leaf({4}, 19)}));
    auto weight_only = [](const std::vector<Tensor>& in) { return F::layer_norm(in[0], {4}, in[1]); };
    REQUIRE(gradcheck(weight_only, {random_leaf({3, 4}, 20), random_leaf({4}, 21)}));
    auto bias_only = [](const std::vector<Tensor>& in) { return F::layer_norm(in[0], {4}, {}, in[1]); };
    REQUIRE(gradcheck(bias_only, {random_leaf({3, 4}, 22), random_leaf({4}, 23)}));
    auto plain = [](const std::vector<Tensor>& in) { return F::layer_norm(in[0], {4}); };
    REQUIRE(gradcheck(plain, {random_leaf({3, 4}, 24)}));
  }
  SECTION("broadcast (expanded) input and sliced weight") {
    auto broadcast = [](const std::vector<Tensor>& in) {
      return F::layer_norm(in[0].expand({3, 4}), {4}, in[1].slice(0, 0, 8, 2), in[2]);
    };
    REQUIRE(gradcheck(broadcast, {random_leaf({1, 4}, 25), random_leaf({8}, 26), random_leaf({4}, 27)}));
  }
}

TEST_CASE("fused layer_norm agrees with the composite mean/var version", "[layer_norm]") {
  Tensor x1 = random_leaf({3, 2, 5}, 31), w1 = random_leaf({2, 5}, 32), b1 = random_leaf({2, 5}, 33);
  Tensor x2 = x1.detach().clone().requires_grad_(), w2 = w1.detach().clone().requires_grad_(),
         b2 = b1.detach().clone().requires_grad_();
  Tensor upstream = random({3, 2, 5}, 34);
  Tensor fused = F::layer_norm(x1, {2, 5}, w1, b1, 1e-4);
  Tensor composite = composite_layer_norm(x2, {-2, -1}, w2, b2, 1e-4);
  require_close(fused.to_vector<double>(), composite.to_vector<double>(), 1e-12);
  sum(mul(fused, upstream)).backward();
  sum(mul(composite, upstream)).backward();
  require_close(x1.grad().to_vector<double>(), x2.grad().to_vector<double>(), 1e-10);
  require_close(w1.grad().to_vector<double>(), w2.grad().to_vector<double>(), 1e-10);
  require_close(b1.grad().to_vector<double>(), b2.grad().to_vector<double>(), 1e-10);
}

TEST_CASE("fused layer_norm backward on many rows (the parallel path) agrees with the composite", "[layer_norm]") {
  Tensor x1 = random_leaf({512, 96}, 41), w1 = random_leaf({96}, 42), b1 = random_leaf({96}, 43);
  Tensor x2 = x1.detach().clone().requires_grad_(), w2 = w1.detach().clone().requires_grad_(),
         b2 = b1.detach().clone().requires_grad_();
  Tensor upstream = random({512, 96}, 44);
  sum(mul(F::layer_norm(x1, {96}, w1, b1), upstream)).backward();
  sum(mul(composite_layer_norm(x2, {-1}, w2, b2, 1e-5), upstream)).backward();
  require_close(x1.grad().to_vector<double>(), x2.grad().to_vector<double>(), 1e-10);
  require_close(w1.grad().to_vector<double>(), w2.grad().to_vector<double>(), 1e-10);
  require_close(b1.grad().to_vector<double>(), b2.grad().to_vector<double>(), 1e-10);
}

TEST_CASE("LayerNorm layer: parameters, modes, gradcheck", "[layer_norm]") {
  nn::LayerNorm norm(Shape{2, 3});
  CHECK(norm.weight.shape() == Shape{2, 3});
  for (double v : norm.weight.to_vector<double>()) CHECK(v == 1.0);
  for (double v : norm.bias.to_vector<double>()) CHECK(v == 0.0);
  CHECK(norm.extra_repr() == "[2, 3], eps=1e-05, elementwise_affine=true");
  std::vector<std::string> names;
  for (const auto& [name, _] : norm.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"weight", "bias"});

  Tensor x = random({4, 2, 3}, 51, kFloat32);
  Tensor train_out = norm(x);
  norm.eval();
  CHECK(norm(x).to_vector<float>() == train_out.to_vector<float>());  // no running statistics

  nn::LayerNorm small(5);
  {
    NoGradGuard no_grad;
    small.weight.copy_(random({5}, 52, kFloat32));
    small.bias.copy_(random({5}, 53, kFloat32));
  }
  Tensor xg = random_leaf({3, 5}, 54);
  REQUIRE(nn::gradcheck(small, [&](const std::vector<Tensor>& in) { return small(in[0]); }, {xg}));
  small.to(kFloat64);  // nn::gradcheck gave the layer back in float32
  CHECK(small(xg).to_vector<double>() == F::layer_norm(xg, {5}, small.weight, small.bias, 1e-5).to_vector<double>());

  nn::LayerNorm bare(5, 1e-5, false);
  CHECK(bare.num_parameters() == 0);
  require_close(bare(xg).to_vector<double>(), naive_layer_norm(xg, 5, {}, {}, 1e-5), 1e-12);
}

TEST_CASE("layer_norm error messages name the shapes", "[layer_norm]") {
  nn::LayerNorm norm(4);
  REQUIRE_THROWS_WITH(norm(zeros({2, 5})),
                      Catch::Contains("LayerNorm([4], eps=1e-05, elementwise_affine=true): expected input of shape "
                                      "[..., 4], got [2, 5]"));
  REQUIRE_THROWS_WITH(F::layer_norm(zeros({2, 5}), {4}),
                      Catch::Contains("layer_norm: input of shape [2, 5] does not end with normalized_shape [4]"));
  REQUIRE_THROWS_WITH(F::layer_norm(zeros({2, 4}), {4}, zeros({3})),
                      Catch::Contains("weight of shape [3] does not match normalized_shape [4]"));
  REQUIRE_THROWS_WITH(nn::LayerNorm(Shape{}), Catch::Contains("normalized_shape must be non-empty"));
}
