// Losses (nn/functional/loss.h, nn/losses.h): values against hand computation,
// the fused cross-entropy against the composite log_softmax + gather version
// (values and gradients, with weights, ignore_index and label smoothing), numerical
// gradchecks, extreme logits, reductions and error messages.
// binary_cross_entropy_with_logits runs on the fused op autograd/ops/sigmoid_cross_entropy.cpp.
#include <catch2/catch.hpp>
#include <cmath>

#include "focus.h"
#include "nn/functional/activation.h"
#include "nn/functional/loss.h"
#include "nn/losses.h"
#include "../support.h"

using namespace focus;
using focus::testing::random;
using focus::testing::random_leaf;
namespace F = focus::nn::functional;
using F::Reduction;

namespace {

Tensor labels(const std::vector<int64_t>& values, const Shape& shape) { return from_vector(values, shape); }

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

void require_close(const Tensor& got, const Tensor& want, double tol) {
  REQUIRE(got.shape() == want.shape());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - w[i]) / (1 + std::abs(w[i])));
  INFO("worst relative error " << worst);
  REQUIRE(worst <= tol);
}

// PyTorch's definition, composed from primitive ops: with logp = log_softmax(x, 1),
//   loss = (1 − ε)·w_t·(−logp_t) + (ε/C)·Σ_c w_c·(−logp_c), zero where ignored,
// mean = Σ loss / Σ_{not ignored} w_t.
Tensor composite_cross_entropy(const Tensor& logits, const Tensor& target, const F::CrossEntropyOptions& options) {
  const int64_t C = logits.size(1);
  const DType dtype = logits.dtype();
  Tensor ignored = eq(target, full({}, static_cast<double>(options.ignore_index()), kInt64));
  Tensor safe = where(ignored, zeros({}, kInt64), target);
  Tensor keep = where(ignored, zeros({}, dtype), ones({}, dtype));  // [N, d...]
  Tensor log_probs = log_softmax(logits, 1);
  Tensor nll = neg(squeeze(gather(log_probs, 1, unsqueeze(safe, 1)), 1));
  Shape class_shape(logits.dim(), 1);
  class_shape[1] = C;
  Tensor w = options.weight().defined() ? options.weight() : ones({C}, dtype);
  Tensor w_t = reshape(index_select(w, 0, reshape(safe, {-1})), safe.shape());
  Tensor smooth = neg(sum(mul(log_probs, reshape(w, class_shape)), {1}));
  const double eps = options.label_smoothing();
  Tensor per =
      mul(add(mul(mul(nll, w_t), scalar_tensor(1 - eps, dtype)), mul(smooth, scalar_tensor(eps / C, dtype))), keep);
  switch (options.reduction()) {
    case Reduction::None: return per;
    case Reduction::Sum: return sum(per);
    case Reduction::Mean: return div(sum(per), sum(mul(w_t, keep)));
  }
  return per;
}

}  // namespace

TEST_CASE("cross_entropy values by hand", "[losses][cross_entropy]") {
  Tensor logits = tensor({1, 2, 3, 1, 0, -1}, {2, 3}, kFloat64);
  Tensor target = labels({2, 0}, {2});
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  const double l1 = std::log(std::exp(1.0) + 1.0 + std::exp(-1.0)) - 1.0;
  CHECK(F::cross_entropy(logits, target).item() == Approx((l0 + l1) / 2));
  CHECK(F::cross_entropy(logits, target, F::CrossEntropyOptions().reduction(Reduction::Sum)).item() == Approx(l0 + l1));
  Tensor per = F::cross_entropy(logits, target, F::CrossEntropyOptions().reduction(Reduction::None));
  REQUIRE(per.shape() == Shape{2});
  CHECK(per.at({0}) == Approx(l0));
  CHECK(per.at({1}) == Approx(l1));

  // Class weights: mean = Σ w_t·l_t / Σ w_t.
  Tensor weight = tensor({0.5, 2.0, 3.0}, {3}, kFloat64);
  CHECK(F::cross_entropy(logits, target, F::CrossEntropyOptions().weight(weight)).item() ==
        Approx((3.0 * l0 + 0.5 * l1) / 3.5));

  // float32 gives the same to float precision.
  CHECK(F::cross_entropy(logits.to(kFloat32), target).item() == Approx((l0 + l1) / 2).epsilon(1e-6));
}

TEST_CASE("cross_entropy with label smoothing by hand", "[losses][cross_entropy]") {
  // One row, C = 3: loss = (1 − ε)(lse − z_t) + (ε/3)·Σ_c (lse − z_c).
  Tensor logits = tensor({0.5, -1, 2}, {1, 3}, kFloat64);
  const double lse = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0)), eps = 0.3;
  const double expected = (1 - eps) * (lse - 0.5) + eps / 3 * (3 * lse - (0.5 - 1 + 2));
  CHECK(F::cross_entropy(logits, labels({0}, {1}), F::CrossEntropyOptions().label_smoothing(eps)).item() ==
        Approx(expected));
}

TEST_CASE("cross_entropy is stable for logits of ±1000", "[losses][cross_entropy]") {
  Tensor logits = tensor({1000, -1000, 0, -1000, 1000, 1000}, {2, 3}).requires_grad_();
  Tensor per = F::cross_entropy(logits, labels({1, 0}, {2}), F::CrossEntropyOptions().reduction(Reduction::None));
  CHECK(per.at({0}) == Approx(2000.0));
  CHECK(per.at({1}) == Approx(2000.0 + std::log(2.0)));
  Tensor loss = F::cross_entropy(logits, labels({1, 0}, {2}), F::CrossEntropyOptions().label_smoothing(0.1));
  REQUIRE(all_finite(loss));
  loss.backward();
  REQUIRE(all_finite(logits.grad()));
  // dz = (p − smoothed one-hot)/N; row 0: p = (1, 0, 0), target 1; row 1: p = (0, ½, ½), target 0.
  CHECK(logits.grad().at({0, 0}) == Approx((1.0 - 0.1 / 3) / 2));
  CHECK(logits.grad().at({0, 1}) == Approx((0.0 - 0.9 - 0.1 / 3) / 2));
  CHECK(logits.grad().at({1, 1}) == Approx((0.5 - 0.1 / 3) / 2));
  CHECK(logits.grad().at({1, 0}) == Approx((0.0 - 0.9 - 0.1 / 3) / 2));
}

TEST_CASE("ignore_index drops targets from the loss, the mean and the gradient", "[losses][cross_entropy]") {
  Tensor logits = random({3, 4}, 1).requires_grad_();
  Tensor target = labels({2, -100, 0}, {3});
  Tensor per = F::cross_entropy(logits, target, F::CrossEntropyOptions().reduction(Reduction::None));
  CHECK(per.at({1}) == 0.0);
  Tensor loss = F::cross_entropy(logits, target);
  CHECK(loss.item() == Approx((per.at({0}) + per.at({2})) / 2));  // divided by 2 real targets, not 3
  loss.backward();
  for (int64_t c = 0; c < 4; ++c) CHECK(logits.grad().at({1, c}) == 0.0);

  Tensor custom = F::cross_entropy(logits.detach(), labels({2, 1, 1}, {3}), F::CrossEntropyOptions().ignore_index(1));
  CHECK(custom.item() == Approx(per.at({0})));
}

TEST_CASE("fused cross_entropy equals the composite log_softmax + gather version", "[losses][cross_entropy]") {
  Tensor weight = tensor({0.3, 1.0, 2.5, 0.7, 1.2}, {5}, kFloat64);
  struct Config {
    const char* name;
    F::CrossEntropyOptions options;
  };
  std::vector<Config> configs = {
      {"plain mean", F::CrossEntropyOptions()},
      {"sum with smoothing", F::CrossEntropyOptions().label_smoothing(0.2).reduction(Reduction::Sum)},
      {"none with ignore", F::CrossEntropyOptions().ignore_index(3).reduction(Reduction::None)},
      {"weights, ignore, smoothing", F::CrossEntropyOptions().weight(weight).ignore_index(3).label_smoothing(0.15)},
      {"weights, none", F::CrossEntropyOptions().weight(weight).label_smoothing(0.4).reduction(Reduction::None)},
  };
  for (const Shape& shape : {Shape{6, 5}, Shape{2, 5, 3, 2}}) {
    Shape target_shape = shape;
    target_shape.erase(target_shape.begin() + 1);
    Generator gen(5);
    Tensor target = randint(0, 5, target_shape, kInt64, &gen);
    for (const Config& config : configs) {
      INFO(config.name << ", logits " << shape_str(shape));
      Tensor x1 = random_leaf(shape, 6), x2 = x1.detach().clone().requires_grad_();
      Tensor fused = F::cross_entropy(x1, target, config.options);
      Tensor composite = composite_cross_entropy(x2, target, config.options);
      require_close(fused, composite, 1e-12);
      Tensor upstream = random(fused.shape(), 7);
      sum(mul(fused, upstream)).backward();
      sum(mul(composite, upstream)).backward();
      require_close(x1.grad(), x2.grad(), 1e-12);
    }
  }
}

TEST_CASE("cross_entropy gradients are right numerically", "[losses][cross_entropy][gradcheck]") {
  Tensor weight = tensor({0.3, 1.0, 2.5, 0.7}, {4}, kFloat64);
  Generator gen(8);
  SECTION("[N, C] with ignore_index, label smoothing and weights") {
    Tensor target = labels({0, 3, -100, 2, 1}, {5});
    auto fn = [&](const std::vector<Tensor>& in) {
      return F::cross_entropy(in[0], target, F::CrossEntropyOptions().weight(weight).label_smoothing(0.1));
    };
    REQUIRE(gradcheck(fn, {random_leaf({5, 4}, 9)}));
  }
  SECTION("[N, C, H, W] logits, unreduced") {
    Tensor target = randint(0, 4, {2, 3, 2}, kInt64, &gen);
    auto fn = [&](const std::vector<Tensor>& in) {
      return F::cross_entropy(in[0], target, F::CrossEntropyOptions().label_smoothing(0.25).reduction(Reduction::None));
    };
    REQUIRE(gradcheck(fn, {random_leaf({2, 4, 3, 2}, 10)}));
  }
  SECTION("transposed and broadcast logits") {
    Tensor target = labels({1, 0, 3}, {3});
    auto transposed = [&](const std::vector<Tensor>& in) { return F::cross_entropy(in[0].t(), target); };
    REQUIRE(gradcheck(transposed, {random_leaf({4, 3}, 11)}));
    auto broadcast = [&](const std::vector<Tensor>& in) {
      return F::cross_entropy(in[0].expand({3, 4}), target, F::CrossEntropyOptions().reduction(Reduction::Sum));
    };
    REQUIRE(gradcheck(broadcast, {random_leaf({1, 4}, 12)}));
  }
}

TEST_CASE("cross_entropy of an unbatched input", "[losses][cross_entropy]") {
  Tensor logits = tensor({0.5, 1.5, -0.5}, {3}, kFloat64);
  Tensor target = labels({1}, {});
  Tensor batched = F::cross_entropy(logits.unsqueeze(0), labels({1}, {1}));
  CHECK(F::cross_entropy(logits, target).item() == Approx(batched.item()));
  CHECK(F::cross_entropy(logits, target, F::CrossEntropyOptions().reduction(Reduction::None)).dim() == 0);
}

TEST_CASE("cross_entropy errors name the values and shapes", "[losses][cross_entropy]") {
  Tensor logits = zeros({4, 5});
  REQUIRE_THROWS_WITH(F::cross_entropy(logits, labels({0, 7, 1, 2}, {4})),
                      Catch::Contains("cross_entropy: target 7 is out of range for 5 classes"));
  REQUIRE_THROWS_WITH(F::cross_entropy(logits, labels({0, -3, 1, 2}, {4})), Catch::Contains("target -3"));
  REQUIRE_THROWS_WITH(F::cross_entropy(logits, labels({0, 1, 2}, {3})),
                      Catch::Contains("target of shape [3] does not match logits of shape [4, 5] (expected [4])"));
  REQUIRE_THROWS_WITH(F::cross_entropy(logits, zeros({4})), Catch::Contains("int64 class indices, got float32"));
  REQUIRE_THROWS_WITH(F::cross_entropy(logits, labels({0, 1, 2, 3}, {4}), F::CrossEntropyOptions().weight(ones({3}))),
                      Catch::Contains("weight must be a float32 tensor of shape [5]"));
  REQUIRE_THROWS_WITH(F::cross_entropy(logits, labels({0, 1, 2, 3}, {4}), F::CrossEntropyOptions().label_smoothing(2)),
                      Catch::Contains("label_smoothing must be in [0, 1], got 2"));
}

TEST_CASE("nll_loss values, ignore_index, weights and gradients", "[losses][nll_loss]") {
  Tensor log_probs = tensor({-0.5, -1.0, -2.0, -0.1, -3.0, -0.7}, {2, 3}, kFloat64);
  CHECK(F::nll_loss(log_probs, labels({2, 0}, {2})).item() == Approx((2.0 + 0.1) / 2));
  CHECK(F::nll_loss(log_probs, labels({2, -100}, {2})).item() == Approx(2.0));
  Tensor weight = tensor({4.0, 1.0, 0.5}, {3}, kFloat64);
  CHECK(F::nll_loss(log_probs, labels({2, 0}, {2}), F::NLLLossOptions().weight(weight)).item() ==
        Approx((0.5 * 2.0 + 4.0 * 0.1) / 4.5));
  CHECK(F::nll_loss(log_probs, labels({2, 0}, {2}), F::NLLLossOptions().reduction(Reduction::Sum)).item() ==
        Approx(2.1));

  // cross_entropy(x) == nll_loss(log_softmax(x)).
  Tensor x = random({4, 6}, 13);
  Tensor target = labels({5, 0, -100, 2}, {4});
  CHECK(F::nll_loss(F::log_softmax(x, 1), target).item() == Approx(F::cross_entropy(x, target).item()));

  auto fn = [&](const std::vector<Tensor>& in) {
    return F::nll_loss(in[0], labels({1, 0, 2, 1}, {2, 2}), F::NLLLossOptions().weight(weight).ignore_index(0));
  };
  REQUIRE(gradcheck(fn, {random_leaf({2, 3, 2}, 14)}));
  REQUIRE_THROWS_WITH(F::nll_loss(log_probs, labels({3, 0}, {2})),
                      Catch::Contains("nll_loss: target 3 is out of range for 3 classes"));
}

TEST_CASE("mse_loss values, reductions and gradients", "[losses][mse_loss]") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2}, kFloat64), b = tensor({0, 2, 5, 1}, {2, 2}, kFloat64);
  CHECK(F::mse_loss(a, b).item() == Approx((1.0 + 0 + 4 + 9) / 4));
  CHECK(F::mse_loss(a, b, Reduction::Sum).item() == Approx(14.0));
  CHECK(F::mse_loss(a, b, Reduction::None).to_vector<double>() == std::vector<double>{1, 0, 4, 9});
  auto fn = [](const std::vector<Tensor>& in) { return F::mse_loss(in[0].t(), in[1]); };
  REQUIRE(gradcheck(fn, {random_leaf({3, 2}, 15), random_leaf({2, 3}, 16)}));
  REQUIRE_THROWS_WITH(F::mse_loss(zeros({2, 3}), zeros({3, 2})),
                      Catch::Contains("mse_loss: input of shape [2, 3] and target of shape [3, 2] differ"));
}

TEST_CASE("binary_cross_entropy_with_logits values and stability", "[losses][bce]") {
  auto naive = [](double x, double y, double pw) {
    const double p = 1 / (1 + std::exp(-x));
    return -(pw * y * std::log(p) + (1 - y) * std::log(1 - p));
  };
  Tensor x = tensor({-2, -0.5, 0, 0.7, 3}, {5}, kFloat64), y = tensor({0, 1, 0.3, 1, 0.2}, {5}, kFloat64);
  Tensor per = F::binary_cross_entropy_with_logits(x, y, F::BCEWithLogitsOptions().reduction(Reduction::None));
  double total = 0;
  for (int64_t i = 0; i < 5; ++i) {
    const double expected = naive(x.at({i}), y.at({i}), 1.0);
    CHECK(per.at({i}) == Approx(expected));
    total += expected;
  }
  CHECK(F::binary_cross_entropy_with_logits(x, y).item() == Approx(total / 5));

  Tensor pos_weight = tensor({3.0}, {1}, kFloat64);
  Tensor weighted = F::binary_cross_entropy_with_logits(
      x, y, F::BCEWithLogitsOptions().pos_weight(pos_weight).reduction(Reduction::None));
  for (int64_t i = 0; i < 5; ++i) CHECK(weighted.at({i}) == Approx(naive(x.at({i}), y.at({i}), 3.0)));

  Tensor element_weight = tensor({1, 0, 2, 1, 0.5}, {5}, kFloat64);
  CHECK(F::binary_cross_entropy_with_logits(x, y,
                                            F::BCEWithLogitsOptions().weight(element_weight).reduction(Reduction::Sum))
            .item() == Approx(sum(mul(per, element_weight)).item()));

  // Logits far beyond where sigmoid saturates: the loss is |x| for the wrong label, ~0 for the right one.
  Tensor extreme = tensor({100, -100, 1000, -1000}, {4}).requires_grad_();
  Tensor targets = tensor({0, 1, 1, 0}, {4});
  Tensor loss =
      F::binary_cross_entropy_with_logits(extreme, targets, F::BCEWithLogitsOptions().reduction(Reduction::None));
  CHECK(loss.at({0}) == Approx(100.0));
  CHECK(loss.at({1}) == Approx(100.0));
  CHECK(loss.at({2}) == 0.0);
  CHECK(loss.at({3}) == 0.0);
  sum(loss).backward();
  REQUIRE(all_finite(extreme.grad()));
  CHECK(extreme.grad().at({0}) == Approx(1.0));  // σ(x) − y
  CHECK(extreme.grad().at({1}) == Approx(-1.0));
}

TEST_CASE("binary_cross_entropy_with_logits gradients for logits, targets and pos_weight", "[losses][bce][gradcheck]") {
  // Includes logits at exactly 0, where a max/abs composite would have a kink.
  Tensor x = tensor({0, -1.5, 0.3, 0, 2.0, -0.2}, {2, 3}, kFloat64).requires_grad_();
  Tensor y = tensor({0.1, 0.9, 0.5, 1, 0, 0.4}, {2, 3}, kFloat64).requires_grad_();
  Tensor pos_weight = tensor({2.0, 0.5, 1.5}, {3}, kFloat64).requires_grad_();
  auto fn = [](const std::vector<Tensor>& in) {
    return F::binary_cross_entropy_with_logits(in[0], in[1], F::BCEWithLogitsOptions().pos_weight(in[2]));
  };
  REQUIRE(gradcheck(fn, {x, y, pos_weight}));
  auto plain = [](const std::vector<Tensor>& in) {
    return F::binary_cross_entropy_with_logits(in[0].t(), in[1], F::BCEWithLogitsOptions().reduction(Reduction::None));
  };
  REQUIRE(gradcheck(plain, {random_leaf({3, 2}, 17), random({2, 3}, 18).requires_grad_()}));
  // At x = 0 the gradient is σ(0) − y = 0.5 − y.
  Tensor at_zero = zeros({1}, kFloat64).requires_grad_();
  F::binary_cross_entropy_with_logits(at_zero, tensor({0.2}, {1}, kFloat64)).backward();
  CHECK(at_zero.grad().at({0}) == Approx(0.3));
  REQUIRE_THROWS_WITH(F::binary_cross_entropy_with_logits(zeros({2, 3}), zeros({3})),
                      Catch::Contains("target of shape [3] does not match logits of shape [2, 3]"));
}

TEST_CASE("loss modules wrap the functional losses and keep weights as buffers", "[losses]") {
  Tensor weight = tensor({1.0, 2.0, 0.5});
  nn::CrossEntropyLoss criterion(F::CrossEntropyOptions().weight(weight).label_smoothing(0.1));
  Tensor logits = random({4, 3}, 19, kFloat32);
  Tensor target = labels({0, 2, 1, 1}, {4});
  CHECK(criterion(logits, target).item() ==
        F::cross_entropy(logits, target, F::CrossEntropyOptions().weight(weight).label_smoothing(0.1)).item());
  REQUIRE(criterion.state_dict().size() == 1);
  CHECK(criterion.state_dict()[0].first == "weight");
  CHECK(criterion.num_parameters() == 0);
  criterion.to(kFloat64);  // the options see the converted buffer
  CHECK(criterion.options.weight().dtype() == kFloat64);
  CHECK(criterion(logits.to(kFloat64), target).dtype() == kFloat64);
  CHECK(criterion.extra_repr() == "ignore_index=-100, label_smoothing=0.1, reduction=mean");

  nn::NLLLoss nll;
  CHECK(nll(F::log_softmax(logits, 1), target).item() == Approx(F::cross_entropy(logits, target).item()));
  nn::MSELoss mse(Reduction::Sum);
  CHECK(mse(ones({2}), zeros({2})).item() == 2.0);
  nn::BCEWithLogitsLoss bce(F::BCEWithLogitsOptions().pos_weight(tensor({2.0})));
  CHECK(bce.state_dict()[0].first == "pos_weight");
  CHECK(bce(zeros({3}), ones({3})).item() == Approx(2.0 * std::log(2.0)));
}
