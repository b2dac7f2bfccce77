// Lookahead: the slow copy moves toward the fast weights by (1 − decay), the fast weights restart
// from it, floating buffers average too and integer counters are left alone.
#include <catch2/catch.hpp>

#include "focus.h"
#include "nn/layers/batch_norm2d.h"
#include "nn/layers/linear.h"
#include "optim/lookahead.h"
#include "../support.h"

using namespace focus;

namespace {
struct Net : nn::Module {
  std::shared_ptr<nn::Linear> linear = register_module("linear", std::make_shared<nn::Linear>(3, 2));
  std::shared_ptr<nn::BatchNorm2d> norm = register_module("norm", std::make_shared<nn::BatchNorm2d>(2));
};
}  // namespace

TEST_CASE("Lookahead steps the slow weights toward the fast ones and restarts from them", "[optim][lookahead]") {
  Net net;
  optim::Lookahead lookahead(net);
  Tensor start = net.linear->weight.detach().clone();
  Tensor start_mean = net.norm->running_mean.detach().clone();
  {
    NoGradGuard no_grad;  // what some optimizer steps and forwards would do
    net.linear->weight.copy_(start + 1.0);
    net.norm->running_mean.copy_(start_mean + 4.0);
    net.norm->num_batches_tracked.fill_(7);
  }
  lookahead.update(0.75);  // slow moves a quarter of the way
  CHECK(testing::max_abs_diff(net.linear->weight, start + 0.25) < 1e-6);
  CHECK(testing::max_abs_diff(net.norm->running_mean, start_mean + 1.0) < 1e-6);
  CHECK(net.norm->num_batches_tracked.item<int64_t>() == 7);  // a counter, not averaged
  {
    NoGradGuard no_grad;
    net.linear->weight.copy_(start + 2.0);
  }
  lookahead.update(0.0);  // decay 0: the slow weights become the fast ones
  CHECK(testing::max_abs_diff(net.linear->weight, start + 2.0) < 1e-6);
  {
    NoGradGuard no_grad;
    net.linear->weight.copy_(start + 5.0);
  }
  lookahead.update(1.0);  // decay 1: back to the slow weights
  CHECK(testing::max_abs_diff(net.linear->weight, start + 2.0) < 1e-6);
  lookahead.reset();  // slow ← fast
  {
    NoGradGuard no_grad;
    net.linear->weight.copy_(start);
  }
  lookahead.update(0.5);
  CHECK(testing::max_abs_diff(net.linear->weight, start + 1.0) < 1e-6);
  REQUIRE_THROWS_WITH(lookahead.update(1.5), Catch::Contains("decay must be in [0, 1], got 1.5"));
}

TEST_CASE("Lookahead's schedule rises as the cube of progress to base^every", "[optim][lookahead]") {
  CHECK(optim::Lookahead::scheduled_decay(0, 100) == 0);
  CHECK(optim::Lookahead::scheduled_decay(50, 100) == Approx(std::pow(0.95, 5) / 8));
  CHECK(optim::Lookahead::scheduled_decay(100, 100) == Approx(std::pow(0.95, 5)));
  CHECK(optim::Lookahead::scheduled_decay(150, 100) == Approx(std::pow(0.95, 5)));
  REQUIRE_THROWS_WITH(optim::Lookahead::scheduled_decay(1, 0), Catch::Contains("total must be > 0"));
}
