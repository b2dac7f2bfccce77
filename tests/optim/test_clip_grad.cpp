#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>
#include <algorithm>

#include "focus.h"
#include "optim/clip_grad.h"

using namespace focus;
using namespace focus::optim;

TEST_CASE("clip_grad_norm_ scales all gradients together and returns the norm", "[optim]") {
  Tensor a = zeros({2}).requires_grad_();
  Tensor b = zeros({1}).requires_grad_();
  a.set_grad(tensor({3, 0}));
  b.set_grad(tensor({4}));
  double norm = clip_grad_norm_({a, b}, 1.0);
  REQUIRE(norm == Approx(5.0));
  REQUIRE(a.grad().at({0}) == Approx(3.0 / 5.0).epsilon(1e-5));
  REQUIRE(b.grad().at({0}) == Approx(4.0 / 5.0).epsilon(1e-5));
  // Below the limit: unchanged.
  REQUIRE(clip_grad_norm_({a, b}, 10.0) == Approx(1.0).epsilon(1e-5));
  REQUIRE(b.grad().at({0}) == Approx(0.8).epsilon(1e-5));
  // Infinity norm.
  REQUIRE(clip_grad_norm_({a, b}, 10.0, INFINITY) == Approx(0.8).epsilon(1e-5));
}

TEST_CASE("clip_grad_norm_ reports non-finite gradients instead of applying them", "[optim]") {
  Tensor a = zeros({2}).requires_grad_();
  Tensor b = zeros({3}).requires_grad_();
  a.set_grad(tensor({1, 1}));
  b.set_grad(tensor({1, NAN, 1}));
  REQUIRE_THROWS_WITH(clip_grad_norm_({a, b}, 1.0),
                      Catch::Contains("parameter 1") && Catch::Contains("[3]") && Catch::Contains("non-finite"));
  double norm = clip_grad_norm_({a, b}, 1.0, 2.0, /*error_if_nonfinite=*/false);
  REQUIRE(std::isnan(norm));
  REQUIRE(a.grad().at({0}) == 1.0);  // left unchanged so the caller can skip the step
}

TEST_CASE("clip_grad_value_ clamps each element", "[optim]") {
  Tensor a = zeros({3}).requires_grad_();
  a.set_grad(tensor({-5, 0.5, 7}));
  clip_grad_value_({a}, 1.0);
  REQUIRE(a.grad().to_vector<float>() == std::vector<float>{-1, 0.5, 1});
}

TEST_CASE("clip_grad_norm_ over large gradients: every norm order, NaN in a late block, any thread count", "[optim]") {
  // 200,003 elements: several of the norm's fixed blocks, the last one short, shared among threads.
  manual_seed(3);
  const Tensor values64 = randn({200003}, TensorOptions(kFloat64));
  const std::vector<double> v = values64.to_vector<double>();
  auto reference = [&](double p) {  // Σ|v|^p in long double, one element at a time
    long double sum = 0, largest = 0;
    for (const double x : v) {
      sum += std::pow(static_cast<long double>(std::abs(x)), static_cast<long double>(p));
      largest = std::max<long double>(largest, std::abs(x));
    }
    return std::isinf(p) ? static_cast<double>(largest) : static_cast<double>(std::pow(sum, 1.0L / p));
  };
  const int threads = get_num_threads();
  for (const DType dtype : {kFloat64, kFloat32}) {
    for (const double p : {2.0, 1.0, 3.0, static_cast<double>(INFINITY)}) {
      Tensor a = zeros({200003}, TensorOptions(dtype)).requires_grad_();
      a.set_grad(values64.to(dtype));
      std::vector<double> norms;
      for (const int t : {1, 2}) {
        set_num_threads(t);
        norms.push_back(clip_grad_norm_({a}, 1e9, p));  // 1e9: nothing is clipped
      }
      set_num_threads(threads);
      INFO("dtype " << dtype_name(dtype) << ", p = " << p);
      REQUIRE(norms[0] == norms[1]);  // the same sum at any thread count
      // float32 gradients: v rounded to float32 first, a relative 6e-8 per element.
      REQUIRE(norms[0] == Approx(reference(p)).epsilon(dtype == kFloat64 ? 1e-12 : 1e-6));
    }
  }
  // A NaN in the last block, or a -inf in the middle, reaches the total for every order.
  std::vector<double> with_nan = v, with_inf = v;
  with_nan[200001] = NAN;
  with_inf[100000] = -INFINITY;
  for (const double p : {2.0, 1.0, static_cast<double>(INFINITY)}) {
    Tensor a = zeros({200003}).requires_grad_();
    a.set_grad(from_vector(with_nan, {200003}).to(kFloat32));
    REQUIRE(std::isnan(clip_grad_norm_({a}, 1.0, p, /*error_if_nonfinite=*/false)));
    a.set_grad(from_vector(with_inf, {200003}).to(kFloat32));
    REQUIRE(std::isinf(clip_grad_norm_({a}, 1.0, p, /*error_if_nonfinite=*/false)));
  }
}
