// nn::init: the statistics of every initialiser on large tensors, against the
// formulas of PyTorch's torch.nn.init, plus fans, gains and errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "focus.h"
#include "nn/functional/conv.h"
#include "nn/init.h"
#include "../support.h"

using namespace focus;
namespace init = focus::nn::init;

namespace {

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};

Stats stats(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

// With 10⁶ samples the sample mean's standard error is std/1000 and the sample std's
// is about std/1414, so 1% of std (≥ 7 standard errors) is a safe tolerance for both.
constexpr double kRelTol = 0.01;

}  // namespace

TEST_CASE("uniform_ and normal_ match their distributions", "[init]") {
  Generator gen(1);
  // float64: in float32, a draw just below b may round up to b itself.
  Tensor t = empty({1000, 1000}, kFloat64);
  init::uniform_(t, -2.0, 3.0, &gen);
  Stats s = stats(t);
  const double uniform_std = 5.0 / std::sqrt(12.0);
  CHECK(s.min >= -2.0);
  CHECK(s.max < 3.0);
  CHECK(std::abs(s.mean - 0.5) < kRelTol * uniform_std);
  CHECK(std::abs(s.std - uniform_std) < kRelTol * uniform_std);

  init::normal_(t, 1.5, 0.25, &gen);
  s = stats(t);
  CHECK(std::abs(s.mean - 1.5) < kRelTol * 0.25);
  CHECK(std::abs(s.std - 0.25) < kRelTol * 0.25);
}

TEST_CASE("constant_, zeros_ and ones_ fill every element", "[init]") {
  Tensor t = empty({3, 4}, kFloat64);
  init::constant_(t, 2.5);
  for (double v : t.to_vector<double>()) CHECK(v == 2.5);
  init::zeros_(t);
  for (double v : t.to_vector<double>()) CHECK(v == 0.0);
  init::ones_(t);
  for (double v : t.to_vector<double>()) CHECK(v == 1.0);
}

TEST_CASE("initialisers write through views and keep the handle", "[init]") {
  Tensor t = zeros({4, 6});
  Tensor column = t.slice(1, 2, 3);  // a strided view: column 2
  init::ones_(column);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 6; ++j) CHECK(t.at({i, j}) == (j == 2 ? 1.0 : 0.0));

  // A parameter that requires grad is filled without recording a graph.
  Tensor w = zeros({3, 3}).requires_grad_();
  Tensor same = init::uniform_(w, -1.0, 1.0);
  CHECK(same.shares_storage(w));
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());
  CHECK(stats(w).max != 0.0);
}

TEST_CASE("a generator makes initialisation reproducible", "[init]") {
  Generator a(42), b(42), c(43);
  Tensor x = empty({5, 7}), y = empty({5, 7}), z = empty({5, 7});
  init::kaiming_uniform_(x, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU, &a);
  init::kaiming_uniform_(y, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU, &b);
  init::kaiming_uniform_(z, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU, &c);
  CHECK(x.to_vector<float>() == y.to_vector<float>());
  CHECK(x.to_vector<float>() != z.to_vector<float>());
}

TEST_CASE("fans of linear and convolution weights", "[init]") {
  auto [in2, out2] = init::calculate_fan_in_and_fan_out(empty({10, 20}));
  CHECK(in2 == 20);
  CHECK(out2 == 10);
  // Conv2d weight [out_channels, in_channels, kh, kw]: fans include the receptive field.
  auto [in4, out4] = init::calculate_fan_in_and_fan_out(empty({64, 32, 3, 5}));
  CHECK(in4 == 32 * 15);
  CHECK(out4 == 64 * 15);
  auto [in3, out3] = init::calculate_fan_in_and_fan_out(empty({8, 4, 7}));  // Conv1d
  CHECK(in3 == 28);
  CHECK(out3 == 56);
  REQUIRE_THROWS_WITH(init::calculate_fan_in_and_fan_out(empty({5})),
                      Catch::Contains("at least 2 dims") && Catch::Contains("[5]"));
  REQUIRE_THROWS_WITH(init::xavier_uniform_(empty({5})), Catch::Contains("at least 2 dims"));
}

TEST_CASE("calculate_gain follows PyTorch", "[init]") {
  using init::Nonlinearity;
  CHECK(init::calculate_gain(Nonlinearity::Linear) == 1.0);
  CHECK(init::calculate_gain(Nonlinearity::Conv) == 1.0);
  CHECK(init::calculate_gain(Nonlinearity::Sigmoid) == 1.0);
  CHECK(init::calculate_gain(Nonlinearity::Tanh) == Approx(5.0 / 3.0));
  CHECK(init::calculate_gain(Nonlinearity::ReLU) == Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain(Nonlinearity::LeakyReLU) == Approx(std::sqrt(2.0 / (1.0 + 0.01 * 0.01))));
  CHECK(init::calculate_gain(Nonlinearity::LeakyReLU, 0.2) == Approx(std::sqrt(2.0 / 1.04)));
  CHECK(init::calculate_gain(Nonlinearity::LeakyReLU, 0.0) == Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain(Nonlinearity::LeakyReLU, std::sqrt(5.0)) == Approx(1.0 / std::sqrt(3.0)));
}

TEST_CASE("xavier initialisers have std gain·√(2/(fan_in+fan_out))", "[init]") {
  Generator gen(7);
  Tensor w = empty({400, 600}, kFloat64);  // fan_in 600, fan_out 400
  const double gain = 0.8, expected_std = gain * std::sqrt(2.0 / 1000.0);

  init::xavier_uniform_(w, gain, &gen);
  Stats s = stats(w);
  const double bound = std::sqrt(3.0) * expected_std;
  CHECK(s.min >= -bound);
  CHECK(s.max <= bound);
  CHECK(s.max > 0.99 * bound);  // the whole range is used
  CHECK(std::abs(s.mean) < 3 * kRelTol * expected_std);
  CHECK(std::abs(s.std - expected_std) < kRelTol * expected_std);

  init::xavier_normal_(w, gain, &gen);
  s = stats(w);
  CHECK(std::abs(s.mean) < 3 * kRelTol * expected_std);
  CHECK(std::abs(s.std - expected_std) < kRelTol * expected_std);
}

TEST_CASE("kaiming initialisers have std gain/√fan", "[init]") {
  Generator gen(9);
  Tensor w = empty({256, 64, 3, 3});  // fan_in 576, fan_out 2304; 147456 elements
  using init::FanMode;
  using init::Nonlinearity;
  // Fewer samples than above: std error ≈ std/543, so 2% is still > 10 standard errors.
  const double tol = 0.02;

  SECTION("uniform, fan_in, relu") {
    init::kaiming_uniform_(w, 0.0, FanMode::FanIn, Nonlinearity::ReLU, &gen);
    const double std = std::sqrt(2.0) / std::sqrt(576.0), bound = std::sqrt(3.0) * std;
    Stats s = stats(w);
    CHECK(s.min >= -bound * (1 + 1e-6));
    CHECK(s.max <= bound * (1 + 1e-6));
    CHECK(std::abs(s.std - std) < tol * std);
  }
  SECTION("uniform with a = √5 (Linear/Conv default) gives bound 1/√fan_in") {
    init::kaiming_uniform_(w, std::sqrt(5.0), FanMode::FanIn, Nonlinearity::LeakyReLU, &gen);
    const double bound = 1.0 / std::sqrt(576.0);
    Stats s = stats(w);
    CHECK(s.min >= -bound * (1 + 1e-6));
    CHECK(s.max <= bound * (1 + 1e-6));
    CHECK(s.max > 0.99 * bound);
    CHECK(std::abs(s.std - bound / std::sqrt(3.0)) < tol * bound / std::sqrt(3.0));
  }
  SECTION("normal, fan_out, relu") {
    init::kaiming_normal_(w, 0.0, FanMode::FanOut, Nonlinearity::ReLU, &gen);
    const double std = std::sqrt(2.0) / std::sqrt(2304.0);
    Stats s = stats(w);
    CHECK(std::abs(s.mean) < tol * std);
    CHECK(std::abs(s.std - std) < tol * std);
  }
  SECTION("normal, fan_in, leaky_relu with a = 0.2") {
    init::kaiming_normal_(w, 0.2, FanMode::FanIn, Nonlinearity::LeakyReLU, &gen);
    const double std = std::sqrt(2.0 / 1.04) / std::sqrt(576.0);
    CHECK(std::abs(stats(w).std - std) < tol * std);
  }
  SECTION("normal, fan_in, tanh") {
    init::kaiming_normal_(w, 0.0, FanMode::FanIn, Nonlinearity::Tanh, &gen);
    const double std = (5.0 / 3.0) / std::sqrt(576.0);
    CHECK(std::abs(stats(w).std - std) < tol * std);
  }
}

TEST_CASE("initialisers reject bad arguments", "[init]") {
  REQUIRE_THROWS_WITH(init::normal_(zeros({3}, kInt64)), Catch::Contains("normal_") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(init::uniform_(empty({3}), 2.0, 1.0), Catch::Contains("a <= b"));
  REQUIRE_THROWS_WITH(init::normal_(empty({3}), 0.0, -1.0), Catch::Contains("std must be >= 0"));
}

TEST_CASE("dirac_ makes a convolution pass its input through", "[init]") {
  Tensor w = empty({4, 3, 3, 3});
  init::dirac_(w);
  Tensor x = randn({2, 3, 5, 5});
  Tensor y = nn::functional::conv2d(x, w, {}, nn::functional::Conv2dFuncOptions().padding(1));  // [2, 4, 5, 5]: channels 0-2 copy x, channel 3 is 0
  CHECK(testing::max_abs_diff(y.narrow(1, 0, 3), x) <= 0);
  CHECK(amax(abs(y.narrow(1, 3, 1))).item<double>() == 0);
  // Only the first `in` filters, the rest left as they were (the fast CIFAR-10 recipe's use).
  Tensor v = full({6, 2, 3, 3}, 0.5);
  init::dirac_(v.narrow(0, 0, 2));
  CHECK(testing::max_abs_diff(v.narrow(0, 2, 4), full({4, 2, 3, 3}, 0.5)) == 0);
  CHECK(v.at({0, 0, 1, 1}) == 1);
  CHECK(v.at({0, 1, 1, 1}) == 0);
  REQUIRE_THROWS_WITH(init::dirac_(empty({3, 3})), Catch::Contains("[out, in, k...]"));
}

TEST_CASE("patch_whitening_ gives the patches an identity covariance", "[init]") {
  // Correlated images: a smooth random field (neighbouring pixels and channels alike), so the
  // raw 2×2 patches are far from white.
  Generator gen(7);
  Tensor base = randn({64, 1, 9, 9}, {}, &gen);
  Tensor images = cat({base, base * 0.5 + randn({64, 1, 9, 9}, {}, &gen) * 0.1, randn({64, 1, 9, 9}, {}, &gen) * 0.2 - base}, 1);  // [64, 3, 9, 9]
  images = images.narrow(2, 0, 8) + images.narrow(2, 1, 8);                               // smooth in y
  Tensor w = empty({24, 3, 2, 2}, kFloat64);
  init::patch_whitening_(w, images, 1e-12);
  // The first 12 filters' outputs over every 2×2 window: covariance ≈ identity (eps is tiny).
  Tensor out = nn::functional::conv2d(images.to(kFloat64), w.narrow(0, 0, 12));  // [64, 12, 7, 8]
  Tensor rows = out.permute({1, 0, 2, 3}).reshape({12, -1});
  Tensor covariance = matmul(rows, rows.transpose(0, 1)) / static_cast<double>(rows.size(1));
  CHECK(testing::max_abs_diff(covariance, eye(12, kFloat64)) <= 1e-6);
  // The second half is the negative of the first.
  CHECK(testing::max_abs_diff(w.narrow(0, 12, 12), -w.narrow(0, 0, 12)) <= 0);
  REQUIRE_THROWS_WITH(init::patch_whitening_(empty({20, 3, 2, 2}), images), Catch::Contains("needs 2·12 = 24 filters, got 20"));
  REQUIRE_THROWS_WITH(init::patch_whitening_(empty({24, 3, 2, 2}), empty({4, 1, 8, 8})),
                      Catch::Contains("expected images [N, 3"));
}
