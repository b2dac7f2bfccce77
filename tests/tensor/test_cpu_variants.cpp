// The AVX2 and AVX-512 builds of the CPU kernels against the baseline build, on a small
// model step that runs every hot kernel forward and backward (convolution, batch norm,
// pooling, activations, layer norm, LSTM, attention, softmax cross-entropy) and an Adam
// step. The builds may round differently (FMA contraction, vector-width partial sums), so
// float32 agrees to a few ulps of the values involved and float64 far closer.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tensor/cpu_info.h"
#include "tensor/kernels.h"
#include "../support.h"

using namespace focus;
using focus::testing::max_abs_diff;
using focus::testing::random;

namespace {

/// Restores the capability in use when it goes out of scope.
struct CapabilityScope {
  CpuCapability saved = cpu_capability();
  ~CapabilityScope() { set_cpu_capability(saved); }
};

/// Every output and gradient of one step of a small CNN + LSTM + attention model, by name.
std::map<std::string, Tensor> model_step(DType dtype) {
  auto leaf = [&](const Shape& shape, uint64_t seed, double scale = 1.0) {
    return (random(shape, seed, dtype) * scalar_tensor(scale, dtype)).detach().requires_grad_();
  };
  // Odd sizes, so vector loops have remainders.
  Tensor images = random({3, 5, 11, 13}, 1, dtype);
  Tensor conv_w = leaf({7, 5, 3, 3}, 2, 0.3), conv_b = leaf({7}, 3);
  Tensor bn_w = leaf({7}, 4), bn_b = leaf({7}, 5);
  Tensor ln_w = leaf({7}, 6), ln_b = leaf({7}, 7);
  Tensor w_ih = leaf({4 * 9, 7}, 8, 0.3), w_hh = leaf({4 * 9, 9}, 9, 0.3), b_ih = leaf({4 * 9}, 10);
  Tensor head_w = leaf({5, 9}, 11, 0.3), head_b = leaf({5}, 12);

  Tensor y = conv2d(images, conv_w, conv_b, {1, 1}, {1, 1});
  y = batch_norm(y, {}, {}, bn_w, bn_b, true);
  y = relu(y);
  y = max_pool2d(y, {2, 2}, {2, 2});                               // [3, 7, 5, 6]
  y = y + avg_pool2d(y, {3, 3}, {1, 1}, {1, 1});
  Tensor pooled = adaptive_avg_pool2d(y, {1, 1});                  // [3, 7, 1, 1]
  Tensor gate = sigmoid(flatten(pooled, 1));                       // channel attention, [3, 7]
  y = y * reshape(gate, {3, 7, 1, 1});
  Tensor seq = permute(flatten(y, 2), {2, 0, 1});                  // [30, 3, 7]: positions as time steps
  seq = gelu(layer_norm(seq, {7}, ln_w, ln_b));
  auto [out, h_n, c_n] = lstm_layer(seq, zeros({3, 9}, dtype), zeros({3, 9}, dtype), w_ih, w_hh, b_ih);
  Tensor q = transpose(out, 0, 1);                                  // [3, 30, 9]
  auto [context, weights] = scaled_dot_product_attention(q, q, q, {}, 0.0, true);
  Tensor features = tanh(mean(context, {1}));                       // [3, 9]
  Tensor logits = linear(features, head_w, head_b);                 // [3, 5]
  Tensor target = from_vector(std::vector<int64_t>{0, 3, 4}, {3});
  Tensor loss = mean(softmax_cross_entropy(logits, target, {}, -100, 0.1)) +
                sum(exp(log_softmax(logits, 1))) * scalar_tensor(0.01, dtype);
  loss.backward();

  std::map<std::string, Tensor> results{{"loss", loss.detach()}, {"attention", weights.detach()},
                                        {"h_n", h_n.detach()}};
  const std::vector<std::pair<std::string, Tensor>> params = {
      {"conv_w", conv_w}, {"conv_b", conv_b}, {"bn_w", bn_w},     {"bn_b", bn_b},     {"ln_w", ln_w},
      {"ln_b", ln_b},     {"w_ih", w_ih},     {"w_hh", w_hh},     {"b_ih", b_ih},     {"head_w", head_w},
      {"head_b", head_b}};
  for (const auto& [name, p] : params) results["grad " + name] = p.grad().clone();

  // One fused Adam step on the convolution weights.
  Tensor param = conv_w.detach().clone(), m = zeros_like(param), v = zeros_like(param);
  kernels::AdamStepOptions adam;
  adam.lr = 1e-2;
  adam.weight_decay = 0.1;
  kernels::adam_step(param, conv_w.grad(), m, v, {}, adam);
  results["adam conv_w"] = param;
  return results;
}

}  // namespace

TEST_CASE("every kernel build computes what the baseline build computes", "[cpu]") {
  CapabilityScope restore;
  for (DType dtype : {kFloat32, kFloat64}) {
    set_cpu_capability(CpuCapability::Default);
    const auto baseline = model_step(dtype);
    for (CpuCapability c : {CpuCapability::AVX2, CpuCapability::AVX512}) {
      if (!capability_compiled(c) || c > best_cpu_capability()) {
        WARN("skipped: this CPU or build cannot run the " << capability_name(c) << " kernels");
        continue;
      }
      set_cpu_capability(c);
      const auto results = model_step(dtype);
      const double tolerance = dtype == kFloat32 ? 2e-4 : 1e-11;
      for (const auto& [name, expected] : baseline) {
        const Tensor& actual = results.at(name);
        const double scale = std::max(1.0, max_abs_diff(expected, zeros_like(expected)));
        INFO(capability_name(c) << " " << dtype_name(dtype) << " " << name << ": max |difference| "
                                << max_abs_diff(actual, expected) << " (largest value " << scale << ")");
        REQUIRE(max_abs_diff(actual, expected) <= tolerance * scale);
      }
    }
  }
}

TEST_CASE("set_cpu_capability switches the build for later kernel calls", "[cpu]") {
  CapabilityScope restore;
  set_cpu_capability(CpuCapability::Default);
  REQUIRE(cpu_capability() == CpuCapability::Default);
  set_cpu_capability(best_cpu_capability());
  REQUIRE(cpu_capability() == best_cpu_capability());
}
