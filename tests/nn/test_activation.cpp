// Activation layers (nn/layers/activation.h) and their functional forms: values
// against std:: math, gradients numerically (inputs kept away from kinks), names.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>

#include "focus.h"
#include "nn/functional/activation.h"
#include "nn/gradcheck.h"
#include "nn/layers/activation.h"
#include "nn/sequential.h"

using namespace focus;
namespace F = focus::nn::functional;

namespace {

// Values in [-3, 3] at least 0.05 away from 0, so relu/leaky_relu are smooth around each.
Tensor away_from_zero(const Shape& shape, uint64_t seed, DType dtype = kFloat64) {
  Generator gen(seed);
  Tensor x = uniform(shape, 0.05, 3.0, dtype, &gen);
  Tensor sign = where(lt(rand(shape, dtype, &gen), scalar_tensor(0.5, dtype)), scalar_tensor(-1.0, dtype),
                      scalar_tensor(1.0, dtype));
  return mul(x, sign).contiguous();
}

double gelu_exact(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

void check_elementwise(nn::UnaryModule& layer, const std::function<double(double)>& reference) {
  Tensor x = away_from_zero({4, 5}, 1);
  Tensor y = layer(x);
  REQUIRE(y.shape() == x.shape());
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (size_t i = 0; i < xv.size(); ++i) REQUIRE(yv[i] == Approx(reference(xv[i])).epsilon(1e-12).margin(1e-14));
  // Gradients through a transposed view, so the op sees a non-contiguous input.
  Tensor xg = away_from_zero({5, 4}, 2).requires_grad_();
  INFO(layer.type_name());
  REQUIRE(nn::gradcheck(layer, [&](const std::vector<Tensor>& in) { return layer(in[0].t()); }, {xg}));
}

}  // namespace

TEST_CASE("elementwise activations match their definitions", "[activation]") {
  nn::ReLU relu_layer;
  check_elementwise(relu_layer, [](double x) { return std::max(x, 0.0); });
  nn::LeakyReLU leaky(0.2);
  check_elementwise(leaky, [](double x) { return x > 0 ? x : 0.2 * x; });
  nn::LeakyReLU leaky_default;
  check_elementwise(leaky_default, [](double x) { return x > 0 ? x : 0.01 * x; });
  nn::GELU gelu_layer;
  check_elementwise(gelu_layer, gelu_exact);
  nn::SiLU silu_layer;
  check_elementwise(silu_layer, [](double x) { return x / (1.0 + std::exp(-x)); });
  nn::Tanh tanh_layer;
  check_elementwise(tanh_layer, [](double x) { return std::tanh(x); });
  nn::Sigmoid sigmoid_layer;
  check_elementwise(sigmoid_layer, [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
}

TEST_CASE("functional activations equal the layers", "[activation]") {
  Tensor x = away_from_zero({3, 3}, 3, kFloat32);
  CHECK(F::relu(x).to_vector<float>() == nn::ReLU()(x).to_vector<float>());
  CHECK(F::leaky_relu(x, 0.3).to_vector<float>() == nn::LeakyReLU(0.3)(x).to_vector<float>());
  CHECK(F::gelu(x).to_vector<float>() == nn::GELU()(x).to_vector<float>());
  CHECK(F::silu(x).to_vector<float>() == nn::SiLU()(x).to_vector<float>());
  CHECK(F::tanh(x).to_vector<float>() == nn::Tanh()(x).to_vector<float>());
  CHECK(F::sigmoid(x).to_vector<float>() == nn::Sigmoid()(x).to_vector<float>());
  CHECK(F::softmax(x, 0).to_vector<float>() == nn::Softmax(0)(x).to_vector<float>());
  CHECK(F::log_softmax(x, -1).to_vector<float>() == nn::LogSoftmax(-1)(x).to_vector<float>());
}

TEST_CASE("Softmax and LogSoftmax along a dim", "[activation]") {
  Tensor x = tensor({1, 2, 3, -1, 0, 1000}, {2, 3}, kFloat64);
  nn::Softmax softmax_rows(1);
  Tensor y = softmax_rows(x);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(y.at({0, 0}) == Approx(std::exp(1.0) / z));
  CHECK(y.at({0, 2}) == Approx(std::exp(3.0) / z));
  CHECK(y.at({1, 2}) == Approx(1.0));  // 1000 dominates without overflowing
  CHECK(y.at({1, 0}) == 0.0);
  nn::LogSoftmax log_softmax_rows(1);
  CHECK(log_softmax_rows(x).at({0, 1}) == Approx(2.0 - std::log(z)));
  CHECK(log_softmax_rows(x).at({1, 0}) == Approx(-1001.0));
  CHECK(softmax_rows.extra_repr() == "dim=1");

  nn::Softmax softmax_columns(0);
  Tensor xg = randn({3, 4}, kFloat64).requires_grad_();
  REQUIRE(nn::gradcheck(softmax_columns, [&](const std::vector<Tensor>& in) { return softmax_columns(in[0]); }, {xg}));
  REQUIRE(nn::gradcheck(log_softmax_rows, [&](const std::vector<Tensor>& in) { return log_softmax_rows(in[0].t()); },
                        {randn({4, 3}, kFloat64).requires_grad_()}));
  REQUIRE_THROWS_WITH(nn::Softmax(3)(zeros({2, 3})), Catch::Contains("softmax"));
}

TEST_CASE("activation layers have PyTorch's names and no parameters", "[activation]") {
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::ReLU>(), std::make_shared<nn::LeakyReLU>(),
                                                std::make_shared<nn::GELU>(), std::make_shared<nn::SiLU>(),
                                                std::make_shared<nn::Tanh>(), std::make_shared<nn::Sigmoid>(),
                                                std::make_shared<nn::Softmax>(1), std::make_shared<nn::LogSoftmax>(1));
  std::vector<std::string> types;
  for (const auto& layer : *model) types.push_back(layer->type_name());
  CHECK(types ==
        std::vector<std::string>{"ReLU", "LeakyReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"});
  CHECK(model->num_parameters() == 0);
  CHECK(nn::LeakyReLU(0.1).extra_repr() == "negative_slope=0.1");
  CHECK((*model)(zeros({2, 3})).shape() == Shape{2, 3});
}
