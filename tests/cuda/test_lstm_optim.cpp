// The GPU against the CPU for the LSTM kernels and layer, random masks (bernoulli and
// dropout), the optimizer updates, gradient clipping and fused attention: the same inputs
// on both devices, the results compared. Without a GPU every test but the first reports
// "skipped" (exit code 4); the first checks the shared Philox generator on the host.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "focus.h"
#include "tensor/philox.h"
#include "tests/cuda/cuda_check.h"
#include "tests/support.h"

using namespace focus;
using focus::testing::check_parity;
using focus::testing::gpu;
using focus::testing::kElementwiseTolerance;
using focus::testing::kReductionTolerance;
using focus::testing::random;
using focus::testing::relative_error;
using focus::testing::require_gpu_or_skip;

namespace {

Tensor on_gpu(const Tensor& t) { return t.to(gpu()); }

// The same values, as a GPU leaf and a CPU leaf that require gradients.
std::pair<Tensor, Tensor> leaves(const Tensor& values) {
  return {values.clone().requires_grad_(), on_gpu(values).detach().requires_grad_()};
}

// A bool tensor's elements, read on the host.
std::vector<bool> bools(const Tensor& t) { return t.to(kCPU).to_vector<bool>(); }

}  // namespace

// Runs on every machine: the CPU and the GPU call this one function (tensor/philox.h), so its
// known-answer vectors (Random123's kat_vectors for philox4x32_10) pin both down.
TEST_CASE("Philox4x32-10 matches Random123's known-answer vectors", "[philox]") {
  auto check = [](PhiloxBlock counter, uint32_t key_lo, uint32_t key_hi, PhiloxBlock expected) {
    const PhiloxBlock got = philox4x32_10(counter, key_lo, key_hi);
    for (int k = 0; k < 4; ++k) CHECK(got.word[k] == expected.word[k]);
  };
  check({{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
  check({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
        {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
  check({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
        {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

// ---- LSTM kernels -------------------------------------------------------------------------------------------

TEST_CASE("lstm_gates_forward and lstm_gates_backward match the CPU", "[cuda][lstm]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    for (bool with_bias : {true, false}) {
      // Odd sizes: B·H is no multiple of a block, H no multiple of a warp.
      const int64_t B = 7, H = 37;
      INFO("dtype " << dtype_name(dtype) << ", bias " << with_bias);
      // Pre-activations of a few units each way, some saturating (|x| up to 12).
      const Tensor pre = random({B, 4 * H}, 1, dtype) * 4.0;
      const Tensor bias = with_bias ? random({4 * H}, 2, dtype) : Tensor();
      const Tensor c = random({B, H}, 3, dtype);
      const TensorOptions cpu_options(dtype), gpu_options = TensorOptions(dtype).with_device(gpu());

      Tensor gates_cpu = pre.clone(), gates_gpu = on_gpu(pre);
      Tensor h_cpu = empty({B, H}, cpu_options), c_new_cpu = empty({B, H}, cpu_options),
             tanh_cpu = empty({B, H}, cpu_options);
      Tensor h_gpu = empty({B, H}, gpu_options), c_new_gpu = empty({B, H}, gpu_options),
             tanh_gpu = empty({B, H}, gpu_options);
      kernels::lstm_gates_forward(gates_cpu, bias, c, h_cpu, c_new_cpu, tanh_cpu);
      kernels::lstm_gates_forward(gates_gpu, with_bias ? on_gpu(bias) : Tensor(), on_gpu(c), h_gpu, c_new_gpu,
                                  tanh_gpu);
      check_parity(gates_cpu, gates_gpu, kElementwiseTolerance, "activated gates");
      check_parity(h_cpu, h_gpu, kElementwiseTolerance, "h_new");
      check_parity(c_new_cpu, c_new_gpu, kElementwiseTolerance, "c_new");
      check_parity(tanh_cpu, tanh_gpu, kElementwiseTolerance, "tanh(c_new)");

      // Backward from the CPU's activated gates on both devices.
      const Tensor dh = random({B, H}, 4, dtype), dc_new = random({B, H}, 5, dtype);
      Tensor d_gates_cpu = empty({B, 4 * H}, cpu_options), dc_cpu = empty({B, H}, cpu_options);
      Tensor d_gates_gpu = empty({B, 4 * H}, gpu_options), dc_gpu = empty({B, H}, gpu_options);
      kernels::lstm_gates_backward(gates_cpu, c, tanh_cpu, dh, dc_new, d_gates_cpu, dc_cpu);
      kernels::lstm_gates_backward(on_gpu(gates_cpu), on_gpu(c), on_gpu(tanh_cpu), on_gpu(dh), on_gpu(dc_new),
                                   d_gates_gpu, dc_gpu);
      check_parity(d_gates_cpu, d_gates_gpu, kElementwiseTolerance, "d_gates");
      check_parity(dc_cpu, dc_gpu, kElementwiseTolerance, "dc");
    }
  }
}

TEST_CASE("lstm_carry_padded_rows matches the CPU", "[cuda][lstm]") {
  require_gpu_or_skip();
  const int64_t B = 9, H = 21;
  const Tensor active = from_vector(std::vector<int64_t>{1, 0, 1, 1, 0, 0, 1, 0, 1}, {B}).to(kBool);
  for (int64_t Z : {H, 4 * H}) {  // forward zeroes h_out [B, H]; backward d_gates [B, 4H]
    INFO("zeroed width " << Z);
    const Tensor h_src = random({B, H}, 10, kFloat32), c_src = random({B, H}, 11, kFloat32);
    const Tensor h_dst = random({B, H}, 12, kFloat32), c_dst = random({B, H}, 13, kFloat32);
    const Tensor zeroed = random({B, Z}, 14, kFloat32);
    Tensor h_dst_gpu = on_gpu(h_dst), c_dst_gpu = on_gpu(c_dst), zeroed_gpu = on_gpu(zeroed);
    kernels::lstm_carry_padded_rows(active, h_dst, h_src, c_dst, c_src, zeroed);
    kernels::lstm_carry_padded_rows(on_gpu(active), h_dst_gpu, on_gpu(h_src), c_dst_gpu, on_gpu(c_src), zeroed_gpu);
    CHECK(relative_error(h_dst, h_dst_gpu) == 0.0);
    CHECK(relative_error(c_dst, c_dst_gpu) == 0.0);
    CHECK(relative_error(zeroed, zeroed_gpu) == 0.0);
  }
}

// ---- nn::LSTM end to end ---------------------------------------------------------------------------------------

namespace {

// A second LSTM with the first one's parameters, moved to the GPU.
std::unique_ptr<nn::LSTM> gpu_copy_of(const nn::LSTM& cpu_lstm, const nn::LSTMOptions& options) {
  auto copy = std::make_unique<nn::LSTM>(options);
  const auto source = cpu_lstm.named_parameters(), target = copy->named_parameters();
  REQUIRE(source.size() == target.size());
  NoGradGuard no_grad;
  for (size_t k = 0; k < source.size(); ++k) {
    REQUIRE(source[k].first == target[k].first);
    kernels::copy(target[k].second, source[k].second);
  }
  copy->to(gpu());
  return copy;
}

// Checks every parameter gradient of the two modules, by name.
void check_parameter_grads(const nn::LSTM& cpu_lstm, const nn::LSTM& gpu_lstm) {
  const auto cpu_params = cpu_lstm.named_parameters(), gpu_params = gpu_lstm.named_parameters();
  for (size_t k = 0; k < cpu_params.size(); ++k) {
    REQUIRE(cpu_params[k].second.grad().defined());
    REQUIRE(gpu_params[k].second.grad().defined());
    check_parity(cpu_params[k].second.grad(), gpu_params[k].second.grad(), kReductionTolerance,
                 "gradient of " + cpu_params[k].first);
  }
}

}  // namespace

TEST_CASE("nn::LSTM (2 layers, bidirectional, padded) matches the CPU, forward and backward", "[cuda][lstm]") {
  require_gpu_or_skip();
  const int64_t T = 9, B = 5, I = 13, H = 19, L = 2, D = 2;
  const nn::LSTMOptions options = nn::LSTMOptions(I, H).num_layers(L).bidirectional(true);
  Generator init(7);
  nn::LSTM cpu_lstm(options, &init);
  auto gpu_lstm = gpu_copy_of(cpu_lstm, options);

  const Tensor lengths = from_vector(std::vector<int64_t>{9, 3, 7, 1, 9}, {B});  // stays on the CPU, as in PyTorch
  auto [x_cpu, x_gpu] = leaves(random({T, B, I}, 20, kFloat32));
  auto [h0_cpu, h0_gpu] = leaves(random({L * D, B, H}, 21, kFloat32) * 0.5);
  auto [c0_cpu, c0_gpu] = leaves(random({L * D, B, H}, 22, kFloat32) * 0.5);
  const auto out_cpu = cpu_lstm(x_cpu, std::pair{h0_cpu, c0_cpu}, lengths);
  const auto out_gpu = (*gpu_lstm)(x_gpu, std::pair{h0_gpu, c0_gpu}, lengths);
  check_parity(out_cpu.output, out_gpu.output, kReductionTolerance, "output");
  check_parity(out_cpu.h_n, out_gpu.h_n, kReductionTolerance, "h_n");
  check_parity(out_cpu.c_n, out_gpu.c_n, kReductionTolerance, "c_n");

  // A loss on all three outputs, so that gradients enter through h_n and c_n too.
  const Tensor up_output = random({T, B, D * H}, 23, kFloat32), up_h = random({L * D, B, H}, 24, kFloat32),
               up_c = random({L * D, B, H}, 25, kFloat32);
  auto loss = [&](const nn::functional::LSTMOutput& out, Device device) {
    return add(add(sum(mul(out.output, up_output.to(device))), sum(mul(out.h_n, up_h.to(device)))),
               sum(mul(out.c_n, up_c.to(device))));
  };
  loss(out_cpu, kCPU).backward();
  loss(out_gpu, gpu()).backward();
  check_parity(x_cpu.grad(), x_gpu.grad(), kReductionTolerance, "input gradient");
  check_parity(h0_cpu.grad(), h0_gpu.grad(), kReductionTolerance, "h0 gradient");
  check_parity(c0_cpu.grad(), c0_gpu.grad(), kReductionTolerance, "c0 gradient");
  check_parameter_grads(cpu_lstm, *gpu_lstm);
}

TEST_CASE("nn::LSTM with dropout, batch_first and no initial state matches the CPU", "[cuda][lstm][dropout]") {
  require_gpu_or_skip();
  const int64_t T = 6, B = 3, I = 10, H = 33;
  // Dropout between the layers: the same seed draws the same Philox masks on both devices.
  const nn::LSTMOptions options = nn::LSTMOptions(I, H).num_layers(2).batch_first(true).dropout(0.3);
  Generator init(8);
  nn::LSTM cpu_lstm(options, &init);
  auto gpu_lstm = gpu_copy_of(cpu_lstm, options);
  cpu_lstm.train();
  gpu_lstm->train();

  auto [x_cpu, x_gpu] = leaves(random({B, T, I}, 30, kFloat32));
  manual_seed(99);
  const auto out_cpu = cpu_lstm(x_cpu);
  manual_seed(99);
  const auto out_gpu = (*gpu_lstm)(x_gpu);
  check_parity(out_cpu.output, out_gpu.output, kReductionTolerance, "output");
  check_parity(out_cpu.h_n, out_gpu.h_n, kReductionTolerance, "h_n");

  const Tensor upstream = random({B, T, H}, 31, kFloat32);
  sum(mul(out_cpu.output, upstream)).backward();
  sum(mul(out_gpu.output, on_gpu(upstream))).backward();
  check_parity(x_cpu.grad(), x_gpu.grad(), kReductionTolerance, "input gradient");
  check_parameter_grads(cpu_lstm, *gpu_lstm);
}

TEST_CASE("lstm_cell matches the CPU, forward and backward", "[cuda][lstm]") {
  require_gpu_or_skip();
  const int64_t B = 6, I = 11, H = 17;
  auto [x_cpu, x_gpu] = leaves(random({B, I}, 40, kFloat32));
  auto [h_cpu, h_gpu] = leaves(random({B, H}, 41, kFloat32));
  auto [c_cpu, c_gpu] = leaves(random({B, H}, 42, kFloat32));
  auto [wi_cpu, wi_gpu] = leaves(random({4 * H, I}, 43, kFloat32) * 0.3);
  auto [wh_cpu, wh_gpu] = leaves(random({4 * H, H}, 44, kFloat32) * 0.3);
  auto [bi_cpu, bi_gpu] = leaves(random({4 * H}, 45, kFloat32));
  auto [bh_cpu, bh_gpu] = leaves(random({4 * H}, 46, kFloat32));
  auto [h1_cpu, c1_cpu] = lstm_cell(x_cpu, h_cpu, c_cpu, wi_cpu, wh_cpu, bi_cpu, bh_cpu);
  auto [h1_gpu, c1_gpu] = lstm_cell(x_gpu, h_gpu, c_gpu, wi_gpu, wh_gpu, bi_gpu, bh_gpu);
  check_parity(h1_cpu, h1_gpu, kReductionTolerance, "h'");
  check_parity(c1_cpu, c1_gpu, kReductionTolerance, "c'");
  const Tensor up_h = random({B, H}, 47, kFloat32), up_c = random({B, H}, 48, kFloat32);
  add(sum(mul(h1_cpu, up_h)), sum(mul(c1_cpu, up_c))).backward();
  add(sum(mul(h1_gpu, on_gpu(up_h))), sum(mul(c1_gpu, on_gpu(up_c)))).backward();
  check_parity(x_cpu.grad(), x_gpu.grad(), kReductionTolerance, "dx");
  check_parity(h_cpu.grad(), h_gpu.grad(), kReductionTolerance, "dh");
  check_parity(c_cpu.grad(), c_gpu.grad(), kReductionTolerance, "dc");
  check_parity(wi_cpu.grad(), wi_gpu.grad(), kReductionTolerance, "dW_ih");
  check_parity(wh_cpu.grad(), wh_gpu.grad(), kReductionTolerance, "dW_hh");
  check_parity(bi_cpu.grad(), bi_gpu.grad(), kReductionTolerance, "db_ih");
  check_parity(bh_cpu.grad(), bh_gpu.grad(), kReductionTolerance, "db_hh");
}

// ---- random masks ---------------------------------------------------------------------------------------------

TEST_CASE("bernoulli draws the same mask on the GPU as on the CPU for one seed", "[cuda][random]") {
  require_gpu_or_skip();
  // Sizes around the four-element Philox blocks and the packed 32-bit stores.
  for (const Shape& shape : {Shape{1000003}, Shape{7, 13, 5}, Shape{1}, Shape{3}, Shape{4}, Shape{0}}) {
    for (double p : {0.0, 0.3, 0.5, 1.0}) {
      INFO("shape " << shape_str(shape) << ", p " << p);
      Generator cpu_gen(123), gpu_gen(123);
      const Tensor cpu_mask = kernels::bernoulli(shape, p, cpu_gen);
      const Tensor gpu_mask = kernels::bernoulli(shape, p, gpu_gen, gpu());
      REQUIRE(gpu_mask.device() == gpu());
      REQUIRE(gpu_mask.shape() == shape);
      REQUIRE(gpu_mask.dtype() == kBool);
      CHECK(bools(cpu_mask) == bools(gpu_mask));
      // Both generators moved on by the same single draw.
      CHECK(cpu_gen.engine()() == gpu_gen.engine()());
    }
  }
  // And the statistics: Binomial(n, 0.3), 5σ ≈ 0.0023 at n = 10⁶.
  Generator gen(5);
  const Tensor mask = kernels::bernoulli({1000000}, 0.3, gen, gpu());
  const double fraction = sum(mask.to(kFloat64)).to(kCPU).item<double>() / 1e6;
  CHECK(std::abs(fraction - 0.3) < 0.0023);
}

TEST_CASE("dropout gives the same output and gradient on the GPU as on the CPU for one seed", "[cuda][dropout]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO("dtype " << dtype_name(dtype));
    auto [x_cpu, x_gpu] = leaves(random({37, 129}, 50, dtype));
    Generator cpu_gen(77), gpu_gen(77);
    const Tensor y_cpu = nn::functional::dropout(x_cpu, 0.4, true, &cpu_gen);
    const Tensor y_gpu = nn::functional::dropout(x_gpu, 0.4, true, &gpu_gen);
    CHECK(relative_error(y_cpu, y_gpu) == 0.0);  // same mask, same scale: bit for bit
    const Tensor upstream = random({37, 129}, 51, dtype);
    sum(mul(y_cpu, upstream)).backward();
    sum(mul(y_gpu, on_gpu(upstream))).backward();
    CHECK(relative_error(x_cpu.grad(), x_gpu.grad()) == 0.0);
  }
}

// ---- optimizers -----------------------------------------------------------------------------------------------

namespace {

// Runs three steps of an optimizer on identical parameters on both devices (new gradients each
// step) and compares the parameters after each. make(params) builds the optimizer.
template <typename Make>
void check_optimizer_parity(const std::string& what, Make make, DType dtype = kFloat32) {
  INFO(what << ", " << dtype_name(dtype));
  // Odd sizes, one a matrix, one a vector, one a 0-d scalar.
  const std::vector<Shape> shapes{{37, 29}, {1001}, {}};
  std::vector<Tensor> cpu_params, gpu_params;
  for (size_t k = 0; k < shapes.size(); ++k) {
    const Tensor values = random(shapes[k], 60 + k, dtype);
    cpu_params.push_back(values.clone().requires_grad_());
    gpu_params.push_back(on_gpu(values).detach().requires_grad_());
  }
  auto cpu_optimizer = make(std::vector<optim::ParamGroup>{optim::ParamGroup{cpu_params}});
  auto gpu_optimizer = make(std::vector<optim::ParamGroup>{optim::ParamGroup{gpu_params}});
  for (int step = 0; step < 3; ++step) {
    for (size_t k = 0; k < shapes.size(); ++k) {
      const Tensor grad = random(shapes[k], 100 + 10 * step + k, dtype);
      cpu_params[k].set_grad(grad.clone());
      gpu_params[k].set_grad(on_gpu(grad));
    }
    cpu_optimizer->step();
    gpu_optimizer->step();
    for (size_t k = 0; k < shapes.size(); ++k)
      check_parity(cpu_params[k].detach(), gpu_params[k].detach(), kElementwiseTolerance,
                   what + ": parameter " + std::to_string(k) + " after step " + std::to_string(step + 1));
  }
}

}  // namespace

TEST_CASE("Adam, AdamW and AMSGrad steps match the CPU", "[cuda][optim]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    check_optimizer_parity("Adam with L2 weight decay", [](std::vector<optim::ParamGroup> groups) {
      optim::AdamOptions o;
      o.lr = 0.01;
      o.weight_decay = 0.1;
      return std::make_unique<optim::Adam>(std::move(groups), o);
    }, dtype);
    check_optimizer_parity("AdamW", [](std::vector<optim::ParamGroup> groups) {
      optim::AdamOptions o = optim::AdamW::default_options();
      o.lr = 0.01;
      o.beta1 = 0.8;
      return std::make_unique<optim::AdamW>(std::move(groups), o);
    }, dtype);
    check_optimizer_parity("AMSGrad", [](std::vector<optim::ParamGroup> groups) {
      optim::AdamOptions o;
      o.lr = 0.02;
      o.amsgrad = true;
      return std::make_unique<optim::Adam>(std::move(groups), o);
    }, dtype);
  }
}

TEST_CASE("SGD steps (momentum, Nesterov, dampening, weight decay) match the CPU", "[cuda][optim]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    check_optimizer_parity("SGD with momentum", [](std::vector<optim::ParamGroup> groups) {
      optim::SGDOptions o;
      o.lr = 0.1;
      o.momentum = 0.9;
      return std::make_unique<optim::SGD>(std::move(groups), o);
    }, dtype);
    check_optimizer_parity("SGD Nesterov with weight decay", [](std::vector<optim::ParamGroup> groups) {
      optim::SGDOptions o;
      o.lr = 0.05;
      o.momentum = 0.8;
      o.nesterov = true;
      o.weight_decay = 0.01;
      return std::make_unique<optim::SGD>(std::move(groups), o);
    }, dtype);
    check_optimizer_parity("SGD with dampening", [](std::vector<optim::ParamGroup> groups) {
      optim::SGDOptions o;
      o.lr = 0.1;
      o.momentum = 0.5;
      o.dampening = 0.3;
      return std::make_unique<optim::SGD>(std::move(groups), o);
    }, dtype);
    check_optimizer_parity("plain SGD", [](std::vector<optim::ParamGroup> groups) {
      return std::make_unique<optim::SGD>(std::move(groups), optim::SGDOptions{});
    }, dtype);
  }
}

// ---- gradient clipping ------------------------------------------------------------------------------------------

TEST_CASE("clip_grad_norm_ and clip_grad_value_ match the CPU", "[cuda][optim]") {
  require_gpu_or_skip();
  const std::vector<Shape> shapes{{300, 257}, {1}, {65}};
  for (double norm_type : {2.0, 1.0, 3.0, std::numeric_limits<double>::infinity()}) {
    for (double max_norm : {0.5, 1e6}) {  // clipped, and left alone
      INFO("norm_type " << norm_type << ", max_norm " << max_norm);
      std::vector<Tensor> cpu_params, gpu_params;
      for (size_t k = 0; k < shapes.size(); ++k) {
        // One float64 gradient among float32 ones.
        const DType dtype = k == 1 ? kFloat64 : kFloat32;
        const Tensor grad = random(shapes[k], 200 + k, dtype);
        cpu_params.push_back(zeros(shapes[k], dtype).requires_grad_());
        gpu_params.push_back(zeros(shapes[k], TensorOptions(dtype).with_device(gpu())).requires_grad_());
        cpu_params[k].set_grad(grad.clone());
        gpu_params[k].set_grad(on_gpu(grad));
      }
      const double cpu_norm = optim::clip_grad_norm_(cpu_params, max_norm, norm_type);
      const double gpu_norm = optim::clip_grad_norm_(gpu_params, max_norm, norm_type);
      CHECK(std::abs(gpu_norm - cpu_norm) <= kReductionTolerance * cpu_norm);
      for (size_t k = 0; k < shapes.size(); ++k)
        check_parity(cpu_params[k].grad(), gpu_params[k].grad(), kReductionTolerance,
                     "clipped gradient " + std::to_string(k));
    }
  }

  // A NaN gradient: named in the error, and left alone without error_if_nonfinite.
  Tensor a = zeros({2}, TensorOptions(kFloat32).with_device(gpu())).requires_grad_();
  Tensor b = zeros({3}, TensorOptions(kFloat32).with_device(gpu())).requires_grad_();
  a.set_grad(on_gpu(tensor({1, 1})));
  b.set_grad(on_gpu(tensor({1, NAN, 1})));
  CHECK_THROWS_WITH(optim::clip_grad_norm_({a, b}, 1.0),
                    Catch::Contains("parameter 1") && Catch::Contains("[3]") && Catch::Contains("non-finite"));
  CHECK(std::isnan(optim::clip_grad_norm_({a, b}, 1.0, 2.0, /*error_if_nonfinite=*/false)));
  CHECK(a.grad().to(kCPU).to_vector<float>() == std::vector<float>{1, 1});

  // clip_grad_value_
  const Tensor grad = random({33, 17}, 210, kFloat32) * 3.0;
  Tensor p_cpu = zeros({33, 17}).requires_grad_();
  Tensor p_gpu = zeros({33, 17}, TensorOptions(kFloat32).with_device(gpu())).requires_grad_();
  p_cpu.set_grad(grad.clone());
  p_gpu.set_grad(on_gpu(grad));
  optim::clip_grad_value_({p_cpu}, 1.5);
  optim::clip_grad_value_({p_gpu}, 1.5);
  CHECK(relative_error(p_cpu.grad(), p_gpu.grad()) == 0.0);
}

// ---- fused attention ------------------------------------------------------------------------------------------

namespace {

struct AttentionCase {
  std::string what;
  Shape query, key, value;  // key and value may broadcast over the batch dims
  Tensor mask;              // bool (true = may attend) or float (added, differentiable), or undefined
  bool causal = false;
  double dropout_p = 0.0;
};

void check_attention_parity(const AttentionCase& c) {
  INFO(c.what);
  auto [q_cpu, q_gpu] = leaves(random(c.query, 300, kFloat32));
  auto [k_cpu, k_gpu] = leaves(random(c.key, 301, kFloat32));
  auto [v_cpu, v_gpu] = leaves(random(c.value, 302, kFloat32));
  Tensor mask_cpu, mask_gpu;
  const bool float_mask = c.mask.defined() && c.mask.dtype() != kBool;
  if (c.mask.defined()) {
    if (float_mask) {
      std::tie(mask_cpu, mask_gpu) = leaves(c.mask);
    } else {
      mask_cpu = c.mask;
      mask_gpu = on_gpu(c.mask);
    }
  }
  Generator cpu_gen(9), gpu_gen(9);  // dropout: the same keep mask on both devices
  auto [out_cpu, w_cpu] =
      scaled_dot_product_attention(q_cpu, k_cpu, v_cpu, mask_cpu, c.dropout_p, c.causal, std::nullopt, &cpu_gen);
  auto [out_gpu, w_gpu] =
      scaled_dot_product_attention(q_gpu, k_gpu, v_gpu, mask_gpu, c.dropout_p, c.causal, std::nullopt, &gpu_gen);
  check_parity(w_cpu, w_gpu, kReductionTolerance, "weights");
  check_parity(out_cpu, out_gpu, kReductionTolerance, "output");
  // A loss on both outputs: the weights are returned, and a loss on them must flow back too.
  const Tensor up_out = random(out_cpu.shape(), 303, kFloat32), up_w = random(w_cpu.shape(), 304, kFloat32);
  add(sum(mul(out_cpu, up_out)), sum(mul(w_cpu, up_w))).backward();
  add(sum(mul(out_gpu, on_gpu(up_out))), sum(mul(w_gpu, on_gpu(up_w)))).backward();
  check_parity(q_cpu.grad(), q_gpu.grad(), kReductionTolerance, "dQ");
  check_parity(k_cpu.grad(), k_gpu.grad(), kReductionTolerance, "dK");
  check_parity(v_cpu.grad(), v_gpu.grad(), kReductionTolerance, "dV");
  if (float_mask) check_parity(mask_cpu.grad(), mask_gpu.grad(), kReductionTolerance, "d mask");
}

// Padding of the keys per batch entry [N, 1, 1, S]: entry n may attend to its first lengths[n] keys.
Tensor key_padding(const std::vector<int64_t>& lengths, int64_t S) {
  std::vector<int64_t> allowed;
  for (int64_t length : lengths)
    for (int64_t j = 0; j < S; ++j) allowed.push_back(j < length);
  return from_vector(allowed, {static_cast<int64_t>(lengths.size()), 1, 1, S}).to(kBool);
}

}  // namespace

TEST_CASE("scaled_dot_product_attention matches the CPU, forward and backward", "[cuda][attention]") {
  require_gpu_or_skip();
  const int64_t N = 3, heads = 2, L = 11, S = 13, E = 8, Dv = 5;
  const Shape q{N, heads, L, E}, k{N, heads, S, E}, v{N, heads, S, Dv};
  check_attention_parity({"no mask", q, k, v});
  check_attention_parity({"key padding mask", q, k, v, key_padding({13, 4, 9}, S)});
  check_attention_parity({"causal", q, k, v, Tensor(), true});
  check_attention_parity({"causal and key padding", q, k, v, key_padding({13, 1, 6}, S), true});
  // Entry 1 may attend to nothing at all: its weights and gradients are zero, not NaN.
  check_attention_parity({"a fully masked entry", q, k, v, key_padding({5, 0, 13}, S)});
  check_attention_parity({"float mask (a learned bias), broadcast over the batch", q, k, v,
                          random({1, heads, L, S}, 305, kFloat32)});
  check_attention_parity({"key and value shared by the heads", q, {N, 1, S, E}, {N, 1, S, Dv},
                          key_padding({2, 13, 7}, S)});
  check_attention_parity({"query shared by the batch, 3-D", {L, E}, {N, S, E}, {N, S, Dv}});
  check_attention_parity({"dropout on the weights", q, k, v, key_padding({13, 4, 9}, S), false, 0.25});
}
