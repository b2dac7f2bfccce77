// SGD, Adam, AdamW: exact update rules, parameter groups, convergence.
#include <catch2/catch.hpp>

#include <cmath>

#include "focus.h"
#include "nn/layers/linear.h"
#include "optim/adam.h"
#include "optim/sgd.h"

using namespace focus;
using namespace focus::optim;

namespace {

// Applies three steps with the given gradient sequence and returns the parameter after each.
template <typename MakeOptimizer>
std::vector<std::vector<double>> three_steps(MakeOptimizer make) {
  Tensor p = tensor({1.0, -2.0}, {}, kFloat64).requires_grad_();
  auto optimizer = make(std::vector<ParamGroup>{{{p}}});
  const std::vector<std::vector<double>> grads{{0.1, -0.2}, {0.3, 0.05}, {-0.4, 0.25}};
  std::vector<std::vector<double>> trajectory;
  for (const auto& g : grads) {
    p.set_grad(from_vector(g, {2}));
    optimizer->step();
    trajectory.push_back(p.to_vector<double>());
  }
  return trajectory;
}

void require_close(const std::vector<std::vector<double>>& got, const std::vector<std::vector<double>>& expected) {
  for (size_t s = 0; s < expected.size(); ++s)
    for (size_t i = 0; i < expected[s].size(); ++i) {
      INFO("step " << s + 1 << ", element " << i);
      REQUIRE(got[s][i] == Approx(expected[s][i]).epsilon(1e-12));
    }
}

}  // namespace

// Expected trajectories: torch.optim (PyTorch 1.13.1, float64) on the same parameter
// [1, -2] and gradients [0.1, -0.2], [0.3, 0.05], [-0.4, 0.25], printed to 17 digits.
TEST_CASE("SGD with momentum, dampening and weight decay matches torch.optim.SGD", "[optim]") {
  require_close(three_steps([](auto groups) {
                  return std::make_unique<SGD>(groups, SGDOptions{0.1, 0.9, 0.1, 0.01, false});
                }),
                {{0.989, -1.978}, {0.9512098999999999, -1.9609197999999999}, {0.95234272109, -1.96628279218}});
  // Hand check of step 1: g = 0.1 + 0.01·1 = 0.11; first step b = g; θ = 1 − 0.1·0.11 = 0.989.
}

TEST_CASE("SGD with Nesterov momentum matches torch.optim.SGD", "[optim]") {
  require_close(three_steps([](auto groups) {
                  SGDOptions o;
                  o.lr = 0.1;
                  o.momentum = 0.9;
                  o.nesterov = true;
                  return std::make_unique<SGD>(groups, o);
                }),
                {{0.981, -1.962}, {0.9158999999999999, -1.9553}, {0.9603099999999999, -1.99227}});
  REQUIRE_THROWS_WITH(SGD({}, SGDOptions{0.1, 0.0, 0.0, 0.0, true}), Catch::Contains("Nesterov"));
}

TEST_CASE("Adam with L2 weight decay matches torch.optim.Adam", "[optim]") {
  require_close(three_steps([](auto groups) {
                  AdamOptions o;
                  o.lr = 0.1;
                  o.weight_decay = 0.01;
                  return std::make_unique<Adam>(groups, o);
                }),
                {{0.9000000090909083, -1.9000000045454544},
                 {0.8074301555350654, -1.8440383831318128},
                 {0.810521494626606, -1.860222044551092}});
}

TEST_CASE("Adam with AMSGrad matches torch.optim.Adam(amsgrad=True)", "[optim]") {
  require_close(three_steps([](auto groups) {
                  AdamOptions o;
                  o.lr = 0.1;
                  o.amsgrad = true;
                  return std::make_unique<Adam>(groups, o);
                }),
                {{0.900000009999999, -1.9000000049999999},
                 {0.8082219022055899, -1.853053191100447},
                 {0.8143620019388818, -1.879283398301436}});
}

TEST_CASE("AdamW decouples weight decay, matching torch.optim.AdamW", "[optim]") {
  require_close(three_steps([](auto groups) {
                  AdamOptions o = AdamW::default_options();
                  o.lr = 0.1;
                  o.weight_decay = 0.1;
                  return std::make_unique<AdamW>(groups, o);
                }),
                {{0.890000009999999, -1.8800000049999999},
                 {0.7893219021055898, -1.814253191050447},
                 {0.7875687828178258, -1.8223408663409315}});
  // Step 1 by hand: θ·(1 − 0.1·0.1) = 0.99, then Adam's first step moves by lr·sign(g) ≈ 0.1 → 0.89.
}

TEST_CASE("parameter groups keep their own learning rate and weight decay", "[optim]") {
  Tensor a = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor b = tensor({1.0}, {}, kFloat64).requires_grad_();
  SGD sgd({{{a}, 0.5, 0.0}, {{b}}}, SGDOptions{0.1, 0, 0, 0.1, false});
  REQUIRE(sgd.param_groups()[0].lr == 0.5);
  REQUIRE(sgd.param_groups()[1].lr == 0.1);
  REQUIRE(sgd.param_groups()[0].weight_decay == 0.0);
  REQUIRE(sgd.param_groups()[1].weight_decay == 0.1);
  a.set_grad(ones({1}, kFloat64));
  b.set_grad(ones({1}, kFloat64));
  sgd.step();
  REQUIRE(a.item<double>() == Approx(1.0 - 0.5 * 1.0));
  REQUIRE(b.item<double>() == Approx(1.0 - 0.1 * (1.0 + 0.1 * 1.0)));
}

TEST_CASE("zero_grad and parameters without gradients", "[optim]") {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2}).requires_grad_();
  Adam adam({{{a, b}}});
  a.set_grad(ones({2}));
  adam.step();  // b has no gradient: untouched
  REQUIRE(b.to_vector<float>() == std::vector<float>{1, 1});
  REQUIRE(a.at({0}) < 1.0);
  adam.zero_grad(false);
  REQUIRE(a.grad().to_vector<float>() == std::vector<float>{0, 0});
  adam.zero_grad();
  REQUIRE_FALSE(a.grad().defined());
  REQUIRE_THROWS_WITH(Adam({{{ones({2})}}}), Catch::Contains("does not require grad"));
}

TEST_CASE("groups_of leaves frozen parameters out", "[optim]") {
  nn::Linear layer(3, 2);
  layer.weight.requires_grad_(false);  // frozen, as a fine-tuned or fixed first layer
  std::vector<ParamGroup> groups = groups_of(layer);
  REQUIRE(groups.size() == 1);
  REQUIRE(groups[0].params.size() == 1);
  REQUIRE(groups[0].params[0].data_ptr() == layer.bias.data_ptr());
  SGD sgd(groups);  // an optimizer over them builds (a frozen parameter in a group is refused)
}

namespace {
// Runs `steps` optimizer steps on f(x, y) with autograd gradients.
template <typename Loss>
Tensor minimise(Optimizer& optimizer, Tensor& xy, Loss loss, int steps) {
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    loss(xy).backward();
    optimizer.step();
  }
  return xy;
}

Tensor rosenbrock(const Tensor& xy) {
  Tensor x = xy.select(0, 0), y = xy.select(0, 1);
  return (1.0 - x).pow(2.0) + 100.0 * (y - x * x).pow(2.0);
}
}  // namespace

TEST_CASE("optimizers converge on a quadratic and on Rosenbrock", "[optim]") {
  auto quadratic = [](const Tensor& xy) {
    Tensor target = tensor({3.0, -1.0}, {}, kFloat64);
    return sum((xy - target).pow(2.0) * tensor({1.0, 10.0}, {}, kFloat64));
  };
  SECTION("SGD on the quadratic") {
    Tensor xy = zeros({2}, kFloat64).requires_grad_();
    SGD sgd({{{xy}}}, SGDOptions{0.02, 0.9, 0, 0, false});
    minimise(sgd, xy, quadratic, 300);
    REQUIRE(xy.at({0}) == Approx(3.0).margin(1e-4));
    REQUIRE(xy.at({1}) == Approx(-1.0).margin(1e-4));
  }
  SECTION("Adam on Rosenbrock reaches the minimum at (1, 1)") {
    Tensor xy = tensor({-1.5, 2.0}, {}, kFloat64).requires_grad_();
    AdamOptions o;
    o.lr = 0.02;
    Adam adam({{{xy}}}, o);
    minimise(adam, xy, rosenbrock, 5000);
    REQUIRE(rosenbrock(xy).item<double>() < 1e-4);
    REQUIRE(xy.at({0}) == Approx(1.0).margin(0.02));
  }
  SECTION("SGD with Nesterov momentum on Rosenbrock") {
    Tensor xy = tensor({-1.5, 2.0}, {}, kFloat64).requires_grad_();
    SGD sgd({{{xy}}}, SGDOptions{2e-4, 0.9, 0, 0, true});
    double start = rosenbrock(xy).item<double>();
    minimise(sgd, xy, rosenbrock, 20000);
    REQUIRE(rosenbrock(xy).item<double>() < 1e-3 * start);
  }
}

TEST_CASE("optimizer state round-trips through state_dict", "[optim]") {
  Tensor p = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Adam adam({{{p}}});
  p.set_grad(tensor({0.5, -0.5}, {}, kFloat64));
  adam.step();
  OptimizerState saved = adam.state_dict();
  REQUIRE(saved.values.at("state.0.step") == "1");
  REQUIRE(saved.tensors.size() == 2);  // exp_avg, exp_avg_sq

  Tensor q = p.clone().detach().requires_grad_();
  Adam other({{{q}}});
  other.load_state_dict(saved);
  p.set_grad(tensor({0.25, 0.125}, {}, kFloat64));
  q.set_grad(tensor({0.25, 0.125}, {}, kFloat64));
  adam.step();
  other.step();
  REQUIRE(p.to_vector<double>() == q.to_vector<double>());

  SGD sgd({{{q}}});
  REQUIRE_THROWS_WITH(sgd.load_state_dict(saved), Catch::Contains("saved by Adam"));

  // Names and values from a damaged file reach the message escaped, never as raw control bytes.
  OptimizerState damaged = saved;
  damaged.tensors[0].first = "st\x7fte.0.exp_avg";
  REQUIRE_THROWS_WITH(other.load_state_dict(damaged), Catch::Contains("unexpected tensor \"st\\x7fte.0.exp_avg\""));
  damaged = saved;
  damaged.values["type"] = "Ad\x1b" "am";
  REQUIRE_THROWS_WITH(other.load_state_dict(damaged), Catch::Contains("saved by \"Ad\\x1bam\""));
  damaged = saved;
  damaged.values["state.\x01.step"] = "1";
  REQUIRE_THROWS_WITH(other.load_state_dict(damaged), Catch::Contains("\"state.\\x01.step (its parameter index)\""));
}
