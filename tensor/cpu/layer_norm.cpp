// Layer normalisation and its backward pass, fused: one pass over a row for the
// statistics and one to write it, instead of the half-dozen passes (and
// temporaries) of the composite mean/var/sub/div/mul/add.
//
// x is viewed as [rows, D] with D = the normalised trailing dims: every row is
// contiguous and independent, so rows run in parallel. Row statistics are
// accumulated in double (two passes: mean, then Σ(x − mean)², which unlike
// E[x²] − E[x]² does not cancel catastrophically when |mean| ≫ std).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "tensor/cpu/lanes.h"
#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"
#include "tensor/parallel.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

constexpr int64_t kGrain = 16384;  // elements per thread below which rows stay serial

Tensor dense(const Tensor& t) { return !t.defined() || t.is_contiguous() ? t : contiguous_copy(t); }

void check_row_vector(const Tensor& t, const Tensor& x, int64_t D, const char* what) {
  if (!t.defined()) return;
  if (t.numel() != D || t.dtype() != x.dtype())
    throw std::invalid_argument(
        fmt::format("layer_norm: {} of shape {} and dtype {} does not fit rows of {} {} elements", what,
                    shape_str(t.shape()), dtype_name(t.dtype()), D, dtype_name(x.dtype())));
}

/// Σ a[i]·b[i] in double, in independent lanes so the loop vectorises (see lanes.h).
template <typename T>
double dot(const T* a, const T* b, int64_t n) {
  double lanes[cpu::kLanes] = {};
  int64_t i = 0;
  for (; i + cpu::kLanes <= n; i += cpu::kLanes)
    for (int64_t k = 0; k < cpu::kLanes; ++k) lanes[k] += static_cast<double>(a[i + k]) * static_cast<double>(b[i + k]);
  for (; i < n; ++i) lanes[0] += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  double total = 0;
  for (double v : lanes) total += v;
  return total;
}

template <typename T>
double row_mean(const T* x, int64_t D) {
  return cpu::lane_sum<double>(x, D, [](T v) { return static_cast<double>(v); }) / static_cast<double>(D);
}

// The row mean as high + low parts in T. Rounding a float32 mean of ~10⁴ costs ~5·10⁻⁴,
// which is 0.5% of a spread of 0.1; x − high is exact when x is near the mean
// (Sterbenz), so (x − high) − low keeps the double mean's accuracy for one extra
// subtraction.
template <typename T>
struct SplitMean {
  T high, low;
  explicit SplitMean(double mean)
      : high(static_cast<T>(mean)), low(static_cast<T>(mean - static_cast<double>(static_cast<T>(mean)))) {}
  T centre(T x) const { return (x - high) - low; }
};

template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

LayerNormForward layer_norm(const Tensor& x, int64_t normalized_numel, const Tensor& weight, const Tensor& bias,
                            double eps) {
  check_defined(x, "layer_norm");
  const int64_t D = normalized_numel;
  if (D <= 0 || x.numel() % D != 0)
    throw std::invalid_argument(
        fmt::format("layer_norm: input of shape {} does not split into rows of {} elements", shape_str(x.shape()), D));
  check_row_vector(weight, x, D, "weight");
  check_row_vector(bias, x, D, "bias");
  FOCUS_DISPATCH(common_device("layer_norm", x, weight, bias), layer_norm(x, normalized_numel, weight, bias, eps));
  const int64_t rows = x.numel() / D;
  const TensorOptions options = TensorOptions(x.dtype()).with_device(x.device());
  Tensor input = dense(x), w = dense(weight), b = dense(bias);
  LayerNormForward out{empty_for_overwrite(x.shape(), options), empty({rows}, options), empty({rows}, options)};

  cpu::dispatch_floating(x.dtype(), "layer_norm", [&]<typename T>() {
    const T* px = input.data<T>();
    const T* pw = data_or_null<T>(w);
    const T* pb = data_or_null<T>(b);
    T* py = out.output.data<T>();
    T* pmean = out.mean.data<T>();
    T* prstd = out.rstd.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, kGrain / D), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = px + r * D;
        T* yr = py + r * D;
        const double mean = row_mean(xr, D);
        const double var = cpu::lane_sum<double>(xr, D,
                                                 [mean](T v) {
                                                   const double d = static_cast<double>(v) - mean;
                                                   return d * d;
                                                 }) /
                           D;
        const SplitMean<T> m(mean);
        const T s = static_cast<T>(1.0 / std::sqrt(var + eps));
        pmean[r] = m.high;
        prstd[r] = s;
        if (pw && pb)
          for (int64_t j = 0; j < D; ++j) yr[j] = m.centre(xr[j]) * s * pw[j] + pb[j];
        else if (pw)
          for (int64_t j = 0; j < D; ++j) yr[j] = m.centre(xr[j]) * s * pw[j];
        else if (pb)
          for (int64_t j = 0; j < D; ++j) yr[j] = m.centre(xr[j]) * s + pb[j];
        else
          for (int64_t j = 0; j < D; ++j) yr[j] = m.centre(xr[j]) * s;
      }
    });
  });
  return out;
}

LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& rstd, const Tensor& weight,
                                   bool need_input, bool need_weight, bool need_bias) {
  check_defined(dy, "layer_norm_backward");
  check_defined(x, "layer_norm_backward");
  if (dy.shape() != x.shape())
    throw std::invalid_argument(fmt::format("layer_norm_backward: gradient of shape {} for an input of shape {}",
                                            shape_str(dy.shape()), shape_str(x.shape())));
  FOCUS_DISPATCH(common_device("layer_norm_backward", dy, x, rstd, weight),
                      layer_norm_backward(dy, x, rstd, weight, need_input, need_weight, need_bias));
  const int64_t rows = rstd.numel();
  const int64_t D = rows == 0 ? 0 : x.numel() / rows;
  const TensorOptions options = TensorOptions(x.dtype()).with_device(x.device());
  Tensor g = dense(dy), input = dense(x), w = dense(weight);
  LayerNormGrads grads;
  if (need_input) grads.input = empty_for_overwrite(x.shape(), options);
  if (need_weight) grads.weight = zeros({D}, options);
  if (need_bias) grads.bias = zeros({D}, options);
  if (rows == 0 || D == 0) return grads;

  cpu::dispatch_floating(x.dtype(), "layer_norm_backward", [&]<typename T>() {
    const T* pg = g.data<T>();
    const T* px = input.data<T>();
    const T* ps = rstd.data<T>();
    const T* pw = data_or_null<T>(w);
    T* pdx = data_or_null<T>(grads.input);
    // dweight and dbias are sums over rows: each chunk of rows accumulates its
    // own partial sums (no races, and the order of additions is fixed for a
    // given thread count), added together afterwards.
    const int64_t chunks = std::clamp<int64_t>(rows * D / kGrain, 1, std::min<int64_t>(get_num_threads(), rows));
    std::vector<double> partial_w(need_weight ? chunks * D : 0), partial_b(need_bias ? chunks * D : 0);
    parallel_for(0, chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
      std::vector<T> x_hat(D), scaled(pdx ? D : 0);
      for (int64_t c = chunk_begin; c < chunk_end; ++c) {
        double* acc_w = need_weight ? partial_w.data() + c * D : nullptr;
        double* acc_b = need_bias ? partial_b.data() + c * D : nullptr;
        for (int64_t r = c * rows / chunks, r_end = (c + 1) * rows / chunks; r < r_end; ++r) {
          const T* gr = pg + r * D;
          const T* xr = px + r * D;
          // The mean is recomputed in double rather than read back rounded to T (see SplitMean).
          const SplitMean<T> m(row_mean(xr, D));
          const T s = ps[r];
          T* xh = x_hat.data();
          for (int64_t j = 0; j < D; ++j) xh[j] = m.centre(xr[j]) * s;
          if (acc_w)
            for (int64_t j = 0; j < D; ++j) acc_w[j] += static_cast<double>(gr[j]) * static_cast<double>(xh[j]);
          if (acc_b)
            for (int64_t j = 0; j < D; ++j) acc_b[j] += static_cast<double>(gr[j]);
          if (!pdx) continue;
          // g = dy·γ;  dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂))
          T* gw = scaled.data();
          for (int64_t j = 0; j < D; ++j) gw[j] = pw ? gr[j] * pw[j] : gr[j];
          const T a = static_cast<T>(cpu::lane_sum<double>(gw, D, [](T v) { return static_cast<double>(v); }) / D);
          const T b = static_cast<T>(dot(gw, xh, D) / D);
          T* dr = pdx + r * D;
          for (int64_t j = 0; j < D; ++j) dr[j] = s * (gw[j] - a - xh[j] * b);
        }
      }
    });
    auto reduce = [&](const std::vector<double>& partial, const Tensor& out) {
      T* po = out.data<T>();
      for (int64_t j = 0; j < D; ++j) {
        double total = 0;
        for (int64_t c = 0; c < chunks; ++c) total += partial[c * D + j];
        po[j] = static_cast<T>(total);
      }
    };
    if (need_weight) reduce(partial_w, grads.weight);
    if (need_bias) reduce(partial_b, grads.bias);
  });
  return grads;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
