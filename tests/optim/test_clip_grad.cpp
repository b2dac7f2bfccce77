#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

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
