// 2-D pooling over NCHW on the GPU: max (with argmax indices), average, adaptive
// average, and their backward passes, with the semantics of tensor/cpu/pool.cpp (whose
// entry points have already checked shapes, windows and dtypes).
//
// Forward passes give each output element a thread that walks its window, clipped to
// the input, in the CPU's order (so max pooling's ties and NaNs resolve the same way).
// Adaptive pooling to a much smaller output (global pooling, 32×32 → 1×1) gives each
// output a warp instead, so that the long windows are read coalesced and summed as a tree.
//
// Backward passes: max pooling scatters each dy to its saved argmax with atomicAdd,
// since overlapping windows may pick the same input. The average poolings gather
// instead: each input pixel sums dy / divisor over the windows that contain it, which
// needs no atomics and writes every dx element once.
#include <algorithm>
#include <limits>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/group_reduce.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

using kernels::Pool2dParams;

// One pooling's shapes: planes = N·C input planes of H×W, outputs OH×OW, and the window.
struct PoolShape {
  int64_t planes, H, W, OH, OW;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
};

PoolShape pool_shape(const Shape& input, const Pool2dParams& p) {
  PoolShape s{input[0] * input[1], input[2], input[3], 0, 0, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,
              p.pad_h, p.pad_w};
  s.OH = (s.H + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1;
  s.OW = (s.W + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1;
  return s;
}

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : kernels::contiguous_copy(t); }

#define FOCUS_GRID_STRIDE_LOOP(i, n)                                                       \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// y, indices [planes, OH, OW]: the window maximum of x [planes, H, W] (padding is −∞, NaN
// wins, the first of equal maxima wins) and its position h·W + w in the plane.
template <typename T>
__global__ void max_pool_forward_kernel(PoolShape s, const T* __restrict__ x, T* __restrict__ y,
                                        int64_t* __restrict__ indices) {
  FOCUS_GRID_STRIDE_LOOP(i, s.planes * s.OH * s.OW) {
    const int64_t ow = i % s.OW, oh = (i / s.OW) % s.OH, plane = i / (s.OW * s.OH);
    const int64_t h0 = oh * s.stride_h - s.pad_h, w0 = ow * s.stride_w - s.pad_w;
    const int64_t h_lo = std::max(h0, int64_t{0}), h_hi = std::min(h0 + s.kernel_h, s.H);
    const int64_t w_lo = std::max(w0, int64_t{0}), w_hi = std::min(w0 + s.kernel_w, s.W);
    const T* in = x + plane * s.H * s.W;
    T best = -std::numeric_limits<T>::infinity();
    int64_t best_at = h_lo * s.W + w_lo;
    for (int64_t h = h_lo; h < h_hi; ++h)
      for (int64_t w = w_lo; w < w_hi; ++w) {
        const T v = in[h * s.W + w];
        if (v > best || (v != v && best == best)) {  // cpu::beats<true>: greater, or the first NaN
          best = v;
          best_at = h * s.W + w;
        }
      }
    y[i] = best;
    indices[i] = best_at;
  }
}

// dx [planes, in_plane] (zeroed) += dy [planes, out_plane] at each output's saved argmax.
template <typename T>
__global__ void max_pool_backward_kernel(int64_t total, int64_t out_plane, int64_t in_plane, const T* __restrict__ dy,
                                         const int64_t* __restrict__ indices, T* __restrict__ dx) {
  FOCUS_GRID_STRIDE_LOOP(i, total) {
    const int64_t at = indices[i];
    // A position outside the plane cannot come from max_pool2d: skipped rather than written out of bounds.
    if (at >= 0 && at < in_plane) atomicAdd(dx + (i / out_plane) * in_plane + at, dy[i]);
  }
}

// The window of output (oh, ow) clipped to the input, and what its sum is divided by
// (PyTorch's rule, as avg_window in tensor/cpu/pool.cpp).
struct AvgWindow {
  int64_t h_lo, h_hi, w_lo, w_hi, divisor;
};
__device__ inline AvgWindow avg_window(const PoolShape& s, int64_t oh, int64_t ow, bool count_include_pad) {
  const int64_t h0 = oh * s.stride_h - s.pad_h, w0 = ow * s.stride_w - s.pad_w;
  // The window clipped to the padded input: padding counts, beyond it nothing does.
  const int64_t h1 = std::min(h0 + s.kernel_h, s.H + s.pad_h), w1 = std::min(w0 + s.kernel_w, s.W + s.pad_w);
  AvgWindow win{std::max(h0, int64_t{0}), std::min(h1, s.H), std::max(w0, int64_t{0}), std::min(w1, s.W), 0};
  win.divisor = count_include_pad ? (h1 - h0) * (w1 - w0) : (win.h_hi - win.h_lo) * (win.w_hi - win.w_lo);
  return win;
}

// y [planes, OH, OW] = the window means of x [planes, H, W].
template <typename T>
__global__ void avg_pool_forward_kernel(PoolShape s, bool count_include_pad, const T* __restrict__ x,
                                        T* __restrict__ y) {
  FOCUS_GRID_STRIDE_LOOP(i, s.planes * s.OH * s.OW) {
    const int64_t ow = i % s.OW, oh = (i / s.OW) % s.OH, plane = i / (s.OW * s.OH);
    const AvgWindow win = avg_window(s, oh, ow, count_include_pad);
    const T* in = x + plane * s.H * s.W;
    T sum = 0;
    for (int64_t h = win.h_lo; h < win.h_hi; ++h)
      for (int64_t w = win.w_lo; w < win.w_hi; ++w) sum += in[h * s.W + w];
    y[i] = sum / static_cast<T>(win.divisor);
  }
}

// The outputs [lo, hi] along one dim whose windows (start o·stride − pad, kernel long) hold input index `at`:
// o·stride ≤ at + pad and o·stride ≥ at + pad − kernel + 1, within [0, outputs).
struct OutputRange {
  int64_t lo, hi;
};
__device__ inline OutputRange windows_holding(int64_t at, int64_t stride, int64_t pad, int64_t kernel,
                                              int64_t outputs) {
  const int64_t first = at + pad - kernel + 1;
  return {first <= 0 ? 0 : (first + stride - 1) / stride, std::min((at + pad) / stride, outputs - 1)};
}

// dx [planes, H, W] = Σ over the windows holding each pixel of dy / divisor (dy [planes, OH, OW]).
template <typename T>
__global__ void avg_pool_backward_kernel(PoolShape s, bool count_include_pad, const T* __restrict__ dy,
                                         T* __restrict__ dx) {
  FOCUS_GRID_STRIDE_LOOP(i, s.planes * s.H * s.W) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, plane = i / (s.W * s.H);
    const OutputRange rows = windows_holding(h, s.stride_h, s.pad_h, s.kernel_h, s.OH);
    const OutputRange cols = windows_holding(w, s.stride_w, s.pad_w, s.kernel_w, s.OW);
    const T* d = dy + plane * s.OH * s.OW;
    T sum = 0;
    for (int64_t oh = rows.lo; oh <= rows.hi; ++oh)
      for (int64_t ow = cols.lo; ow <= cols.hi; ++ow)
        sum += d[oh * s.OW + ow] / static_cast<T>(avg_window(s, oh, ow, count_include_pad).divisor);
    dx[i] = sum;
  }
}

// PyTorch's adaptive windows: output o of `outputs` covers [⌊o·size/outputs⌋, ⌈(o+1)·size/outputs⌉).
__device__ inline int64_t adaptive_start(int64_t o, int64_t size, int64_t outputs) { return (o * size) / outputs; }
__device__ inline int64_t adaptive_end(int64_t o, int64_t size, int64_t outputs) {
  return ((o + 1) * size + outputs - 1) / outputs;
}

// y [planes, OH, OW] = the adaptive window means of x [planes, H, W], a thread per output.
template <typename T>
__global__ void adaptive_avg_forward_kernel(PoolShape s, const T* __restrict__ x, T* __restrict__ y) {
  FOCUS_GRID_STRIDE_LOOP(i, s.planes * s.OH * s.OW) {
    const int64_t ow = i % s.OW, oh = (i / s.OW) % s.OH, plane = i / (s.OW * s.OH);
    const int64_t h_lo = adaptive_start(oh, s.H, s.OH), h_hi = adaptive_end(oh, s.H, s.OH);
    const int64_t w_lo = adaptive_start(ow, s.W, s.OW), w_hi = adaptive_end(ow, s.W, s.OW);
    const T* in = x + plane * s.H * s.W;
    T sum = 0;
    for (int64_t h = h_lo; h < h_hi; ++h)
      for (int64_t w = w_lo; w < w_hi; ++w) sum += in[h * s.W + w];
    y[i] = sum / static_cast<T>((h_hi - h_lo) * (w_hi - w_lo));
  }
}

// The same with a warp per output: lanes stride over the window's elements, then a shuffle tree.
template <typename T>
__global__ void adaptive_avg_forward_warp_kernel(PoolShape s, const T* __restrict__ x, T* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  const int64_t total = s.planes * s.OH * s.OW;
  // The loop runs alike on all lanes of a warp (o is per warp), as warp_sum requires.
  for (int64_t o = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32; o < total; o += warps) {
    const int64_t ow = o % s.OW, oh = (o / s.OW) % s.OH, plane = o / (s.OW * s.OH);
    const int64_t h_lo = adaptive_start(oh, s.H, s.OH), h_hi = adaptive_end(oh, s.H, s.OH);
    const int64_t w_lo = adaptive_start(ow, s.W, s.OW), w_hi = adaptive_end(ow, s.W, s.OW);
    const int64_t width = w_hi - w_lo, count = (h_hi - h_lo) * width;
    const T* in = x + plane * s.H * s.W + h_lo * s.W + w_lo;
    T sum = 0;
    if (width == s.W) {  // whole rows (global pooling): the window is one contiguous run
      for (int64_t j = lane; j < count; j += 32) sum += in[j];
    } else {
      for (int64_t j = lane; j < count; j += 32) sum += in[(j / width) * s.W + j % width];
    }
    sum = warp_sum(sum);
    if (lane == 0) y[o] = sum / static_cast<T>(count);
  }
}

// dx [planes, H, W] = Σ over the adaptive windows holding each pixel of dy / window size.
template <typename T>
__global__ void adaptive_avg_backward_kernel(PoolShape s, const T* __restrict__ dy, T* __restrict__ dx) {
  FOCUS_GRID_STRIDE_LOOP(i, s.planes * s.H * s.W) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, plane = i / (s.W * s.H);
    // Window o holds h iff start(o) ≤ h < end(o): o ≥ ⌊h·OH/H⌋ and o < ⌈(h+1)·OH/H⌉. The
    // exact test below keeps the sum right whatever rounding the range bounds have.
    const int64_t oh_lo = (h * s.OH) / s.H, oh_hi = std::min(((h + 1) * s.OH + s.H - 1) / s.H, s.OH);
    const int64_t ow_lo = (w * s.OW) / s.W, ow_hi = std::min(((w + 1) * s.OW + s.W - 1) / s.W, s.OW);
    const T* d = dy + plane * s.OH * s.OW;
    T sum = 0;
    for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
      const int64_t h_lo = adaptive_start(oh, s.H, s.OH), h_hi = adaptive_end(oh, s.H, s.OH);
      if (h < h_lo || h >= h_hi) continue;
      for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
        const int64_t w_lo = adaptive_start(ow, s.W, s.OW), w_hi = adaptive_end(ow, s.W, s.OW);
        if (w < w_lo || w >= w_hi) continue;
        sum += d[oh * s.OW + ow] / static_cast<T>((h_hi - h_lo) * (w_hi - w_lo));
      }
    }
    dx[i] = sum;
  }
}

Shape output_shape(const Shape& input, int64_t oh, int64_t ow) { return {input[0], input[1], oh, ow}; }

}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2dParams& params) {
  const PoolShape s = pool_shape(input.shape(), params);
  const Tensor x = dense(input);
  const Shape shape = output_shape(input.shape(), s.OH, s.OW);
  Tensor y = empty(shape, TensorOptions(input.dtype()).with_device(input.device()));
  Tensor indices = empty(shape, TensorOptions(kInt64).with_device(input.device()));
  const int64_t n = y.numel();
  if (n == 0) return {y, indices};
  dispatch_floating(input.dtype(), "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        s, static_cast<const T*>(x.data_ptr()), static_cast<T*>(y.data_ptr()),
        static_cast<int64_t*>(indices.data_ptr()));
    FOCUS_CUDA_CHECK_LAUNCH("max_pool_forward_kernel");
  });
  return {y, indices};
}

Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape) {
  const Tensor dy = dense(grad_output), idx = dense(indices);
  Tensor dx = empty(input_shape, TensorOptions(grad_output.dtype()).with_device(grad_output.device()));  // zeros
  const int64_t n = dy.numel();
  if (n == 0) return dx;
  const int64_t out_plane = dy.shape()[2] * dy.shape()[3], in_plane = input_shape[2] * input_shape[3];
  dispatch_floating(dy.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        n, out_plane, in_plane, static_cast<const T*>(dy.data_ptr()), static_cast<const int64_t*>(idx.data_ptr()),
        static_cast<T*>(dx.data_ptr()));
    FOCUS_CUDA_CHECK_LAUNCH("max_pool_backward_kernel");
  });
  return dx;
}

Tensor avg_pool2d(const Tensor& input, const Pool2dParams& params, bool count_include_pad) {
  const PoolShape s = pool_shape(input.shape(), params);
  const Tensor x = dense(input);
  Tensor y = empty(output_shape(input.shape(), s.OH, s.OW), TensorOptions(input.dtype()).with_device(input.device()));
  const int64_t n = y.numel();
  if (n == 0) return y;
  dispatch_floating(input.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        s, count_include_pad, static_cast<const T*>(x.data_ptr()), static_cast<T*>(y.data_ptr()));
    FOCUS_CUDA_CHECK_LAUNCH("avg_pool_forward_kernel");
  });
  return y;
}

Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, const Pool2dParams& params,
                           bool count_include_pad) {
  const PoolShape s = pool_shape(input_shape, params);
  const Tensor dy = dense(grad_output);
  Tensor dx = empty(input_shape, TensorOptions(grad_output.dtype()).with_device(grad_output.device()));
  const int64_t n = dx.numel();
  if (n == 0 || dy.numel() == 0) return dx;
  dispatch_floating(dy.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        s, count_include_pad, static_cast<const T*>(dy.data_ptr()), static_cast<T*>(dx.data_ptr()));
    FOCUS_CUDA_CHECK_LAUNCH("avg_pool_backward_kernel");
  });
  return dx;
}

Tensor adaptive_avg_pool2d(const Tensor& input, int64_t output_h, int64_t output_w) {
  const Shape& in = input.shape();
  const PoolShape s{in[0] * in[1], in[2], in[3], output_h, output_w, 0, 0, 0, 0, 0, 0};
  const Tensor x = dense(input);
  Tensor y = empty(output_shape(in, output_h, output_w), TensorOptions(input.dtype()).with_device(input.device()));
  const int64_t n = y.numel();
  if (n == 0) return y;
  // Windows of 32 or more elements on average: a warp per output reads them coalesced.
  const bool warp_per_output = s.H * s.W >= 32 * output_h * output_w;
  dispatch_floating(input.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    T* py = static_cast<T*>(y.data_ptr());
    if (warp_per_output) {
      adaptive_avg_forward_warp_kernel<T><<<blocks_for(n * 32), kThreads, 0, stream()>>>(s, px, py);
      FOCUS_CUDA_CHECK_LAUNCH("adaptive_avg_forward_warp_kernel");
    } else {
      adaptive_avg_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(s, px, py);
      FOCUS_CUDA_CHECK_LAUNCH("adaptive_avg_forward_kernel");
    }
  });
  return y;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape) {
  const PoolShape s{input_shape[0] * input_shape[1], input_shape[2], input_shape[3], grad_output.shape()[2],
                    grad_output.shape()[3], 0, 0, 0, 0, 0, 0};
  const Tensor dy = dense(grad_output);
  Tensor dx = empty(input_shape, TensorOptions(grad_output.dtype()).with_device(grad_output.device()));
  const int64_t n = dx.numel();
  if (n == 0 || dy.numel() == 0) return dx;
  dispatch_floating(dy.dtype(), "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    adaptive_avg_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        s, static_cast<const T*>(dy.data_ptr()), static_cast<T*>(dx.data_ptr()));
    FOCUS_CUDA_CHECK_LAUNCH("adaptive_avg_backward_kernel");
  });
  return dx;
}

}  // namespace focus::cuda
