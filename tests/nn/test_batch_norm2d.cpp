// batch_norm (autograd/ops/batch_norm.cpp, kernels in tensor/cpu/batch_norm.cpp),
// the functional form and nn::BatchNorm2d: training against per-channel loops,
// running statistics after two batches against hand-computed values (momentum and
// the cumulative average), eval mode, gradients numerically and against the
// composite of mean/var/sqrt ops, the optional parts (affine, track_running_stats),
// state_dict names, and error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "focus.h"
#include "nn/functional/normalization.h"
#include "nn/gradcheck.h"
#include "nn/layers/batch_norm2d.h"
#include "../support.h"

using namespace focus;
using focus::testing::random;
namespace F = focus::nn::functional;

namespace {

// Per channel of [N, C, H, W]: mean, biased and unbiased variance, by plain loops.
struct ChannelStats {
  std::vector<double> mean, var, unbiased_var;
};
ChannelStats naive_stats(const Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  std::vector<double> v = x.contiguous().to_vector<double>();
  ChannelStats s;
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, squares = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sum += v[(n * C + c) * HW + i];
    const double m = sum / static_cast<double>(N * HW);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) squares += (v[(n * C + c) * HW + i] - m) * (v[(n * C + c) * HW + i] - m);
    s.mean.push_back(m);
    s.var.push_back(squares / static_cast<double>(N * HW));
    s.unbiased_var.push_back(squares / static_cast<double>(N * HW - 1));
  }
  return s;
}

// y = (x − mean[c]) / √(var[c] + eps) · w[c] + b[c]
std::vector<double> naive_normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var,
                                    const std::vector<double>& w, const std::vector<double>& b, double eps) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  std::vector<double> v = x.contiguous().to_vector<double>(), y(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (n * C + c) * HW + i;
        y[k] = (v[k] - mean[c]) / std::sqrt(var[c] + eps) * w[c] + b[c];
      }
  return y;
}

void require_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
}

// The same normalisation composed from primitive ops (training mode, batch statistics).
Tensor composite_batch_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  Tensor m = mean(x, {0, 2, 3}, true);
  Tensor v = var(x, {0, 2, 3}, 0, true);
  Tensor xhat = (x - m) / sqrt(v + eps);
  return xhat * reshape(w, {1, -1, 1, 1}) + reshape(b, {1, -1, 1, 1});
}

}  // namespace

TEST_CASE("batch_norm in training normalises with the batch statistics", "[batch_norm2d]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    // A large mean (100) and a small spread: two-pass statistics keep their precision.
    Tensor x = kernels::affine(random({4, 3, 5, 6}, 1, dtype), 0.5, 100.0);
    Tensor w = random({3}, 2, dtype), b = random({3}, 3, dtype);
    Tensor y = F::batch_norm(x, {}, {}, w, b, true, 0.1, 1e-5);
    ChannelStats s = naive_stats(x);
    REQUIRE(y.dtype() == dtype);
    require_close(y.to_vector<double>(),
                  naive_normalize(x, s.mean, s.var, w.to_vector<double>(), b.to_vector<double>(), 1e-5),
                  dtype == kFloat32 ? 2e-4 : 1e-10);
  }
}

TEST_CASE("batch_norm by hand", "[batch_norm2d]") {
  // One channel, values 1, 2, 3, 4 (N = 2, 1×2 planes): mean 2.5, biased var 1.25.
  Tensor x = tensor({1, 2, 3, 4}, {2, 1, 1, 2}, kFloat64);
  Tensor running_mean = zeros({1}, kFloat64), running_var = ones({1}, kFloat64);
  Tensor y = F::batch_norm(x, running_mean, running_var, {}, {}, true, 0.1, 1e-12);
  const double s = std::sqrt(1.25);
  require_close(y.to_vector<double>(), {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s}, 1e-9);
  // running_mean = 0.9·0 + 0.1·2.5; running_var = 0.9·1 + 0.1·(5/3) (the unbiased variance).
  REQUIRE(running_mean.item<double>() == Approx(0.25));
  REQUIRE(running_var.item<double>() == Approx(0.9 + 0.1 * 5.0 / 3.0));
}

TEST_CASE("BatchNorm2d running statistics after two batches", "[batch_norm2d][layer]") {
  nn::BatchNorm2d bn(3);
  bn.to(kFloat64);
  Tensor x1 = kernels::affine(random({4, 3, 3, 5}, 10), 2.0, 1.0), x2 = random({2, 3, 4, 4}, 11);
  bn(x1);
  bn(x2);
  ChannelStats s1 = naive_stats(x1), s2 = naive_stats(x2);
  std::vector<double> want_mean, want_var;
  for (int c = 0; c < 3; ++c) {
    want_mean.push_back(0.9 * (0.9 * 0.0 + 0.1 * s1.mean[c]) + 0.1 * s2.mean[c]);
    want_var.push_back(0.9 * (0.9 * 1.0 + 0.1 * s1.unbiased_var[c]) + 0.1 * s2.unbiased_var[c]);
  }
  require_close(bn.running_mean.to_vector<double>(), want_mean, 1e-12);
  require_close(bn.running_var.to_vector<double>(), want_var, 1e-12);
  REQUIRE(bn.num_batches_tracked.dtype() == kInt64);
  REQUIRE(bn.num_batches_tracked.item<int64_t>() == 2);

  SECTION("momentum None averages all batches equally") {
    nn::BatchNorm2d cumulative(nn::BatchNorm2dOptions(3).momentum(std::nullopt));
    cumulative.to(kFloat64);
    cumulative(x1);
    cumulative(x2);
    std::vector<double> mean_of_means, mean_of_vars;
    for (int c = 0; c < 3; ++c) {
      mean_of_means.push_back((s1.mean[c] + s2.mean[c]) / 2);
      mean_of_vars.push_back((s1.unbiased_var[c] + s2.unbiased_var[c]) / 2);
    }
    require_close(cumulative.running_mean.to_vector<double>(), mean_of_means, 1e-12);
    require_close(cumulative.running_var.to_vector<double>(), mean_of_vars, 1e-12);
    REQUIRE(cumulative.extra_repr() == "3, eps=1e-05, momentum=None, affine=True, track_running_stats=True");
  }
}

TEST_CASE("BatchNorm2d in eval mode uses the running statistics and leaves them alone", "[batch_norm2d][layer]") {
  nn::BatchNorm2d bn(2);
  bn.to(kFloat64);
  bn.weight.copy_(tensor({2.0, -1.0}));
  bn.bias.copy_(tensor({0.5, 3.0}));
  bn(random({8, 2, 3, 3}, 20));  // moves the running statistics away from 0 and 1
  const std::vector<double> mean = bn.running_mean.to_vector<double>(), var = bn.running_var.to_vector<double>();
  bn.eval();
  Tensor x = random({3, 2, 4, 4}, 21);
  Tensor y = bn(x);
  require_close(y.to_vector<double>(), naive_normalize(x, mean, var, {2.0, -1.0}, {0.5, 3.0}, 1e-5), 1e-12);
  REQUIRE(bn.running_mean.to_vector<double>() == mean);
  REQUIRE(bn.running_var.to_vector<double>() == var);
  REQUIRE(bn.num_batches_tracked.item<int64_t>() == 1);
  // A single value per channel is fine in eval (no batch statistics needed).
  REQUIRE(bn(random({1, 2, 1, 1}, 22)).shape() == Shape{1, 2, 1, 1});
}

TEST_CASE("batch_norm gradcheck in training and eval mode", "[batch_norm2d][gradcheck]") {
  Tensor x = random({3, 2, 3, 4}, 30).requires_grad_();
  Tensor w = random({2}, 31).requires_grad_(), b = random({2}, 32).requires_grad_();
  Tensor running_mean = random({2}, 33), running_var = kernels::affine(random({2}, 34), 0.1, 1.0);
  GradcheckOptions options;
  options.input_names = {"input", "weight", "bias"};
  SECTION("training (batch statistics)") {
    CHECK(gradcheck([&](const std::vector<Tensor>& in) {
      return F::batch_norm(in[0], running_mean, running_var, in[1], in[2], true);
    }, {x, w, b}, options));
  }
  SECTION("eval (running statistics)") {
    CHECK(gradcheck([&](const std::vector<Tensor>& in) {
      return F::batch_norm(in[0], running_mean, running_var, in[1], in[2], false);
    }, {x, w, b}, options));
  }
  SECTION("no affine parameters, 2-D input [N, C]") {
    Tensor rows = random({6, 3}, 35).requires_grad_();
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return F::batch_norm(in[0], {}, {}, {}, {}, true); },
                    {rows}));
  }
  SECTION("transposed input, broadcast weight") {
    Tensor xt = random({3, 2, 4, 3}, 36).transpose(2, 3).requires_grad_();
    Tensor w1 = random({1}, 37).requires_grad_();
    CHECK(gradcheck([&](const std::vector<Tensor>& in) {
      return F::batch_norm(in[0], {}, {}, in[1].expand({2}), in[2], true);
    }, {xt, w1, b}));
  }
}

TEST_CASE("fused batch_norm agrees with the composite of mean, var and sqrt", "[batch_norm2d]") {
  Tensor x = random({4, 3, 5, 5}, 40).requires_grad_(), x2 = x.detach().clone().requires_grad_();
  Tensor w = random({3}, 41).requires_grad_(), w2 = w.detach().clone().requires_grad_();
  Tensor b = random({3}, 42).requires_grad_(), b2 = b.detach().clone().requires_grad_();
  Tensor fused = F::batch_norm(x, {}, {}, w, b, true, 0.1, 1e-5);
  Tensor composite = composite_batch_norm(x2, w2, b2, 1e-5);
  require_close(fused.to_vector<double>(), composite.to_vector<double>(), 1e-12);
  Tensor dy = random(fused.shape(), 43);
  fused.backward(dy);
  composite.backward(dy);
  require_close(x.grad().to_vector<double>(), x2.grad().to_vector<double>(), 1e-10);
  require_close(w.grad().to_vector<double>(), w2.grad().to_vector<double>(), 1e-10);
  require_close(b.grad().to_vector<double>(), b2.grad().to_vector<double>(), 1e-10);
}

TEST_CASE("BatchNorm2d layer: parameters, buffers, state_dict names, options", "[batch_norm2d][layer]") {
  nn::BatchNorm2d bn(4);
  REQUIRE(bn.type_name() == "BatchNorm2d");
  REQUIRE(bn.extra_repr() == "4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True");
  REQUIRE(bn.weight.to_vector<double>() == std::vector<double>(4, 1.0));
  REQUIRE(bn.bias.to_vector<double>() == std::vector<double>(4, 0.0));
  REQUIRE(bn.running_mean.to_vector<double>() == std::vector<double>(4, 0.0));
  REQUIRE(bn.running_var.to_vector<double>() == std::vector<double>(4, 1.0));
  std::vector<std::string> names;
  for (const auto& [name, t] : bn.state_dict()) names.push_back(name);
  REQUIRE(names == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  REQUIRE(bn.named_parameters().size() == 2);

  // The layer is the functional form with its own tensors.
  Tensor x = random({2, 4, 3, 3}, 50, kFloat32);
  Tensor y = bn(x);
  REQUIRE(bn.last_output_shape() == Shape{2, 4, 3, 3});
  nn::BatchNorm2d twin(4);
  REQUIRE(y.to_vector<double>() ==
          F::batch_norm(x, twin.running_mean, twin.running_var, twin.weight, twin.bias, true).to_vector<double>());

  // state_dict round trip carries the running statistics and the batch count.
  nn::BatchNorm2d restored(4);
  restored.load_state_dict(bn.state_dict());
  REQUIRE(restored.running_mean.to_vector<double>() == bn.running_mean.to_vector<double>());
  REQUIRE(restored.num_batches_tracked.item<int64_t>() == 1);

  nn::BatchNorm2d plain(nn::BatchNorm2dOptions(4).affine(false).track_running_stats(false).eps(1e-3));
  REQUIRE(plain.state_dict().empty());
  REQUIRE_FALSE(plain.weight.defined());
  plain.eval();  // without running statistics, eval still normalises with the batch's own
  ChannelStats s = naive_stats(x);
  require_close(plain(x).to_vector<double>(),
                naive_normalize(x, s.mean, s.var, std::vector<double>(4, 1.0), std::vector<double>(4, 0.0), 1e-3),
                1e-5);

  nn::BatchNorm2d gradchecked(3);
  Tensor input = random({2, 3, 2, 3}, 51).requires_grad_();
  CHECK(nn::gradcheck(gradchecked, [&](const std::vector<Tensor>& in) { return gradchecked(in[0]); }, {input}));
}

TEST_CASE("batch_norm error messages name the op or layer and the shapes", "[batch_norm2d]") {
  nn::BatchNorm2d bn(4);
  REQUIRE_THROWS_WITH(bn(random({4, 5, 5}, 60, kFloat32)),
                      Catch::Contains("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True): "
                                      "expected input of shape [N, 4, H, W], got [4, 5, 5]"));
  REQUIRE_THROWS_WITH(bn(random({2, 3, 5, 5}, 61, kFloat32)),
                      Catch::Contains("expected input of shape [N, 4, H, W], got [2, 3, 5, 5]"));
  REQUIRE_THROWS_WITH(bn(random({1, 4, 1, 1}, 62, kFloat32)),
                      Catch::Contains("batch_norm: expected more than 1 value per channel when training, got input of "
                                      "shape [1, 4, 1, 1]"));
  REQUIRE_THROWS_WITH(F::batch_norm(random({2, 4, 3, 3}, 63), zeros({3}, kFloat64), ones({3}, kFloat64)),
                      Catch::Contains("batch_norm: running_mean of shape [3] does not match the 4 channels of input "
                                      "[2, 4, 3, 3]"));
  REQUIRE_THROWS_WITH(F::batch_norm(random({2, 4, 3, 3}, 64), {}, {}),
                      Catch::Contains("batch_norm: running_mean and running_var are needed when not training"));
  REQUIRE_THROWS_WITH(F::batch_norm(random({2, 4, 3, 3}, 65), {}, {}, random({3}, 66), {}, true),
                      Catch::Contains("batch_norm: expected weight to be float64 of shape [4], got float64 of shape "
                                      "[3]"));
}
