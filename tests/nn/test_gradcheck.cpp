// nn::gradcheck works on a float64 copy of the module and gives the module back as it was.
#include <catch2/catch.hpp>

#include "focus.h"
#include "nn/gradcheck.h"
#include "nn/layers/batch_norm2d.h"
#include "nn/layers/linear.h"

using namespace focus;

TEST_CASE("nn::gradcheck leaves a float32 layer in float32, with its values and gradients", "[nn][gradcheck]") {
  nn::Linear layer(3, 2);
  Tensor x = randn({4, 3}).requires_grad_();
  sum(layer(x)).backward();
  const Tensor weight_before = layer.weight.clone(), weight_grad_before = layer.weight.grad().clone();
  const void* weight_memory = layer.weight.data_ptr();

  Tensor x64 = randn({4, 3}, kFloat64).requires_grad_();
  GradcheckResult result = nn::gradcheck(layer, [&](const std::vector<Tensor>& in) { return layer(in[0]); }, {x64});
  REQUIRE(result);
  REQUIRE(result.inputs.size() == 3);  // input 0, weight, bias
  REQUIRE(result.input("weight").passed);

  REQUIRE(layer.weight.dtype() == kFloat32);
  REQUIRE(layer.bias.dtype() == kFloat32);
  REQUIRE(layer.weight.data_ptr() == weight_memory);  // the very same tensor, not a rounded copy
  REQUIRE(layer.weight.to_vector<float>() == weight_before.to_vector<float>());
  REQUIRE(layer.weight.grad().to_vector<float>() == weight_grad_before.to_vector<float>());
  // The layer still runs on float32 inputs, as before the check.
  REQUIRE(layer(randn({2, 3})).dtype() == kFloat32);
}

TEST_CASE("nn::gradcheck puts back buffers too, and restores the module when the check throws", "[nn][gradcheck]") {
  nn::BatchNorm2d norm(2);
  Tensor x64 = randn({3, 2, 2, 2}, kFloat64).requires_grad_();
  REQUIRE(nn::gradcheck(norm, [&](const std::vector<Tensor>& in) { return norm(in[0]); }, {x64}));
  REQUIRE(norm.running_mean.dtype() == kFloat32);
  REQUIRE(norm.running_var.dtype() == kFloat32);
  REQUIRE(norm.num_batches_tracked.dtype() == kInt64);
  // Its many forward passes in training mode do not leave their statistics behind.
  REQUIRE(norm.running_mean.to_vector<float>() == std::vector<float>{0, 0});
  REQUIRE(norm.num_batches_tracked.item<int64_t>() == 0);

  nn::Linear layer(3, 2);
  REQUIRE_THROWS(nn::gradcheck(layer, [](const std::vector<Tensor>&) -> Tensor { throw std::runtime_error("boom"); },
                               {randn({1, 3}, kFloat64).requires_grad_()}));
  REQUIRE(layer.weight.dtype() == kFloat32);
}

TEST_CASE("nn::gradcheck of a float64 layer leaves its values and statistics as they were", "[nn][gradcheck]") {
  nn::BatchNorm2d norm(2);
  norm.to(kFloat64);
  const void* running_mean_memory = norm.running_mean.data_ptr();
  Tensor x64 = randn({3, 2, 2, 2}, kFloat64).requires_grad_();
  REQUIRE(nn::gradcheck(norm, [&](const std::vector<Tensor>& in) { return norm(in[0]); }, {x64}));
  REQUIRE(norm.running_mean.data_ptr() == running_mean_memory);
  REQUIRE(norm.running_mean.to_vector<double>() == std::vector<double>{0, 0});
  REQUIRE(norm.running_var.to_vector<double>() == std::vector<double>{1, 1});
  REQUIRE(norm.num_batches_tracked.item<int64_t>() == 0);
}
