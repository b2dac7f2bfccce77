// Optimizer updates on the GPU: one fused elementwise kernel per parameter and step, with
// the same arithmetic, in the same order and precision, as tensor/cpu/optim.cpp (the
// hyper-parameters are turned into T-typed constants on the host exactly as there). And the
// per-gradient pieces of clip_grad_norm_, reduced in double without leaving the GPU.
// Argument checks live in tensor/cpu/optim.cpp, shared by both devices.
#include <cmath>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

// Correctly rounded square roots (nvcc's default -prec-sqrt=true), as std::sqrt on the CPU.
__device__ inline float square_root(float x) { return sqrtf(x); }
__device__ inline double square_root(double x) { return ::sqrt(x); }

// θ, m, v (and v_max with AMSGrad) [n] updated in place from g [n]: torch.optim.Adam's step.
template <typename T>
__global__ void adam_kernel(int64_t n, T* theta, const T* grad, T* m, T* v, T* v_max, T b1, T b2, T decay, T l2,
                            T bc2, T eps, T step, bool decoupled) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    T g = grad[i];
    T p = theta[i];
    if (decoupled)
      p *= decay;
    else
      g += l2 * p;
    const T m_new = b1 * m[i] + (T(1) - b1) * g;
    const T v_new = b2 * v[i] + (T(1) - b2) * g * g;
    m[i] = m_new;
    v[i] = v_new;
    T second = v_new;
    if (v_max) second = v_max[i] = v_max[i] < v_new ? v_new : v_max[i];  // std::max(v_max, v), NaN included
    theta[i] = p - step * m_new / (square_root(second) / bc2 + eps);
  }
}

// θ [n] (and the momentum buffer b [n], if any) updated in place from g [n]: torch.optim.SGD's step.
template <typename T>
__global__ void sgd_kernel(int64_t n, T* theta, const T* grad, T* b, T lr, T wd, T mu, T one_minus_tau, bool first,
                           bool nesterov) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const T p = theta[i];
    T g = grad[i] + wd * p;
    if (b) {
      const T buffer = first ? g : mu * b[i] + one_minus_tau * g;
      b[i] = buffer;
      g = nesterov ? g + mu * buffer : buffer;
    }
    theta[i] = p - lr * g;
  }
}

// ---- Σ|x|^p (or max|x|) in double: per-block partials, then one block combines them ----------------
enum class NormKind { Square, Abs, Power, Max };

__device__ inline double combine(double a, double b, bool take_max) {
  if (!take_max) return a + b;
  return (a > b || a != a) ? a : b;  // NaN wins: a NaN gradient must not vanish from the norm
}

__device__ inline double warp_combine(double value, bool take_max) {
  for (int offset = 16; offset > 0; offset /= 2)
    value = combine(value, __shfl_down_sync(0xffffffffu, value, offset), take_max);
  return value;
}

// The combination of every thread's `value` in the block (blockDim.x = kThreads), valid in thread 0.
__device__ inline double block_combine(double value, bool take_max) {
  __shared__ double warp_results[kThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  value = warp_combine(value, take_max);
  if (lane == 0) warp_results[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < kThreads / 32 ? warp_results[lane] : 0.0;  // 0 is the identity of both + and max|·|
    value = warp_combine(value, take_max);
  }
  return value;
}

// partials[block] = this block's share of Σ f(x[i]) (or max), over x [n] in a grid-stride loop.
template <typename T>
__global__ void norm_partials_kernel(int64_t n, const T* x, NormKind kind, double p, double* partials) {
  const bool take_max = kind == NormKind::Max;
  double value = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const double a = static_cast<double>(x[i]);
    double term;
    switch (kind) {
      case NormKind::Square: term = a * a; break;
      case NormKind::Power: term = ::pow(::fabs(a), p); break;
      default: term = ::fabs(a); break;  // Abs, Max
    }
    value = combine(value, term, take_max);
  }
  value = block_combine(value, take_max);
  if (threadIdx.x == 0) partials[blockIdx.x] = value;
}

// out[0] = the combination of partials [count]; one block.
__global__ void combine_partials_kernel(int64_t count, const double* partials, bool take_max, double* out) {
  double value = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) value = combine(value, partials[i], take_max);
  value = block_combine(value, take_max);
  if (threadIdx.x == 0) out[0] = value;
}

}  // namespace

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor& max_exp_avg_sq, const kernels::AdamStepOptions& options) {
  const int64_t n = param.numel();
  if (n == 0) return;
  // The same double → T constants as tensor/cpu/optim.cpp.
  const double lr = options.lr, wd = options.weight_decay;
  const double bias_correction1 = 1 - std::pow(options.beta1, static_cast<double>(options.step));
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(options.beta2, static_cast<double>(options.step)));
  const double step_size = lr / bias_correction1;
  dispatch_floating(param.dtype(), "adam_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    adam_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        n, param.data<T>(), grad.data<T>(), exp_avg.data<T>(), exp_avg_sq.data<T>(),
        max_exp_avg_sq.defined() ? max_exp_avg_sq.data<T>() : nullptr, static_cast<T>(options.beta1),
        static_cast<T>(options.beta2), static_cast<T>(1 - lr * wd), static_cast<T>(wd),
        static_cast<T>(bias_correction2_sqrt), static_cast<T>(options.eps), static_cast<T>(step_size),
        options.decoupled_weight_decay);
    FOCUS_CUDA_CHECK_LAUNCH("adam_kernel");
  });
}

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
              const kernels::SGDStepOptions& options) {
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_floating(param.dtype(), "sgd_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    sgd_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        n, param.data<T>(), grad.data<T>(), momentum_buffer.defined() ? momentum_buffer.data<T>() : nullptr,
        static_cast<T>(options.lr), static_cast<T>(options.weight_decay), static_cast<T>(options.momentum),
        static_cast<T>(1 - options.dampening), options.first_step, options.nesterov);
    FOCUS_CUDA_CHECK_LAUNCH("sgd_kernel");
  });
}

Tensor norm_power_sum(const Tensor& x, double p) {
  const TensorOptions options = TensorOptions(kFloat64).with_device(x.device());
  Tensor out = empty({}, options);  // zeroed: the answer for an empty x
  const int64_t n = x.numel();
  if (n == 0) return out;
  const Tensor dense = x.is_contiguous() ? x : kernels::contiguous_copy(x);
  const NormKind kind = std::isinf(p) ? NormKind::Max : p == 2.0 ? NormKind::Square : p == 1.0 ? NormKind::Abs
                                                                                                : NormKind::Power;
  // Enough blocks to fill the GPU (each thread then sums a few elements), few enough partials for one block.
  const int64_t blocks = std::min<int64_t>(blocks_for(n), 1024);
  Tensor partials = empty({blocks}, options);
  dispatch_floating(x.dtype(), "norm_power_sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    norm_partials_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(n, dense.data<T>(), kind, p,
                                                                                       partials.data<double>());
    FOCUS_CUDA_CHECK_LAUNCH("norm_partials_kernel");
  });
  combine_partials_kernel<<<1, kThreads, 0, stream()>>>(blocks, partials.data<double>(), kind == NormKind::Max,
                                                        out.data<double>());
  FOCUS_CUDA_CHECK_LAUNCH("combine_partials_kernel");
  return out;
}

}  // namespace focus::cuda
