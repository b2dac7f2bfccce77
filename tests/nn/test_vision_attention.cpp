// ChannelAttention, SpatialAttention and AttentionPooling: forward against the
// formula written out, float64 gradchecks of inputs and parameters, errors.
#include <catch2/catch.hpp>

#include "focus.h"
#include "nn/layers/attention_pooling.h"
#include "nn/layers/channel_attention.h"
#include "nn/layers/spatial_attention.h"

using namespace focus;
using Inputs = const std::vector<Tensor>&;

TEST_CASE("channel_attention rescales channels by a learned gate", "[nn][attention]") {
  manual_seed(1);
  nn::ChannelAttention se(8, 4);
  REQUIRE(se.hidden == 2);
  Tensor x = randn({2, 8, 3, 3});
  Tensor y = se(x);
  // Reference: the formula with the layer's own weights, computed step by step.
  Tensor pooled = mean(x, {2, 3});
  Tensor gate = sigmoid(matmul(relu(matmul(pooled, se.fc1->weight.t()) + se.fc1->bias), se.fc2->weight.t()) +
                        se.fc2->bias);
  Tensor expected = x * gate.reshape({2, 8, 1, 1});
  REQUIRE(max(abs(y - expected).flatten(), 0).first.item<double>() < 1e-6);
  REQUIRE(se.last_attention().shape() == Shape{2, 8});
  REQUIRE(se.last_output_shape() == Shape{2, 8, 3, 3});
  Tensor xd = randn({2, 8, 3, 3}, kFloat64).requires_grad_();
  REQUIRE(nn::gradcheck(se, [&](Inputs in) { return se(in[0]); }, {xd}));
  REQUIRE_THROWS_WITH(se(randn({2, 4, 3, 3})), Catch::Contains("ChannelAttention(8)") &&
                                                   Catch::Contains("[N, 8, H, W]") && Catch::Contains("[2, 4, 3, 3]"));
}

TEST_CASE("spatial_attention weights positions from channel mean and max", "[nn][attention]") {
  manual_seed(2);
  nn::SpatialAttention sa(3);
  Tensor x = randn({2, 4, 5, 5});
  Tensor y = sa(x);
  Tensor descriptors = cat({mean(x, {1}, true), amax(x, {1}, true)}, 1);
  Tensor map = sigmoid(conv2d(descriptors, sa.conv->weight, sa.conv->bias, {1, 1}, {1, 1}));
  REQUIRE(max(abs(y - x * map).flatten(), 0).first.item<double>() < 1e-6);
  REQUIRE(sa.last_attention().shape() == Shape{2, 5, 5});
  // Ties in the channel max would be kinks: random normal inputs have none.
  Tensor xd = randn({1, 3, 4, 4}, kFloat64).requires_grad_();
  REQUIRE(nn::gradcheck(sa, [&](Inputs in) { return sa(in[0]); }, {xd}));
  REQUIRE_THROWS_WITH(sa(randn({4, 5, 5})), Catch::Contains("SpatialAttention") && Catch::Contains("[4, 5, 5]"));
  REQUIRE_THROWS_WITH(nn::SpatialAttention(4), Catch::Contains("odd"));
}

TEST_CASE("attention_pooling takes a softmax-weighted sum and respects the mask", "[nn][attention]") {
  manual_seed(3);
  nn::AttentionPooling pool(4);
  Tensor x = randn({2, 5, 4});
  auto [pooled, weights] = pool(x);
  REQUIRE(pooled.shape() == Shape{2, 4});
  Tensor scores = matmul(x, pool.score_weight) + pool.score_bias;
  Tensor expected = sum(x * softmax(scores, 1).unsqueeze(2), {1});
  REQUIRE(max(abs(pooled - expected).flatten(), 0).first.item<double>() < 1e-6);
  REQUIRE(sum(weights, {1}).to_vector<float>()[0] == Approx(1.0f));

  Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, {2, 5}).to(kBool);
  auto masked = pool(x, mask);
  REQUIRE(masked.weights.at({0, 3}) == 0.0);
  REQUIRE(masked.weights.at({0, 4}) == 0.0);
  // Masked positions do not change the result: same as pooling the first three alone.
  auto alone = pool(x.narrow(0, 0, 1).narrow(1, 0, 3));
  REQUIRE(max(abs(masked.pooled.narrow(0, 0, 1) - alone.pooled).flatten(), 0).first.item<double>() < 1e-6);

  Tensor xd = randn({2, 5, 4}, kFloat64).requires_grad_();
  REQUIRE(nn::gradcheck(pool, [&](Inputs in) { return pool(in[0], mask).pooled; }, {xd}));
  // A masked position gets exactly zero gradient.
  Tensor probe = randn({2, 5, 4}, pool.score_weight.dtype()).requires_grad_();  // gradcheck gave pool back as it was
  sum(pool(probe, mask).pooled).backward();
  REQUIRE(probe.grad().at({0, 3, 0}) == 0.0);
  // A row with no real position pools to zero, with zero gradient (masked_softmax's policy).
  Tensor empty_second = from_vector(std::vector<int64_t>{1, 1, 0, 1, 0, 0, 0, 0, 0, 0}, {2, 5}).to(kBool);
  Tensor x2 = randn({2, 5, 4}, pool.score_weight.dtype()).requires_grad_();
  auto empty = pool(x2, empty_second);
  REQUIRE(max(abs(empty.pooled.select(0, 1)), 0).first.item<double>() == 0.0);
  REQUIRE(max(abs(empty.weights.select(0, 1)), 0).first.item<double>() == 0.0);
  sum(empty.pooled).backward();
  REQUIRE(max(abs(x2.grad().select(0, 1)).flatten(), 0).first.item<double>() == 0.0);
  REQUIRE(nn::gradcheck(pool, [&](Inputs in) { return pool(in[0], empty_second).pooled; }, {xd}));
  REQUIRE_THROWS_WITH(pool(randn({2, 5, 3})), Catch::Contains("[N, L, 4]") && Catch::Contains("[2, 5, 3]"));
}
