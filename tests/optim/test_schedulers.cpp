// Learning-rate schedules produce the sequences PyTorch documents. Expected values:
// torch.optim.lr_scheduler (PyTorch 1.13.1) stepped the same way, base lr 0.1.
#include <catch2/catch.hpp>

#include "focus.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"

using namespace focus;
using namespace focus::optim;

namespace {
std::vector<double> run(Optimizer& optimizer, LRScheduler& scheduler, int n) {
  std::vector<double> lrs;
  for (int i = 0; i < n; ++i) {
    lrs.push_back(optimizer.param_groups()[0].lr);
    scheduler.step();
  }
  return lrs;
}

void require_sequence(const std::vector<double>& got, const std::vector<double>& expected) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("step " << i);
    REQUIRE(got[i] == Approx(expected[i]).epsilon(1e-12).margin(1e-15));
  }
}

struct Fixture {
  Tensor p = zeros({1}).requires_grad_();
  SGD sgd{{{{p}}}, SGDOptions{0.1}};
};
}  // namespace

TEST_CASE("StepLR halves every two epochs", "[optim][scheduler]") {
  Fixture f;
  StepLR s(f.sgd, 2, 0.5);
  require_sequence(run(f.sgd, s, 6), {0.1, 0.1, 0.05, 0.05, 0.025, 0.025});
  REQUIRE_THROWS_WITH(StepLR(f.sgd, 0), Catch::Contains("step_size"));
}

TEST_CASE("CosineAnnealingLR follows the cosine", "[optim][scheduler]") {
  Fixture f;
  CosineAnnealingLR s(f.sgd, 4, 0.01);
  require_sequence(run(f.sgd, s, 5), {0.1, 0.08681980515339464, 0.05500000000000001, 0.023180194846605363, 0.01});
}

TEST_CASE("LinearLR warms up linearly", "[optim][scheduler]") {
  Fixture f;
  LinearLR s(f.sgd, 0.25, 1.0, 3);
  require_sequence(run(f.sgd, s, 5), {0.025, 0.05, 0.07500000000000001, 0.1, 0.1});
}

TEST_CASE("OneCycleLR rises then anneals", "[optim][scheduler]") {
  Fixture f;
  OneCycleLR s(f.sgd, 1.0, 10);
  require_sequence(run(f.sgd, s, 10), {0.040000000000000036, 0.52, 1.0, 0.9504846320134737, 0.8117456539497631,
                                       0.6112620219362893, 0.38874197806371075, 0.18825834605023697,
                                       0.049519367986526286, 4e-06});
}

TEST_CASE("PiecewiseLinearLR runs straight between its points and holds the ends", "[optim][scheduler]") {
  Fixture f;  // base lr 0.1
  PiecewiseLinearLR s(f.sgd, {{0, 0.2}, {2, 1.0}, {6, 0.0}});
  // 0.1·0.2, 0.1·0.6, 0.1·1.0, then down by 0.1/4 a step to 0, where it stays.
  require_sequence(run(f.sgd, s, 8), {0.02, 0.06, 0.1, 0.075, 0.05, 0.025, 0.0, 0.0});
  REQUIRE(s.factor_at(-3) == 0.2);
  REQUIRE(s.factor_at(1) == Approx(0.6));
}

TEST_CASE("PiecewiseLinearLR refuses points out of order and negative factors", "[optim][scheduler]") {
  Fixture f;
  REQUIRE_THROWS_WITH(PiecewiseLinearLR(f.sgd, {}), Catch::Contains("at least one"));
  REQUIRE_THROWS_WITH(PiecewiseLinearLR(f.sgd, {{0, 1.0}, {0, 0.5}}), Catch::Contains("point 1 is at step 0 after step 0"));
  REQUIRE_THROWS_WITH(PiecewiseLinearLR(f.sgd, {{0, -1.0}}), Catch::Contains("factor -1"));
}

TEST_CASE("WarmupCosineLR warms up then follows the cosine to eta_min", "[optim][scheduler]") {
  Fixture f;
  WarmupCosineLR s(f.sgd, 2, 6, 0.5, 0.0);
  // warm-up: 0.1·0.5, 0.1·0.75; then 0.1·(1 + cos(π·k/4))/2 for k = 0..4
  require_sequence(run(f.sgd, s, 7), {0.05, 0.075, 0.1, 0.1 * (1 + std::cos(M_PI / 4)) / 2, 0.05,
                                      0.1 * (1 + std::cos(3 * M_PI / 4)) / 2, 0.0});
}

TEST_CASE("ReduceLROnPlateau divides after `patience` bad epochs, honouring cooldown", "[optim][scheduler]") {
  Fixture f;
  ReduceLROnPlateau s(f.sgd, ReduceLROnPlateau::Mode::Min, 0.5, 1, 1e-4, 1);
  for (double loss : {1.0, 0.9, 0.95, 0.95}) s.step(loss);  // two bad epochs > patience 1 → halve
  REQUIRE(f.sgd.param_groups()[0].lr == Approx(0.05));
  s.step(0.96);  // cooldown epoch: not counted
  s.step(0.97);
  REQUIRE(f.sgd.param_groups()[0].lr == Approx(0.05));
  s.step(0.98);  // second bad epoch after cooldown → halve again
  REQUIRE(f.sgd.param_groups()[0].lr == Approx(0.025));
  REQUIRE(s.best() == 0.9);
}

TEST_CASE("a scheduler resumes from its state", "[optim][scheduler]") {
  Fixture f;
  CosineAnnealingLR s(f.sgd, 10);
  for (int i = 0; i < 3; ++i) s.step();
  auto state = s.state_dict();
  Fixture g;
  CosineAnnealingLR t(g.sgd, 10);
  t.load_state_dict(state);
  REQUIRE(t.last_epoch() == 3);
  REQUIRE(g.sgd.param_groups()[0].lr == f.sgd.param_groups()[0].lr);
}
