// nn::Dropout and functional::dropout: mask statistics, 1/(1−p) scaling, eval
// identity, gradients only through kept units, reproducibility, errors.
#include <catch2/catch.hpp>
#include <cmath>

#include "focus.h"
#include "nn/functional/dropout.h"
#include "nn/layers/dropout.h"

using namespace focus;
namespace F = focus::nn::functional;

TEST_CASE("dropout in training zeroes a fraction p and scales the rest by 1/(1-p)", "[dropout]") {
  for (double p : {0.1, 0.5, 0.8}) {
    Generator gen(17);
    const int64_t n = 200000;
    Tensor x = full({n}, 2.0);
    Tensor y = F::dropout(x, p, true, &gen);
    const float kept_value = static_cast<float>(2.0 / (1.0 - p));
    int64_t dropped = 0, wrongly_scaled = 0;
    double total = 0;
    for (float v : y.to_vector<float>()) {
      dropped += v == 0.0f;
      wrongly_scaled += v != 0.0f && std::abs(v - kept_value) > 1e-6f * kept_value;
      total += v;
    }
    CHECK(wrongly_scaled == 0);
    // Binomial(n, p): standard deviation √(n·p·(1−p)) ≤ 224, so 5σ ≈ 0.0056·n.
    INFO("p = " << p);
    CHECK(std::abs(static_cast<double>(dropped) / n - p) < 0.0056);
    CHECK(std::abs(total / n - 2.0) < 0.05);  // the expectation is preserved
  }
}

TEST_CASE("dropout is the identity in eval mode and for p = 0", "[dropout]") {
  Tensor x = randn({4, 5});
  nn::Dropout layer(0.5);
  layer.eval();
  Tensor y = layer(x);
  CHECK(y.to_vector<float>() == x.to_vector<float>());
  CHECK(F::dropout(x, 0.0, true).to_vector<float>() == x.to_vector<float>());
  CHECK(F::dropout(x, 0.7, false).to_vector<float>() == x.to_vector<float>());
  layer.train();
  CHECK(layer.is_training());
  CHECK(layer(x).to_vector<float>() != x.to_vector<float>());
}

TEST_CASE("p = 1 drops everything, gradient included", "[dropout]") {
  Tensor x = randn({3, 3}, kFloat64).requires_grad_();
  Tensor y = F::dropout(x, 1.0, true);
  for (double v : y.to_vector<double>()) CHECK(v == 0.0);
  sum(y).backward();
  for (double v : x.grad().to_vector<double>()) CHECK(v == 0.0);
}

TEST_CASE("gradient flows only through kept units, scaled", "[dropout]") {
  Generator gen(3);
  const double p = 0.3;
  Tensor x = randn({50, 40}, kFloat64).requires_grad_();
  Tensor y = F::dropout(x, p, true, &gen);
  Tensor upstream = randn({50, 40}, kFloat64);
  sum(mul(y, upstream)).backward();
  std::vector<double> out = y.to_vector<double>(), in = x.to_vector<double>(), g = x.grad().to_vector<double>(),
                      u = upstream.to_vector<double>();
  int kept = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0.0) {
      CHECK(g[i] == 0.0);
    } else {
      ++kept;
      CHECK(out[i] == Approx(in[i] / (1 - p)));
      CHECK(g[i] == Approx(u[i] / (1 - p)));
    }
  }
  CHECK(kept > 1000);
  CHECK(kept < 1800);
}

TEST_CASE("a seeded generator reproduces the mask", "[dropout]") {
  nn::Dropout first(0.5), second(nn::DropoutOptions().p(0.5));
  Tensor x = ones({64});
  manual_seed(99);
  const std::vector<float> first_mask = first(x).to_vector<float>();
  manual_seed(99);
  CHECK(first_mask == second(x).to_vector<float>());
  CHECK(first(x).to_vector<float>() != first(x).to_vector<float>());  // fresh masks on each call
  CHECK(first.extra_repr() == "p=0.5");
  CHECK(second.options.p() == 0.5);
}

TEST_CASE("dropout rejects probabilities outside [0, 1]", "[dropout]") {
  REQUIRE_THROWS_WITH(nn::Dropout(1.5), Catch::Contains("Dropout: probability must be in [0, 1], got 1.5"));
  REQUIRE_THROWS_WITH(F::dropout(ones({2}), -0.1), Catch::Contains("dropout: probability must be in [0, 1], got -0.1"));
}
