// Batch normalisation over dim 1 of [N, C, *]. Channel c's M = N·inner values
// (inner = product of the dims after C) lie in N contiguous runs of `inner`
// elements, one per batch item. Reductions run per channel (channels shared among
// threads), sums accumulate in double, and the variance is two-pass (mean, then
// squared deviations), so a large mean does not cancel the variance away.
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "tensor/cpu/lanes.h"
#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

constexpr int64_t kGrainElements = 32768;

struct ChannelLayout {
  int64_t N, C, inner;
  int64_t per_channel() const { return N * inner; }
  // The run of batch item n in channel c.
  int64_t run(int64_t n, int64_t c) const { return (n * C + c) * inner; }
};

ChannelLayout check_input(const Tensor& input, const char* op) {
  check_defined(input, op);
  if (input.dim() < 2)
    throw std::invalid_argument(
        fmt::format("{}: expected an input [N, C, *] of at least 2 dims, got shape {}", op, shape_str(input.shape())));
  if (!is_floating(input.dtype()))
    throw std::invalid_argument(
        fmt::format("{}: expected a float32 or float64 input, got {}", op, dtype_name(input.dtype())));
  const DimSplit split = split_at_dim(input.shape(), 1);  // [N, C, *] as (N, C, inner)
  return {split.outer, split.size, split.inner};
}

// A per-channel vector [C] of the input's dtype, or undefined when optional and absent.
void check_channel_vector(const Tensor& t, const ChannelLayout& layout, DType dtype, const char* what,
                          const char* op, bool optional) {
  if (!t.defined()) {
    if (optional) return;
    throw std::invalid_argument(fmt::format("{}: {} is required", op, what));
  }
  if (t.dim() != 1 || t.shape()[0] != layout.C || t.dtype() != dtype)
    throw std::invalid_argument(fmt::format("{}: expected {} to be {} of shape [{}], got {} of shape {}", op, what,
                                            dtype_name(dtype), layout.C, dtype_name(t.dtype()), shape_str(t.shape())));
}

Tensor contiguous_input(const Tensor& t) { return t.is_contiguous() ? t : contiguous_copy(t); }

int64_t channel_grain(const ChannelLayout& layout) {
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, layout.per_channel()));
}

// Calls f(n, c, offset) for every run, (n, c) pairs shared among threads.
template <typename F>
void for_each_run(const ChannelLayout& layout, F&& f) {
  parallel_for(0, layout.N * layout.C, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, layout.inner)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i) f(i / layout.C, i % layout.C, i * layout.inner);
               });
}

// Sums over a run go through kLanes interleaved double accumulators: one running sum
// is a chain of dependent additions (latency-bound, and not vectorisable).
template <typename T>
void stats(const ChannelLayout& layout, const T* x, T* mean, T* var) {
  const double count = static_cast<double>(layout.per_channel());
  parallel_for(0, layout.C, channel_grain(layout), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double sum = 0;
      for (int64_t n = 0; n < layout.N; ++n)
        sum += cpu::lane_sum<double>(x + layout.run(n, c), layout.inner, [](T v) { return static_cast<double>(v); });
      const double m = sum / count;
      double squares = 0;
      for (int64_t n = 0; n < layout.N; ++n)
        squares += cpu::lane_sum<double>(x + layout.run(n, c), layout.inner, [m](T v) {
          const double d = static_cast<double>(v) - m;
          return d * d;
        });
      mean[c] = static_cast<T>(m);
      var[c] = static_cast<T>(squares / count);
    }
  });
}

// {Σ dy, Σ dy·(x − shift)} over one run, in interleaved double lanes.
template <typename T>
std::pair<double, double> grad_sums(const T* dy, const T* x, double shift, int64_t n) {
  constexpr int64_t kLanes = 8;
  double a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) {
      const double g = static_cast<double>(dy[i + k]);
      a[k] += g;
      b[k] += g * (static_cast<double>(x[i + k]) - shift);
    }
  for (; i < n; ++i) {
    const double g = static_cast<double>(dy[i]);
    a[0] += g;
    b[0] += g * (static_cast<double>(x[i]) - shift);
  }
  double sum = 0, dot = 0;
  for (int64_t k = 0; k < kLanes; ++k) sum += a[k], dot += b[k];
  return {sum, dot};
}

#if defined(__x86_64__)
bool has_avx2_fma() { return cpu::avx2_fma_usable(); }

// grad_sums for float with AVX2, written out: GCC leaves the loop above scalar for
// float (the float → double widening defeats its vectoriser), which made this
// reduction the slowest part of the backward pass.
__attribute__((target("avx2,fma"))) std::pair<double, double> grad_sums_avx2(const float* dy, const float* x,
                                                                            double shift, int64_t n) {
  __m256d sum[4] = {}, dot[4] = {};
  const __m256d s = _mm256_set1_pd(shift);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int h = 0; h < 2; ++h) {
      const __m256 g = _mm256_loadu_ps(dy + i + 8 * h), v = _mm256_loadu_ps(x + i + 8 * h);
      const __m256d g_lo = _mm256_cvtps_pd(_mm256_castps256_ps128(g));
      const __m256d g_hi = _mm256_cvtps_pd(_mm256_extractf128_ps(g, 1));
      const __m256d v_lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
      const __m256d v_hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
      sum[2 * h] = _mm256_add_pd(sum[2 * h], g_lo);
      sum[2 * h + 1] = _mm256_add_pd(sum[2 * h + 1], g_hi);
      dot[2 * h] = _mm256_fmadd_pd(g_lo, _mm256_sub_pd(v_lo, s), dot[2 * h]);
      dot[2 * h + 1] = _mm256_fmadd_pd(g_hi, _mm256_sub_pd(v_hi, s), dot[2 * h + 1]);
    }
  alignas(32) double lanes_sum[4], lanes_dot[4];
  _mm256_store_pd(lanes_sum, _mm256_add_pd(_mm256_add_pd(sum[0], sum[1]), _mm256_add_pd(sum[2], sum[3])));
  _mm256_store_pd(lanes_dot, _mm256_add_pd(_mm256_add_pd(dot[0], dot[1]), _mm256_add_pd(dot[2], dot[3])));
  auto [tail_sum, tail_dot] = grad_sums(dy + i, x + i, shift, n - i);
  return {lanes_sum[0] + lanes_sum[1] + lanes_sum[2] + lanes_sum[3] + tail_sum,
          lanes_dot[0] + lanes_dot[1] + lanes_dot[2] + lanes_dot[3] + tail_dot};
}
#endif

template <typename T>
std::pair<double, double> run_grad_sums(const T* dy, const T* x, double shift, int64_t n) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, float>)
    if (has_avx2_fma()) return grad_sums_avx2(dy, x, shift, n);
#endif
  return grad_sums(dy, x, shift, n);
}

}  // namespace

std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input) {
  const ChannelLayout layout = check_input(input, "batch_norm");
  if (layout.per_channel() == 0)
    throw std::invalid_argument(
        fmt::format("batch_norm: input of shape {} has no values per channel", shape_str(input.shape())));
  FOCUS_DISPATCH(input.device(), batch_norm_stats(input));
  Tensor x = contiguous_input(input);
  Tensor mean = empty({layout.C}, TensorOptions(input.dtype()));
  Tensor var = empty({layout.C}, TensorOptions(input.dtype()));
  cpu::dispatch_floating(input.dtype(), "batch_norm",
                         [&]<typename T>() { stats<T>(layout, x.data<T>(), mean.data<T>(), var.data<T>()); });
  return {mean, var};
}

Tensor batch_norm_apply(const Tensor& input, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                        const Tensor& bias) {
  const ChannelLayout layout = check_input(input, "batch_norm");
  check_channel_vector(mean, layout, input.dtype(), "mean", "batch_norm", false);
  check_channel_vector(invstd, layout, input.dtype(), "invstd", "batch_norm", false);
  check_channel_vector(weight, layout, input.dtype(), "weight", "batch_norm", true);
  check_channel_vector(bias, layout, input.dtype(), "bias", "batch_norm", true);
  FOCUS_DISPATCH(common_device("batch_norm", input, mean, invstd, weight, bias),
                      batch_norm_apply(input, mean, invstd, weight, bias));
  Tensor x = contiguous_input(input);
  Tensor y = empty_for_overwrite(input.shape(), TensorOptions(input.dtype()));
  if (y.numel() == 0) return y;
  cpu::dispatch_floating(input.dtype(), "batch_norm", [&]<typename T>() {
    // y = (x − mean)·scale + β with scale = γ·invstd. (Folding the mean into the shift
    // would save a subtraction but cancel badly when |mean| ≫ std.)
    std::vector<T> scale(layout.C), shift(layout.C);
    const T* m = contiguous_input(mean).data<T>();
    const T* s = contiguous_input(invstd).data<T>();
    const Tensor w = weight.defined() ? contiguous_input(weight) : weight;
    const Tensor b = bias.defined() ? contiguous_input(bias) : bias;
    for (int64_t c = 0; c < layout.C; ++c) {
      scale[c] = s[c] * (w.defined() ? w.data<T>()[c] : T(1));
      shift[c] = b.defined() ? b.data<T>()[c] : T(0);
    }
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for_each_run(layout, [&](int64_t, int64_t c, int64_t offset) {
      const T mc = m[c], sc = scale[c], bc = shift[c];
      for (int64_t i = 0; i < layout.inner; ++i) yp[offset + i] = (xp[offset + i] - mc) * sc + bc;
    });
  });
  return y;
}

BatchNormGrads batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& mean,
                                   const Tensor& invstd, const Tensor& weight, bool batch_stats, bool need_input,
                                   bool need_weight, bool need_bias) {
  const char* op = "batch_norm_backward";
  const ChannelLayout layout = check_input(input, op);
  check_channel_vector(mean, layout, input.dtype(), "mean", op, false);
  check_channel_vector(invstd, layout, input.dtype(), "invstd", op, false);
  check_channel_vector(weight, layout, input.dtype(), "weight", op, true);
  check_defined(grad_output, op);
  if (grad_output.shape() != input.shape() || grad_output.dtype() != input.dtype())
    throw std::invalid_argument(fmt::format("{}: expected a {} gradient of shape {}, got {} of shape {}", op,
                                            dtype_name(input.dtype()), shape_str(input.shape()),
                                            dtype_name(grad_output.dtype()), shape_str(grad_output.shape())));
  FOCUS_DISPATCH(common_device(op, grad_output, input, mean, invstd, weight),
                      batch_norm_backward(grad_output, input, mean, invstd, weight, batch_stats, need_input,
                                          need_weight, need_bias));
  Tensor x = contiguous_input(input), dy = contiguous_input(grad_output);
  const TensorOptions options(input.dtype());
  BatchNormGrads grads;
  if (need_input) grads.input = empty_for_overwrite(input.shape(), options);
  if (need_weight) grads.weight = empty({layout.C}, options);
  if (need_bias) grads.bias = empty({layout.C}, options);
  if (!(need_input || need_weight || need_bias)) return grads;

  cpu::dispatch_floating(input.dtype(), op, [&]<typename T>() {
    const T* xp = x.data<T>();
    const T* dyp = dy.data<T>();
    const T* m = contiguous_input(mean).data<T>();
    const T* s = contiguous_input(invstd).data<T>();
    const Tensor w = weight.defined() ? contiguous_input(weight) : weight;
    // Per channel: Σ dy and Σ dy·x̂ (the gradients of β and γ, and what dx needs with batch statistics).
    std::vector<double> sum_dy(layout.C), sum_dy_xhat(layout.C);
    const bool need_sums = need_weight || need_bias || (need_input && batch_stats);
    if (need_sums) {
      parallel_for(0, layout.C, channel_grain(layout), [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          double a = 0, b = 0;
          for (int64_t n = 0; n < layout.N; ++n) {
            const int64_t offset = layout.run(n, c);
            const auto [sum, dot] = run_grad_sums(dyp + offset, xp + offset, static_cast<double>(m[c]), layout.inner);
            a += sum;
            b += dot;
          }
          sum_dy[c] = a;
          sum_dy_xhat[c] = b * s[c];
        }
      });
    }
    if (need_weight)
      for (int64_t c = 0; c < layout.C; ++c) grads.weight.data<T>()[c] = static_cast<T>(sum_dy_xhat[c]);
    if (need_bias)
      for (int64_t c = 0; c < layout.C; ++c) grads.bias.data<T>()[c] = static_cast<T>(sum_dy[c]);
    if (!need_input) return;

    // dx = k·dy + a·(x − mean) + b per channel, the constants folded from the rule:
    //   batch statistics: dx = γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), x̂ = (x − mean)·invstd
    //   fixed statistics: dx = γ·invstd·dy
    std::vector<T> k(layout.C), a(layout.C), b(layout.C);
    const double M = static_cast<double>(layout.per_channel());
    for (int64_t c = 0; c < layout.C; ++c) {
      const double gamma = w.defined() ? static_cast<double>(w.data<T>()[c]) : 1.0;
      const double scale = gamma * s[c];
      k[c] = static_cast<T>(scale);
      a[c] = batch_stats ? static_cast<T>(-scale * s[c] * sum_dy_xhat[c] / M) : T(0);
      b[c] = batch_stats ? static_cast<T>(-scale * sum_dy[c] / M) : T(0);
    }
    T* dxp = grads.input.data<T>();
    for_each_run(layout, [&](int64_t, int64_t c, int64_t offset) {
      const T kc = k[c], ac = a[c], bc = b[c], mc = m[c];
      for (int64_t i = 0; i < layout.inner; ++i)
        dxp[offset + i] = kc * dyp[offset + i] + ac * (xp[offset + i] - mc) + bc;
    });
  });
  return grads;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
