// swish, the example op of docs/new-layer.md (route b): forward against x·σ(x) in std:: math,
// its hand-written backward against central differences and against autograd through the
// composite x * sigmoid(x), on contiguous, transposed and sliced inputs.
#include <catch2/catch.hpp>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

using namespace focus;

TEST_CASE("swish forward is x·σ(x)", "[autograd][swish]") {
  std::vector<double> values{-30.0, -2.5, -0.5, 0.0, 0.75, 3.0, 30.0};
  Tensor x = from_vector(values, {7});
  std::vector<double> y = swish(x).to_vector<double>();
  for (size_t i = 0; i < values.size(); ++i)
    REQUIRE(y[i] == Approx(values[i] / (1.0 + std::exp(-values[i]))).margin(1e-15));
  std::vector<float> y32 = swish(x.to(kFloat32)).to_vector<float>();
  REQUIRE(y32[5] == Approx(3.0 / (1.0 + std::exp(-3.0))));
}

TEST_CASE("swish backward: gradcheck and the composite x * sigmoid(x)", "[autograd][swish]") {
  // Quoted in docs/new-layer.md (test_nn_gated_linear_unit checks the quote): keep identical.
  Tensor x = randn({4, 3}, kFloat64).requires_grad_();
  REQUIRE(gradcheck([](const std::vector<Tensor>& in) { return swish(in[0]); }, {x}));
  REQUIRE(gradcheck([](const std::vector<Tensor>& in) { return swish(in[0]) - in[0] * sigmoid(in[0]); }, {x}));
  // Non-contiguous inputs: a transposed view and a sliced view.
  Tensor xt = randn({3, 4}, kFloat64).t().requires_grad_();
  REQUIRE(gradcheck([](const std::vector<Tensor>& in) { return swish(in[0]); }, {xt}));
  Tensor xs = randn({4, 6}, kFloat64).narrow(1, 1, 3).requires_grad_();
  REQUIRE(gradcheck([](const std::vector<Tensor>& in) { return swish(in[0]); }, {xs}));

  // The hand-written backward equals autograd through the two-node composite, element for element.
  Tensor a = randn({5, 4}, kFloat64).requires_grad_();
  Tensor b = a.detach().requires_grad_();
  Tensor dy = randn({5, 4}, kFloat64);
  sum(swish(a) * dy).backward();
  sum(b * sigmoid(b) * dy).backward();
  REQUIRE(max(abs(a.grad() - b.grad()).flatten(), 0).first.item<double>() < 1e-12);
}
