// 2-D pooling over NCHW: max (with argmax indices), average, adaptive average.
// Every (n, c) plane is independent, so planes are shared among threads; the
// windows of one plane are walked with their bounds clipped to the input once
// per window, which keeps the inner loops free of padding tests. Max pooling
// does the windows that lie wholly inside the input tap by tap over a whole row
// of outputs, 8 at a time with AVX2: a max taken window by window branches on
// the data and mispredicts about half the time (it was 8× slower).
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "tensor/cpu/lanes.h"
#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

// Planes per thread below which a loop stays serial (in input elements).
constexpr int64_t kGrainElements = 32768;

struct PlaneGeometry {
  int64_t planes;  // N·C
  int64_t H, W, OH, OW;
};

int64_t plane_grain(const PlaneGeometry& g) {
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, g.H * g.W));
}

Tensor contiguous_input(const Tensor& t) { return t.is_contiguous() ? t : contiguous_copy(t); }

void check_input(const Tensor& input, const char* op) {
  check_defined(input, op);
  if (input.dim() != 4)
    throw std::invalid_argument(
        fmt::format("{}: expected a 4-D input [N, C, H, W], got shape {}", op, shape_str(input.shape())));
  if (!is_floating(input.dtype()))
    throw std::invalid_argument(
        fmt::format("{}: expected a float32 or float64 input, got {}", op, dtype_name(input.dtype())));
}

// The output geometry of a window over an input of shape `s` (4-D), after checking the window.
PlaneGeometry check_window(const Shape& s, const Pool2dParams& p, const char* op) {
  if (p.kernel_h < 1 || p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1)
    throw std::invalid_argument(fmt::format("{}: kernel size and stride must be positive, got kernel ({}, {}), "
                                            "stride ({}, {})",
                                            op, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w));
  // As in PyTorch: a window must always hold at least one input element.
  if (p.pad_h < 0 || p.pad_w < 0 || 2 * p.pad_h > p.kernel_h || 2 * p.pad_w > p.kernel_w)
    throw std::invalid_argument(fmt::format("{}: padding ({}, {}) must be non-negative and at most half the kernel "
                                            "size ({}, {})",
                                            op, p.pad_h, p.pad_w, p.kernel_h, p.kernel_w));
  PlaneGeometry g{s[0] * s[1], s[2], s[3], 0, 0};
  g.OH = (g.H + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1;
  g.OW = (g.W + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1;
  if (g.H + 2 * p.pad_h < p.kernel_h || g.W + 2 * p.pad_w < p.kernel_w)
    throw std::invalid_argument(fmt::format("{}: input of shape {} (padded by ({}, {})) is smaller than the kernel "
                                            "({}, {})",
                                            op, shape_str(s), p.pad_h, p.pad_w, p.kernel_h, p.kernel_w));
  return g;
}

void check_grad(const Tensor& grad_output, const Shape& expected, DType dtype, const char* op) {
  check_defined(grad_output, op);
  if (grad_output.shape() != expected || grad_output.dtype() != dtype)
    throw std::invalid_argument(fmt::format("{}: expected a {} gradient of shape {}, got {} of shape {}", op,
                                            dtype_name(dtype), shape_str(expected), dtype_name(grad_output.dtype()),
                                            shape_str(grad_output.shape())));
}

// Input rows [lo, hi) of window `o` (start o·stride − pad, kernel long), clipped to [0, size).
struct Span {
  int64_t lo, hi;
};
Span clipped(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = o * stride - pad;
  return {std::max<int64_t>(start, 0), std::min(start + kernel, size)};
}

// The output columns [lo, hi) whose whole window lies inside the input's columns.
Span interior_columns(const PlaneGeometry& g, int64_t stride, int64_t pad, int64_t kernel) {
  const int64_t lo = std::min(g.OW, (pad + stride - 1) / stride);
  const int64_t hi = g.W + pad >= kernel ? std::min(g.OW, (g.W + pad - kernel) / stride + 1) : 0;
  return {lo, std::max(lo, hi)};
}

#if defined(__x86_64__)
bool has_avx2() { return cpu::avx2_fma_usable(); }

// best, best_at ← v, at where v beats best (greater, or the first NaN), lane by lane.
__attribute__((target("avx2"), always_inline)) inline void update_max(__m256& best, __m256i& best_at, __m256 v,
                                                                      __m256i at) {
  const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                                   _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q),
                                                 _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
  best = _mm256_blendv_ps(best, v, take);
  best_at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(best_at), _mm256_castsi256_ps(at), take));
}

// 8 maxima and their int32 indices, widened to int64 on the way out.
__attribute__((target("avx2"), always_inline)) inline void store_max(float* out, int64_t* idx, __m256 best,
                                                                     __m256i best_at) {
  _mm256_storeu_ps(out, best);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(best_at)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(best_at, 1)));
}

// The interior run of one output row, 8 outputs per step, for float and horizontal
// stride 1 or 2: the same tap-by-tap update as the portable loop below (first
// maximum wins, NaN wins), on vectors. Indices are built as int32 (the plane is
// checked to fit) and widened on store. Returns the first column it did not do.
__attribute__((target("avx2"))) int64_t max_pool_run_avx2(const PlaneGeometry& g, const Pool2dParams& p,
                                                          const float* in, Span rows, int64_t lo, int64_t hi,
                                                          float* out, int64_t* idx) {
  const int64_t sw = p.stride_w;
  if ((sw != 1 && sw != 2) || g.H * g.W > (int64_t{1} << 30)) return lo;
  const __m256i lane_step =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(sw)));
  int64_t ow = lo;
  if (sw == 2 && p.kernel_w == 2) {
    // The 2×2, stride-2 pooling of CNNs: the 16 inputs of 8 windows in a row are one pair of loads,
    // whose even elements are tap 0 and odd elements tap 1 (taps in the same order as below).
    for (; ow + 8 <= hi && (ow + 8) * 2 - p.pad_w <= g.W; ow += 8) {
      __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
      __m256i best_at = _mm256_add_epi32(_mm256_set1_epi32(int(rows.lo * g.W + ow * 2 - p.pad_w)), lane_step);
      for (int64_t h = rows.lo; h < rows.hi; ++h) {
        const int64_t first = h * g.W - p.pad_w + ow * 2;
        const __m256 a = _mm256_loadu_ps(in + first), b = _mm256_loadu_ps(in + first + 8);
        const __m256 even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
        const __m256 odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
        const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(int(first)), lane_step);
        update_max(best, best_at, even, at);
        update_max(best, best_at, odd, _mm256_add_epi32(at, _mm256_set1_epi32(1)));
      }
      store_max(out + ow, idx + ow, best, best_at);
    }
    // The last (fewer than 8) windows, as on odd widths (31 → 15): masked loads read only the row's
    // own inputs, and only the real outputs are copied out.
    if (ow < hi && hi * 2 - p.pad_w <= g.W) {
      const int64_t count = hi - ow, inputs = 2 * count;
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i low_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(inputs)), lane);
      const __m256i high_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(inputs - 8)), lane);
      __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
      __m256i best_at = _mm256_add_epi32(_mm256_set1_epi32(int(rows.lo * g.W + ow * 2 - p.pad_w)), lane_step);
      for (int64_t h = rows.lo; h < rows.hi; ++h) {
        const int64_t first = h * g.W - p.pad_w + ow * 2;
        const __m256 a = _mm256_maskload_ps(in + first, low_mask), b = _mm256_maskload_ps(in + first + 8, high_mask);
        const __m256 even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
        const __m256 odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
        const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(int(first)), lane_step);
        update_max(best, best_at, even, at);
        update_max(best, best_at, odd, _mm256_add_epi32(at, _mm256_set1_epi32(1)));
      }
      float tail_out[8];
      int64_t tail_idx[8];
      store_max(tail_out, tail_idx, best, best_at);
      std::copy(tail_out, tail_out + count, out + ow);
      std::copy(tail_idx, tail_idx + count, idx + ow);
      ow = hi;
    }
    return ow;
  }
  // With stride 2 the 16 loads run one element past the block's last window: stop
  // while that element still lies in the row (the scalar loop does the rest).
  auto fits = [&](int64_t ow) { return sw == 1 || (ow + 7) * sw - p.pad_w + p.kernel_w < g.W; };
  for (; ow + 8 <= hi && fits(ow); ow += 8) {
    __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256i best_at = _mm256_add_epi32(_mm256_set1_epi32(int(rows.lo * g.W + ow * sw - p.pad_w)), lane_step);
    for (int64_t h = rows.lo; h < rows.hi; ++h)
      for (int64_t j = 0; j < p.kernel_w; ++j) {
        const int64_t first = h * g.W + j - p.pad_w + ow * sw;
        __m256 v;
        if (sw == 1) {
          v = _mm256_loadu_ps(in + first);
        } else {  // the even elements of 16: shuffle within 128-bit lanes, then order the 64-bit pairs
          const __m256 a = _mm256_loadu_ps(in + first), b = _mm256_loadu_ps(in + first + 8);
          v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
        }
        update_max(best, best_at, v, _mm256_add_epi32(_mm256_set1_epi32(int(first)), lane_step));
      }
    store_max(out + ow, idx + ow, best, best_at);
  }
  return ow;
}
#endif

template <typename T>
void max_pool_forward(const PlaneGeometry& g, const Pool2dParams& p, const T* x, T* y, int64_t* indices) {
  const Span interior = interior_columns(g, p.stride_w, p.pad_w, p.kernel_w);
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* in = x + plane * g.H * g.W;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T* out = y + (plane * g.OH + oh) * g.OW;
        int64_t* idx = indices + (plane * g.OH + oh) * g.OW;
        const Span rows = clipped(oh, p.stride_h, p.pad_h, p.kernel_h, g.H);
        // Border columns (windows clipped by the padding), one output at a time; `beats`
        // keeps it branch-free. Ties keep the first, NaN wins.
        auto window_max = [&](int64_t ow) {
          const Span cols = clipped(ow, p.stride_w, p.pad_w, p.kernel_w, g.W);
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_index = rows.lo * g.W + cols.lo;
          for (int64_t h = rows.lo; h < rows.hi; ++h)
            for (int64_t w = cols.lo; w < cols.hi; ++w) {
              const T v = in[h * g.W + w];
              const bool take = cpu::beats<true>(v, best);
              best = take ? v : best;
              best_index = take ? h * g.W + w : best_index;
            }
          out[ow] = best;
          idx[ow] = best_index;
        };
        for (int64_t ow = 0; ow < interior.lo; ++ow) window_max(ow);
        for (int64_t ow = interior.hi; ow < g.OW; ++ow) window_max(ow);
        // Columns whose windows lie inside the row: tap by tap over the whole run of
        // outputs, taps in the same (row-major) order. AVX2 does 8 at a time; this loop
        // is the portable form and takes the rest (GCC leaves it scalar).
        int64_t from = interior.lo;
#if defined(__x86_64__)
        if constexpr (std::is_same_v<T, float>)
          if (has_avx2()) from = max_pool_run_avx2(g, p, in, rows, interior.lo, interior.hi, out, idx);
#endif
        std::fill(out + from, out + interior.hi, -std::numeric_limits<T>::infinity());
        for (int64_t ow = from; ow < interior.hi; ++ow) idx[ow] = rows.lo * g.W + ow * p.stride_w - p.pad_w;
        for (int64_t h = rows.lo; h < rows.hi; ++h)
          for (int64_t j = 0; j < p.kernel_w; ++j) {
            const int64_t first = h * g.W + j - p.pad_w;  // input index of tap (h, j) for ow = 0
            for (int64_t ow = from; ow < interior.hi; ++ow) {
              const int64_t at = first + ow * p.stride_w;
              const T v = in[at];
              const bool take = cpu::beats<true>(v, out[ow]);
              out[ow] = take ? v : out[ow];
              idx[ow] = take ? at : idx[ow];
            }
          }
      }
    }
  });
}

// dx [planes, H·W] = 0, then += dy at each window's argmax.
template <typename T>
void max_pool_backward(int64_t planes, int64_t in_plane, int64_t out_plane, const T* dy, const int64_t* indices,
                       T* dx) {
  parallel_for(0, planes, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, in_plane)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t plane = begin; plane < end; ++plane) {
                   T* grad = dx + plane * in_plane;
                   const T* g = dy + plane * out_plane;
                   const int64_t* idx = indices + plane * out_plane;
                   std::fill(grad, grad + in_plane, T(0));  // here, not by zeros(): on every thread, while hot
                   for (int64_t i = 0; i < out_plane; ++i) grad[idx[i]] += g[i];
                 }
               });
}

// The window of output (oh, ow) clipped to the input, and what its sum is divided by (PyTorch's rule).
struct AvgWindow {
  Span rows, cols;
  int64_t divisor;
};
AvgWindow avg_window(const PlaneGeometry& g, const Pool2dParams& p, int64_t oh, int64_t ow, bool count_include_pad) {
  const int64_t h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
  // The window clipped to the padded input: padding counts, beyond it nothing does.
  const int64_t h1 = std::min(h0 + p.kernel_h, g.H + p.pad_h), w1 = std::min(w0 + p.kernel_w, g.W + p.pad_w);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  AvgWindow win{{std::max<int64_t>(h0, 0), std::min(h1, g.H)}, {std::max<int64_t>(w0, 0), std::min(w1, g.W)}, 0};
  win.divisor = count_include_pad ? padded_size : (win.rows.hi - win.rows.lo) * (win.cols.hi - win.cols.lo);
  return win;
}

template <typename T>
void avg_pool_forward(const PlaneGeometry& g, const Pool2dParams& p, bool count_include_pad, const T* x, T* y) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* in = x + plane * g.H * g.W;
      T* out = y + plane * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow win = avg_window(g, p, oh, ow, count_include_pad);
          T sum = 0;
          for (int64_t h = win.rows.lo; h < win.rows.hi; ++h)
            for (int64_t w = win.cols.lo; w < win.cols.hi; ++w) sum += in[h * g.W + w];
          out[oh * g.OW + ow] = sum / static_cast<T>(win.divisor);
        }
    }
  });
}

// forward: y = Σ_window x / divisor, so every x in the window gets dy / divisor (overlaps add).
template <typename T>
void avg_pool_backward(const PlaneGeometry& g, const Pool2dParams& p, bool count_include_pad, const T* dy, T* dx) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      T* grad = dx + plane * g.H * g.W;
      const T* d = dy + plane * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow win = avg_window(g, p, oh, ow, count_include_pad);
          const T share = d[oh * g.OW + ow] / static_cast<T>(win.divisor);
          for (int64_t h = win.rows.lo; h < win.rows.hi; ++h)
            for (int64_t w = win.cols.lo; w < win.cols.hi; ++w) grad[h * g.W + w] += share;
        }
    }
  });
}

// PyTorch's adaptive windows: output i of `out` covers [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).
Span adaptive_span(int64_t i, int64_t in, int64_t out) { return {(i * in) / out, ((i + 1) * in + out - 1) / out}; }

template <typename T>
void adaptive_avg_forward(const PlaneGeometry& g, const T* x, T* y) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* in = x + plane * g.H * g.W;
      T* out = y + plane * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const Span rows = adaptive_span(oh, g.H, g.OH);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const Span cols = adaptive_span(ow, g.W, g.OW);
          T sum = 0;
          for (int64_t h = rows.lo; h < rows.hi; ++h)
            for (int64_t w = cols.lo; w < cols.hi; ++w) sum += in[h * g.W + w];
          out[oh * g.OW + ow] = sum / static_cast<T>((rows.hi - rows.lo) * (cols.hi - cols.lo));
        }
      }
    }
  });
}

template <typename T>
void adaptive_avg_backward(const PlaneGeometry& g, const T* dy, T* dx) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      T* grad = dx + plane * g.H * g.W;
      const T* d = dy + plane * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const Span rows = adaptive_span(oh, g.H, g.OH);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const Span cols = adaptive_span(ow, g.W, g.OW);
          const T share = d[oh * g.OW + ow] / static_cast<T>((rows.hi - rows.lo) * (cols.hi - cols.lo));
          for (int64_t h = rows.lo; h < rows.hi; ++h)
            for (int64_t w = cols.lo; w < cols.hi; ++w) grad[h * g.W + w] += share;
        }
      }
    }
  });
}

Shape output_shape(const Shape& input, int64_t oh, int64_t ow) { return {input[0], input[1], oh, ow}; }

}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2dParams& params) {
  check_input(input, "max_pool2d");
  const PlaneGeometry g = check_window(input.shape(), params, "max_pool2d");
  FOCUS_DISPATCH(input.device(), max_pool2d(input, params));
  Tensor x = contiguous_input(input);
  const Shape shape = output_shape(input.shape(), g.OH, g.OW);
  Tensor y = empty_for_overwrite(shape, TensorOptions(input.dtype()));
  Tensor indices = empty_for_overwrite(shape, TensorOptions(kInt64));
  if (y.numel() == 0) return {y, indices};
  cpu::dispatch_floating(input.dtype(), "max_pool2d", [&]<typename T>() {
    max_pool_forward<T>(g, params, x.data<T>(), y.data<T>(), indices.data<int64_t>());
  });
  return {y, indices};
}

Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape) {
  check_defined(indices, "max_pool2d_backward");
  if (input_shape.size() != 4 || indices.dtype() != kInt64 || indices.dim() != 4 ||
      indices.shape()[0] != input_shape[0] || indices.shape()[1] != input_shape[1])
    throw std::invalid_argument(fmt::format("max_pool2d_backward: int64 indices of shape [N, C, H_out, W_out] and "
                                            "a 4-D input shape expected, got {} indices of shape {} for input {}",
                                            dtype_name(indices.dtype()), shape_str(indices.shape()),
                                            shape_str(input_shape)));
  check_grad(grad_output, indices.shape(), grad_output.dtype(), "max_pool2d_backward");
  FOCUS_DISPATCH(common_device("max_pool2d_backward", grad_output, indices),
                      max_pool2d_backward(grad_output, indices, input_shape));
  Tensor dy = contiguous_input(grad_output), idx = contiguous_input(indices);
  if (dy.numel() == 0) return zeros(input_shape, TensorOptions(grad_output.dtype()));
  Tensor dx = empty_for_overwrite(input_shape, TensorOptions(grad_output.dtype()));  // max_pool_backward zeroes each plane
  cpu::dispatch_floating(dy.dtype(), "max_pool2d_backward", [&]<typename T>() {
    max_pool_backward<T>(input_shape[0] * input_shape[1], input_shape[2] * input_shape[3],
                         dy.shape()[2] * dy.shape()[3], dy.data<T>(), idx.data<int64_t>(), dx.data<T>());
  });
  return dx;
}

Tensor avg_pool2d(const Tensor& input, const Pool2dParams& params, bool count_include_pad) {
  check_input(input, "avg_pool2d");
  const PlaneGeometry g = check_window(input.shape(), params, "avg_pool2d");
  FOCUS_DISPATCH(input.device(), avg_pool2d(input, params, count_include_pad));
  Tensor x = contiguous_input(input);
  Tensor y = empty_for_overwrite(output_shape(input.shape(), g.OH, g.OW), TensorOptions(input.dtype()));
  if (y.numel() == 0) return y;
  cpu::dispatch_floating(input.dtype(), "avg_pool2d", [&]<typename T>() {
    avg_pool_forward<T>(g, params, count_include_pad, x.data<T>(), y.data<T>());
  });
  return y;
}

Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, const Pool2dParams& params,
                           bool count_include_pad) {
  check_defined(grad_output, "avg_pool2d_backward");
  if (input_shape.size() != 4)
    throw std::invalid_argument(
        fmt::format("avg_pool2d_backward: expected a 4-D input shape, got {}", shape_str(input_shape)));
  const PlaneGeometry g = check_window(input_shape, params, "avg_pool2d_backward");
  check_grad(grad_output, output_shape(input_shape, g.OH, g.OW), grad_output.dtype(), "avg_pool2d_backward");
  FOCUS_DISPATCH(grad_output.device(), avg_pool2d_backward(grad_output, input_shape, params, count_include_pad));
  Tensor dy = contiguous_input(grad_output);
  Tensor dx = zeros(input_shape, TensorOptions(grad_output.dtype()));
  if (dy.numel() == 0) return dx;
  cpu::dispatch_floating(dy.dtype(), "avg_pool2d_backward", [&]<typename T>() {
    avg_pool_backward<T>(g, params, count_include_pad, dy.data<T>(), dx.data<T>());
  });
  return dx;
}

Tensor adaptive_avg_pool2d(const Tensor& input, int64_t output_h, int64_t output_w) {
  check_input(input, "adaptive_avg_pool2d");
  if (output_h < 1 || output_w < 1)
    throw std::invalid_argument(
        fmt::format("adaptive_avg_pool2d: output size must be positive, got ({}, {})", output_h, output_w));
  const Shape& s = input.shape();
  if (s[2] < 1 || s[3] < 1)
    throw std::invalid_argument(
        fmt::format("adaptive_avg_pool2d: input of shape {} has an empty plane", shape_str(s)));
  FOCUS_DISPATCH(input.device(), adaptive_avg_pool2d(input, output_h, output_w));
  const PlaneGeometry g{s[0] * s[1], s[2], s[3], output_h, output_w};
  Tensor x = contiguous_input(input);
  Tensor y = empty_for_overwrite(output_shape(s, output_h, output_w), TensorOptions(input.dtype()));
  if (y.numel() == 0) return y;
  cpu::dispatch_floating(input.dtype(), "adaptive_avg_pool2d",
                         [&]<typename T>() { adaptive_avg_forward<T>(g, x.data<T>(), y.data<T>()); });
  return y;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape) {
  check_defined(grad_output, "adaptive_avg_pool2d_backward");
  if (input_shape.size() != 4 || grad_output.dim() != 4)
    throw std::invalid_argument(fmt::format("adaptive_avg_pool2d_backward: expected 4-D shapes, got gradient {} "
                                            "for input {}",
                                            shape_str(grad_output.shape()), shape_str(input_shape)));
  const PlaneGeometry g{input_shape[0] * input_shape[1], input_shape[2], input_shape[3], grad_output.shape()[2],
                        grad_output.shape()[3]};
  check_grad(grad_output, output_shape(input_shape, g.OH, g.OW), grad_output.dtype(),
             "adaptive_avg_pool2d_backward");
  FOCUS_DISPATCH(grad_output.device(), adaptive_avg_pool2d_backward(grad_output, input_shape));
  Tensor dy = contiguous_input(grad_output);
  Tensor dx = zeros(input_shape, TensorOptions(grad_output.dtype()));
  if (dy.numel() == 0) return dx;
  cpu::dispatch_floating(dy.dtype(), "adaptive_avg_pool2d_backward",
                         [&]<typename T>() { adaptive_avg_backward<T>(g, dy.data<T>(), dx.data<T>()); });
  return dx;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
