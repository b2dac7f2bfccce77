// SelfAttention2d (non-local block): forward against the formula written out step by step with the
// layer's own weights, the identity at gamma = 0, the attention map, inputs of ±1e4, float64
// gradchecks of the input and every parameter (gamma nonzero, so the attention path counts), errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "focus.h"
#include "nn/gradcheck.h"
#include "nn/layers/self_attention2d.h"

using namespace focus;
using Inputs = const std::vector<Tensor>&;

namespace {
double max_diff(const Tensor& a, const Tensor& b) { return max(abs(a - b).flatten(), 0).first.item<double>(); }

/// gamma · softmax(qᵀk/√d)-weighted v + x, with the 1×1 convolutions as matmuls over [N, C, HW].
Tensor reference(nn::SelfAttention2d& block, const Tensor& x) {
  int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), inner = block.inner_channels;
  Tensor flat = x.reshape({n, c, h * w});  // [N, C, HW]
  auto project = [&](const nn::Conv2d& conv, int64_t out) {  // 1×1 conv: W [out, C] · x + b
    return matmul(conv.weight.reshape({out, c}), flat) + conv.bias.reshape({out, 1});
  };
  Tensor q = project(*block.query_conv, inner);  // [N, C/r, HW]
  Tensor k = project(*block.key_conv, inner);    // [N, C/r, HW]
  Tensor v = project(*block.value_conv, c);      // [N, C, HW]
  Tensor scores = matmul(q.transpose(1, 2), k) / std::sqrt(static_cast<double>(inner));  // [N, HW, HW]
  Tensor weights = softmax(scores, 2);
  Tensor attended = matmul(v, weights.transpose(1, 2));  // out_i = Σ_j w_ij v_j: [N, C, HW]
  return block.gamma * attended.reshape({n, c, h, w}) + x;
}
}  // namespace

TEST_CASE("self_attention2d starts as the identity and matches the formula once gamma is set", "[nn][attention]") {
  manual_seed(31);
  nn::SelfAttention2d block(16, 4);
  REQUIRE(block.inner_channels == 4);
  REQUIRE(block.gamma.at({0}) == 0.0);
  REQUIRE(block.named_parameters().size() == 7);  // three convs (weight, bias) and gamma
  Tensor x = randn({2, 16, 3, 4});
  REQUIRE(max_diff(block(x), x) == 0.0);  // gamma = 0: the residual gate is shut

  block.gamma.fill_(0.7);
  Tensor y = block(x);
  REQUIRE(y.shape() == Shape{2, 16, 3, 4});
  REQUIRE(max_diff(y, reference(block, x)) < 1e-5);
  Tensor map = block.last_attention();
  REQUIRE(map.shape() == Shape{2, 12, 12});
  REQUIRE_FALSE(map.requires_grad());
  REQUIRE(max_diff(sum(map, {2}), ones({2, 12})) < 1e-6);
  REQUIRE(block.last_output_shape() == Shape{2, 16, 3, 4});
  REQUIRE(nn::SelfAttention2d(4).inner_channels == 1);  // C/reduction rounds down, but never to 0
}

TEST_CASE("self_attention2d is stable with inputs of ±1e4", "[nn][attention]") {
  manual_seed(32);
  nn::SelfAttention2d block(8, 2);
  block.gamma.fill_(0.5);
  Tensor x = (randn({1, 8, 3, 3}) * 1e4).requires_grad_();
  Tensor y = block(x);
  // The scores reach ~1e8: the softmax saturates to one-hot rows instead of overflowing.
  REQUIRE(max_diff(sum(block.last_attention(), {2}), ones({1, 9})) < 1e-6);
  sum(y).backward();
  for (double v : y.detach().to(kFloat64).contiguous().to_vector<double>()) REQUIRE(std::isfinite(v));
  for (double g : x.grad().to(kFloat64).contiguous().to_vector<double>()) REQUIRE(std::isfinite(g));
}

TEST_CASE("self_attention2d gradcheck of the input and every parameter", "[nn][attention]") {
  manual_seed(33);
  nn::SelfAttention2d block(4, 2);
  block.gamma.fill_(0.8);
  Tensor x = randn({2, 4, 2, 3}, kFloat64).requires_grad_();
  REQUIRE(nn::gradcheck(block, [&](Inputs in) { return block(in[0]); }, {x}));
  // Non-contiguous input: a transposed view of the spatial dims.
  Tensor xt = randn({2, 4, 3, 2}, kFloat64).transpose(2, 3).requires_grad_();
  REQUIRE(nn::gradcheck(block, [&](Inputs in) { return block(in[0]); }, {xt}));
}

TEST_CASE("self_attention2d errors name the layer and the shapes", "[nn][attention]") {
  nn::SelfAttention2d block(16);
  REQUIRE(block.extra_repr() == "16");
  REQUIRE_THROWS_WITH(block(randn({2, 8, 3, 3})), Catch::Contains("SelfAttention2d(16)") &&
                                                      Catch::Contains("[N, 16, H, W]") &&
                                                      Catch::Contains("[2, 8, 3, 3]"));
  REQUIRE_THROWS_WITH(block(randn({16, 3, 3})), Catch::Contains("[16, 3, 3]"));
  REQUIRE_THROWS_WITH(nn::SelfAttention2d(16, 0), Catch::Contains("SelfAttention2d") && Catch::Contains("0"));
}
