// Optimizer updates: one fused pass over a parameter and its state per step, in
// place. The optimizers (optim/adam.cpp, optim/sgd.cpp) keep the bookkeeping (step
// counts, buffers, groups); the arithmetic lives here so that it runs where the
// parameter lives (tensor/cuda/optim.cu on a GPU).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "tensor/cpu/lanes.h"
#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

// Every operand of an update: defined ones contiguous, of the parameter's shape and floating dtype.
void check_update_operands(const char* op, const Tensor& param,
                           std::initializer_list<std::pair<const Tensor*, const char*>> others) {
  check_defined(param, op);
  if (!param.is_contiguous() || !is_floating(param.dtype()))
    throw std::invalid_argument(fmt::format("{}: expected a contiguous float32 or float64 parameter, got {} {}{}", op,
                                            dtype_name(param.dtype()), shape_str(param.shape()),
                                            param.is_contiguous() ? "" : " (not contiguous)"));
  for (const auto& [t, what] : others) {
    if (!t->defined()) continue;
    if (t->shape() != param.shape() || t->dtype() != param.dtype() || !t->is_contiguous())
      throw std::invalid_argument(fmt::format("{}: expected {} to be a contiguous {} tensor of shape {} like the "
                                              "parameter, got {} {}{}",
                                              op, what, dtype_name(param.dtype()), shape_str(param.shape()),
                                              dtype_name(t->dtype()), shape_str(t->shape()),
                                              t->is_contiguous() ? "" : " (not contiguous)"));
  }
}

}  // namespace

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor& max_exp_avg_sq, const AdamStepOptions& options) {
  const char* op = "adam_step";
  check_defined(grad, op);
  check_defined(exp_avg, op);
  check_defined(exp_avg_sq, op);
  check_update_operands(op, param, {{&grad, "grad"}, {&exp_avg, "exp_avg"}, {&exp_avg_sq, "exp_avg_sq"},
                                    {&max_exp_avg_sq, "max_exp_avg_sq"}});
  count_in_place_write(param);
  FOCUS_DISPATCH(common_device(op, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq),
                      adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, options));
  // Same arithmetic order as PyTorch: step_size = γ/bc1, denom = √v/√bc2 + ε.
  const double lr = options.lr, wd = options.weight_decay, beta1 = options.beta1, beta2 = options.beta2;
  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(options.step));
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, static_cast<double>(options.step)));
  const double step_size = lr / bias_correction1;
  const bool decoupled = options.decoupled_weight_decay;
  cpu::dispatch_floating(param.dtype(), op, [&]<typename T>() {
    T* theta = param.data<T>();
    const T* g_in = grad.data<T>();
    T* m = exp_avg.data<T>();
    T* v = exp_avg_sq.data<T>();
    T* v_max = max_exp_avg_sq.defined() ? max_exp_avg_sq.data<T>() : nullptr;
    const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
    const T decay = static_cast<T>(1 - lr * wd), l2 = static_cast<T>(wd);
    const T bc2 = static_cast<T>(bias_correction2_sqrt), e = static_cast<T>(options.eps);
    const T step = static_cast<T>(step_size);
    parallel_for(0, param.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        T g = g_in[i];
        if (decoupled)
          theta[i] *= decay;
        else
          g += l2 * theta[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        T second = v[i];
        if (v_max) second = v_max[i] = std::max(v_max[i], v[i]);
        theta[i] -= step * m[i] / (std::sqrt(second) / bc2 + e);
      }
    });
  });
}

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, const SGDStepOptions& options) {
  const char* op = "sgd_step";
  check_defined(grad, op);
  check_update_operands(op, param, {{&grad, "grad"}, {&momentum_buffer, "momentum_buffer"}});
  count_in_place_write(param);
  FOCUS_DISPATCH(common_device(op, param, grad, momentum_buffer),
                      sgd_step(param, grad, momentum_buffer, options));
  const double lr = options.lr, wd = options.weight_decay, mu = options.momentum, tau = options.dampening;
  const bool first = options.first_step, nesterov = options.nesterov;
  cpu::dispatch_floating(param.dtype(), op, [&]<typename T>() {
    T* theta = param.data<T>();
    const T* grad_in = grad.data<T>();
    T* b = momentum_buffer.defined() ? momentum_buffer.data<T>() : nullptr;
    // One pass over memory per parameter; the loop body vectorises.
    parallel_for(0, param.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        T g = grad_in[i] + static_cast<T>(wd) * theta[i];
        if (b) {
          b[i] = first ? g : static_cast<T>(mu) * b[i] + static_cast<T>(1 - tau) * g;
          g = nesterov ? g + static_cast<T>(mu) * b[i] : b[i];
        }
        theta[i] -= static_cast<T>(lr) * g;
      }
    });
  });
}

Tensor norm_power_sum(const Tensor& x, double p) {
  const char* op = "norm_power_sum";
  check_defined(x, op);
  if (!(p > 0)) throw std::invalid_argument(fmt::format("{}: expected a positive norm order p, got {}", op, p));
  if (!is_floating(x.dtype()))
    throw std::invalid_argument(
        fmt::format("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(x.dtype())));
  FOCUS_DISPATCH(x.device(), norm_power_sum(x, p));
  const Tensor dense = x.is_contiguous() ? x : contiguous_copy(x);
  // Blocks of a fixed size, each summed in lanes (cpu::lane_sum: the adds vectorise, where one
  // running sum waits 4 cycles per element), the blocks across threads, their sums then added in
  // block order: the same result at any thread count. A translator's gradients (5M floats) took
  // 3 % of its training step one element at a time, on one thread.
  constexpr int64_t kBlock = int64_t{1} << 15;
  const bool largest = std::isinf(p);
  const double total = cpu::dispatch_floating(dense.dtype(), op, [&]<typename T>() {
    const T* values = dense.data<T>();
    const int64_t n = dense.numel(), blocks = std::max<int64_t>(1, (n + kBlock - 1) / kBlock);
    std::vector<double> partial(static_cast<size_t>(blocks));
    parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const T* v = values + b * kBlock;
        const int64_t count = std::min(kBlock, n - b * kBlock);
        double& out = partial[static_cast<size_t>(b)];
        if (count == 0) {
          out = 0;
        } else if (largest) {  // max|x| = max(max x, -min x); NaN wins
          const double high = cpu::lane_extremum<true>(v, count), low = cpu::lane_extremum<false>(v, count);
          out = std::isnan(high) || std::isnan(low) ? std::numeric_limits<double>::quiet_NaN() : std::max(high, -low);
        } else if (p == 2.0) {
          out = cpu::lane_sum<double>(v, count, [](T a) { return static_cast<double>(a) * static_cast<double>(a); });
        } else if (p == 1.0) {
          out = cpu::lane_sum<double>(v, count, [](T a) { return std::abs(static_cast<double>(a)); });
        } else {
          out = cpu::lane_sum<double>(v, count, [p](T a) { return std::pow(std::abs(static_cast<double>(a)), p); });
        }
      }
    });
    double result = 0;
    for (const double value : partial) {
      if (!largest)
        result += value;
      else if (std::isnan(value) || value > result)
        result = std::isnan(result) ? result : value;  // NaN wins
    }
    return result;
  });
  return scalar_tensor(total, TensorOptions(kFloat64));
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
