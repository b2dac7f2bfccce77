// softmax, log_softmax and their backward passes along any dim, on the GPU, with the
// semantics of tensor/cpu/softmax.cpp (max-shifted exp; NaN in, NaN out).
//
// The (contiguous) input is viewed as (outer, size, inner) around `dim`:
//   inner == 1  `dim` is the last dim (attention scores, logits): `lanes` threads share
//               one contiguous row (a power of two, up to a whole block) and combine
//               with warp shuffles, and shared memory past one warp;
//   inner > 1   an earlier dim (channels of NCHW, dim 0 of a matrix): threadIdx.x runs
//               along inner, so a warp reads consecutive addresses, and threadIdx.y
//               splits the row; shared memory combines. No transposed copy.
// Each row takes two passes. The first reduces it: forward, the max and Σ exp(x − max)
// together, rescaling the running sum whenever the max grows (one read instead of two);
// backward, Σ dy·y (softmax) or Σ dy (log_softmax). The second writes every element.
// Sums accumulate in the input's dtype (float for float32: each thread sums a short
// strided piece, then a tree combines the pieces).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

constexpr unsigned kFullMask = 0xffffffffu;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Smallest power of two >= n (1 for n <= 1), capped at `cap`.
int pow2_at_least(int64_t n, int cap) {
  int p = 1;
  while (p < cap && p < n) p *= 2;
  return p;
}

unsigned grid_for(int64_t blocks) { return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, 1 << 20)); }

template <typename T>
__device__ inline T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return expf(x);
  else
    return ::exp(x);
}

template <typename T>
__device__ inline T log_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return logf(x);
  else
    return ::log(x);
}

// ---- what a row computes ------------------------------------------------------------
// A row policy has State, Element, Final and
//   identity()            the state of no elements
//   load(i)               the element at offset i, as the reduction needs it
//   add(state, element)   one more element, in position order within a thread
//   combine(a, b)         two states; commutative, so that every lane of a shuffle
//                         butterfly ends with the same bits
//   finish(state)         what the write pass needs, once per row
//   emit(i, final)        writes the output at offset i

template <typename T>
struct MaxSum {
  T max;  // running max (NaN wins, as on the CPU)
  T sum;  // Σ exp(x − max); 0 only for no finite contribution yet
};

/// softmax (Log = false) or log_softmax (Log = true) of x into y.
template <typename T, bool Log>
struct SoftmaxForward {
  using State = MaxSum<T>;
  using Element = T;
  struct Final {
    T max;
    T scale;  // 1 / sum (softmax) or log(sum) (log_softmax)
  };
  const T* x;
  T* y;

  __device__ State identity() const { return {-std::numeric_limits<T>::infinity(), T(0)}; }
  __device__ Element load(int64_t i) const { return x[i]; }
  /// sum rescaled to a new max. A state with no contribution stays 0 (its max may be
  /// −inf, and −inf − (−inf) would make a NaN out of nothing).
  __device__ static T rescaled(const State& s, T max) { return s.sum == T(0) ? T(0) : s.sum * exp_of(s.max - max); }
  __device__ static T larger(T a, T b) { return (a > b || (a != a && b == b)) ? a : b; }
  __device__ State add(State s, T v) const {
    // exp(−inf − max) is 0 for any max that the row can end with but −inf itself, and an
    // all −inf row gives NaN in the write pass anyway (−inf − (−inf)), as on the CPU.
    if (v == -std::numeric_limits<T>::infinity()) return s;
    const T max = larger(v, s.max);
    // exp(v − max), not 1, when v is the new max: a +inf gives inf − inf = NaN, as on the CPU.
    return {max, rescaled(s, max) + exp_of(v - max)};
  }
  __device__ State combine(const State& a, const State& b) const {
    const T max = larger(a.max, b.max);
    return {max, rescaled(a, max) + rescaled(b, max)};
  }
  __device__ Final finish(const State& s) const {
    if constexpr (Log)
      return {s.max, log_of(s.sum)};
    else
      return {s.max, T(1) / s.sum};
  }
  __device__ void emit(int64_t i, const Final& f) const {
    // (x − max) − log Σ, in this order: max + log Σ would round away log Σ when |max| is large.
    if constexpr (Log)
      y[i] = (x[i] - f.max) - f.scale;
    else
      y[i] = exp_of(x[i] - f.max) * f.scale;
  }
};

/// softmax:      dx = y · (dy − Σ dy·y)
/// log_softmax:  dx = dy − exp(y) · Σ dy
template <typename T, bool Log>
struct SoftmaxBackward {
  using State = T;
  using Element = T;
  using Final = T;
  const T* y;
  const T* dy;
  T* dx;

  __device__ State identity() const { return T(0); }
  __device__ Element load(int64_t i) const {
    if constexpr (Log)
      return dy[i];
    else
      return dy[i] * y[i];
  }
  __device__ State add(State s, T e) const { return s + e; }
  __device__ State combine(State a, State b) const { return a + b; }
  __device__ Final finish(State s) const { return s; }
  __device__ void emit(int64_t i, Final total) const {
    if constexpr (Log)
      dx[i] = dy[i] - exp_of(y[i]) * total;
    else
      dx[i] = y[i] * (dy[i] - total);
  }
};

template <typename T>
__device__ inline T shuffle_xor(T v, int mask, int width) {
  return __shfl_xor_sync(kFullMask, v, mask, width);
}
template <typename T>
__device__ inline MaxSum<T> shuffle_xor(const MaxSum<T>& v, int mask, int width) {
  return {shuffle_xor(v.max, mask, width), shuffle_xor(v.sum, mask, width)};
}

// ---- kernels -------------------------------------------------------------------------

/// Rows of `size` contiguous elements (x [rows, size]). Block (lanes, rows per block):
/// threadIdx.y picks the row, its `lanes` threads read it with stride lanes. lanes is a
/// power of two; past 32 a row has lanes / 32 whole warps.
template <typename P>
__global__ void softmax_rows_kernel(P p, int64_t rows, int64_t size) {
  using State = typename P::State;
  __shared__ State warp_states[kThreads / 32];
  const int lanes = blockDim.x, lane = threadIdx.x;
  // Uniform over the block (depends on blockIdx only), as the shuffles and barriers need.
  for (int64_t group = blockIdx.x; group * blockDim.y < rows; group += gridDim.x) {
    const int64_t row = group * blockDim.y + threadIdx.y;
    const bool valid = row < rows;
    const int64_t base = row * size;
    State s = p.identity();
    if (valid) {
      int64_t i = lane;
      for (; i + 3 * lanes < size; i += 4 * lanes) {  // four loads in flight
        const auto e0 = p.load(base + i), e1 = p.load(base + i + lanes);
        const auto e2 = p.load(base + i + 2 * lanes), e3 = p.load(base + i + 3 * lanes);
        s = p.add(s, e0);
        s = p.add(s, e1);
        s = p.add(s, e2);
        s = p.add(s, e3);
      }
      for (; i < size; i += lanes) s = p.add(s, p.load(base + i));
    }
    // A butterfly over the row's lanes of this warp: every lane ends with their state.
    const int width = lanes < 32 ? lanes : 32;
    for (int mask = width / 2; mask > 0; mask /= 2) s = p.combine(s, shuffle_xor(s, mask, width));
    if (lanes > 32) {  // uniform over the block
      const int warps = lanes / 32, first = threadIdx.y * warps;  // this row's warps
      __syncthreads();  // the previous iteration has read warp_states
      if (lane % 32 == 0) warp_states[first + lane / 32] = s;
      __syncthreads();
      s = warp_states[first];
      for (int w = 1; w < warps; ++w) s = p.combine(s, warp_states[first + w]);
    }
    if (valid) {
      const auto f = p.finish(s);
      for (int64_t i = lane; i < size; i += lanes) p.emit(base + i, f);
    }
  }
}

/// Rows along a dim with `inner` elements after it (x [outer, size, inner]): block
/// (width, height), threadIdx.x along inner in tiles of width, threadIdx.y splitting
/// the row's `size` positions; the column's states are combined in shared memory.
template <typename P>
__global__ void softmax_columns_kernel(P p, int64_t outer, int64_t size, int64_t inner) {
  using State = typename P::State;
  __shared__ State shared[kThreads];
  const int tx = threadIdx.x, ty = threadIdx.y, width = blockDim.x, height = blockDim.y;
  const int64_t tiles = (inner + width - 1) / width;
  for (int64_t unit = blockIdx.x; unit < outer * tiles; unit += gridDim.x) {
    const int64_t o = unit / tiles, j = (unit - o * tiles) * width + tx;
    const bool valid = j < inner;
    const int64_t base = o * size * inner + j;
    State s = p.identity();
    if (valid) {
      int64_t i = ty;
      for (; i + 3 * height < size; i += 4 * height) {
        const auto e0 = p.load(base + i * inner), e1 = p.load(base + (i + height) * inner);
        const auto e2 = p.load(base + (i + 2 * height) * inner), e3 = p.load(base + (i + 3 * height) * inner);
        s = p.add(s, e0);
        s = p.add(s, e1);
        s = p.add(s, e2);
        s = p.add(s, e3);
      }
      for (; i < size; i += height) s = p.add(s, p.load(base + i * inner));
    }
    shared[ty * width + tx] = s;
    __syncthreads();
    for (int half = height / 2; half > 0; half /= 2) {  // height is a power of two
      if (ty < half) shared[ty * width + tx] = p.combine(shared[ty * width + tx], shared[(ty + half) * width + tx]);
      __syncthreads();
    }
    s = shared[tx];
    if (valid) {
      const auto f = p.finish(s);
      for (int64_t i = ty; i < size; i += height) p.emit(base + i * inner, f);
    }
    __syncthreads();  // shared is overwritten by the next unit
  }
}

/// (outer, size, inner) around `dim` (checked by kernels::, which names the op).
DimSplit row_layout(const Tensor& x, int64_t dim, const char* op) {
  return split_at_dim(x.shape(), normalize_dim(dim, x.dim(), op));
}

/// Blocks that keep every SM busy (4 resident blocks of kThreads each).
int64_t target_blocks() {
  int device = 0, count = 0;
  FOCUS_CUDA_CHECK(cudaGetDevice(&device));
  FOCUS_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return 4 * static_cast<int64_t>(count);
}

/// Runs policy p over every row of the layout.
template <typename P>
void run_rows(const P& p, const DimSplit& l) {
  if (l.inner == 1) {
    // Up to a warp per row; wider (up to a block) when the rows are too few to fill
    // the GPU and each lane still gets 8 elements.
    const int64_t target = target_blocks();
    int lanes = pow2_at_least(l.size, 32);
    while (lanes < kThreads && lanes * 8 <= l.size && ceil_div(l.outer, kThreads / lanes) < target) lanes *= 2;
    const dim3 block(lanes, kThreads / lanes);
    softmax_rows_kernel<P><<<grid_for(ceil_div(l.outer, block.y)), block, 0, stream()>>>(p, l.outer, l.size);
    FOCUS_CUDA_CHECK_LAUNCH("softmax_rows_kernel");
  } else {
    // As many columns as there are (up to a block), rows of the block for the rest,
    // but no more than the row's length.
    const int height = std::min(kThreads / pow2_at_least(l.inner, 32), pow2_at_least(l.size, kThreads));
    const int width = std::min(kThreads / height, pow2_at_least(l.inner, kThreads));
    const dim3 block(width, height);
    softmax_columns_kernel<P><<<grid_for(l.outer * ceil_div(l.inner, width)), block, 0, stream()>>>(p, l.outer, l.size,
                                                                                                   l.inner);
    FOCUS_CUDA_CHECK_LAUNCH("softmax_columns_kernel");
  }
}

/// t itself when contiguous, else a contiguous copy (on the GPU).
Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : kernels::contiguous_copy(t); }

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log, const char* op) {
  const DimSplit layout = row_layout(x, dim, op);
  const Tensor input = dense(x);
  Tensor out = empty(x.shape(), TensorOptions(x.dtype()).with_device(x.device()));
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out.numel() == 0) return;
    const T* in = input.data<T>();
    if (log)
      run_rows(SoftmaxForward<T, true>{in, out.data<T>()}, layout);
    else
      run_rows(SoftmaxForward<T, false>{in, out.data<T>()}, layout);
  });
  return out;
}

Tensor softmax_backward_impl(const Tensor& y, const Tensor& dy, int64_t dim, bool log, const char* op) {
  const DimSplit layout = row_layout(y, dim, op);
  const Tensor yc = dense(y), gc = dense(dy);
  Tensor dx = empty(y.shape(), TensorOptions(y.dtype()).with_device(y.device()));
  dispatch_floating(y.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (dx.numel() == 0) return;
    if (log)
      run_rows(SoftmaxBackward<T, true>{yc.data<T>(), gc.data<T>(), dx.data<T>()}, layout);
    else
      run_rows(SoftmaxBackward<T, false>{yc.data<T>(), gc.data<T>(), dx.data<T>()}, layout);
  });
  return dx;
}

}  // namespace

// kernels:: (tensor/cpu/softmax.cpp) has checked dim, shapes, dtypes and devices.

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, /*log=*/false, "softmax"); }

Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, /*log=*/true, "log_softmax"); }

Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim) {
  return softmax_backward_impl(y, dy, dim, /*log=*/false, "softmax_backward");
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim) {
  return softmax_backward_impl(y, dy, dim, /*log=*/true, "log_softmax_backward");
}

}  // namespace focus::cuda
