// Gradients through views: reshape, permute/transpose, expand, slice/narrow, select, squeeze/unsqueeze, clone.
#include <catch2/catch.hpp>

#include "focus.h"

using namespace focus;

namespace {
Tensor input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen).requires_grad_();
}
using Inputs = const std::vector<Tensor>&;
}  // namespace

TEST_CASE("reshape, view and flatten pass gradients back in the input shape", "[autograd][views]") {
  Tensor x = input({2, 3, 4}, 1);
  REQUIRE(gradcheck([](Inputs in) { return reshape(in[0], {4, 6}) * reshape(in[0], {4, 6}); }, {x}));
  REQUIRE(gradcheck([](Inputs in) { return view(in[0], {6, 4}).exp(); }, {x}));
  REQUIRE(gradcheck([](Inputs in) { return sin(flatten(in[0], 1)); }, {x}));
  // reshape of a transposed (non-contiguous) input goes through a copy
  REQUIRE(gradcheck([](Inputs in) { return reshape(transpose(in[0], 0, 2), {-1}).pow(2.0); }, {x}));
}

TEST_CASE("permute and transpose", "[autograd][views]") {
  Tensor x = input({2, 3, 4}, 2);
  Tensor w = input({4, 3, 2}, 3);
  REQUIRE(gradcheck([](Inputs in) { return permute(in[0], {2, 1, 0}) * in[1]; }, {x, w}));
  REQUIRE(gradcheck([](Inputs in) { return transpose(in[0], -1, 0) * in[1]; }, {x, w}));
}

TEST_CASE("expand sums the gradient over broadcast dims", "[autograd][views]") {
  Tensor x = input({3, 1}, 4);
  REQUIRE(gradcheck([](Inputs in) { return expand(in[0], {2, 3, 5}).tanh(); }, {x}));
  Tensor y = ones({3, 1}).requires_grad_();
  sum(expand(y, {2, 3, 5})).backward();
  REQUIRE(y.grad().to_vector<float>() == std::vector<float>{10, 10, 10});
}

TEST_CASE("slice, narrow and select scatter the gradient into place", "[autograd][views]") {
  Tensor x = input({4, 6}, 5);
  REQUIRE(gradcheck([](Inputs in) { return slice(in[0], 1, 1, 6, 2).exp(); }, {x}));
  REQUIRE(gradcheck([](Inputs in) { return narrow(in[0], 0, 1, 2) * narrow(in[0], 0, 2, 2); }, {x}));
  REQUIRE(gradcheck([](Inputs in) { return sin(select(in[0], 1, -2)); }, {x}));

  Tensor y = zeros({3, 4}).requires_grad_();
  sum(y.slice(1, 0, 4, 3)).backward();  // columns 0 and 3
  REQUIRE(y.grad().at({2, 0}) == 1.0);
  REQUIRE(y.grad().at({2, 1}) == 0.0);
  REQUIRE(y.grad().at({2, 3}) == 1.0);
}

TEST_CASE("squeeze, unsqueeze, contiguous and clone", "[autograd][views]") {
  Tensor x = input({3, 1, 2}, 6);
  REQUIRE(gradcheck([](Inputs in) { return squeeze(in[0], 1).exp(); }, {x}));
  REQUIRE(gradcheck([](Inputs in) { return unsqueeze(in[0], 0).exp(); }, {x}));
  REQUIRE(gradcheck([](Inputs in) { return contiguous(transpose(in[0], 0, 2)).exp(); }, {x}));
  REQUIRE(gradcheck([](Inputs in) { return clone(in[0]) * in[0]; }, {x}));
}
