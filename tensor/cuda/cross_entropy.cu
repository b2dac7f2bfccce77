// Softmax cross-entropy, fused, on the GPU, as tensor/cpu/cross_entropy.cpp (whose header
// derives the loss and its gradient). logits [N, C, d...] are viewed as (N, C, inner); a
// position is one (n, j), its classes `inner` apart.
//
// With inner = 1 (the usual [N, C]) a position's classes are a contiguous row: a warp
// (C ≤ kWarpRowLimit) or a block per row reduces it. With inner > 1 ([N, C, T]) one thread
// per position walks its classes: neighbouring threads are neighbouring positions, so the
// reads of one class are coalesced.
//
// Per position: max in T (NaN wins), Σ exp(z − max) accumulated in double, lse = max +
// log Σ in double. Targets that are neither a class nor ignore_index are never read
// through: their loss (or gradient) is NaN and the error is reported late (index_errors.cuh).
#include <cmath>
#include <limits>
#include <type_traits>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/group_reduce.cuh"
#include "tensor/cuda/index_errors.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

constexpr int64_t kWarpRowLimit = 1024;  // rows up to this many classes get a warp each
constexpr int kRowsPerBlock = kThreads / 32;

Tensor dense(const Tensor& t) { return !t.defined() || t.is_contiguous() ? t : contiguous_copy(t); }

template <typename T>
__device__ inline T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return ::expf(x);
  else
    return ::exp(x);
}

/// Everything a cross-entropy kernel reads and writes; the pointers of the other direction are null.
template <typename T>
struct CrossEntropyArgs {
  const T* logits;
  const int64_t* target;
  const T* weight;  // null: every class weighs 1
  int64_t positions, C, inner;
  int64_t ignore_index;
  double label_smoothing;
  IndexErrorSink sink;
  // forward
  T* loss;
  double* lse_out;
  // backward
  const T* dloss;
  const double* lse;
  const double* weight_total;  // Σ_c w_c, when weight and label smoothing are both given
  T* dlogits;
};

/// Threads per position, and which one this thread is: a row's group (kGroup 32 or a
/// block) or a single thread (kGroup = 1).
template <int kGroup>
__device__ inline int lane_in_group() {
  return kGroup == 1 ? 0 : static_cast<int>(threadIdx.x);
}

// loss[p] = (1 − ε)·w_t·(lse − z_t) + (ε/C)·Σ_c w_c·(lse − z_c), 0 if t = ignore_index;
// lse_out[p] = log Σ_c exp(z_c). zr: the position's class 0, classes `stride` apart.
template <typename T, int kGroup>
__device__ void forward_position(const CrossEntropyArgs<T>& a, int64_t p, const T* zr, int64_t stride, double* shared,
                                 T* shared_t) {
  const int lane = lane_in_group<kGroup>();
  const bool smoothing = a.label_smoothing > 0;
  T max = -std::numeric_limits<T>::infinity();
  for (int64_t c = lane; c < a.C; c += kGroup) max = nan_max(max, zr[c * stride]);
  max = group_max<kGroup>(max, shared_t);
  double sum_exp = 0, sum_wz = 0, sum_w = 0;  // Σ exp(z − max), Σ w_c·z_c, Σ w_c
  for (int64_t c = lane; c < a.C; c += kGroup) {
    const T z = zr[c * stride];
    sum_exp += static_cast<double>(exp_of<T>(z - max));
    if (smoothing) {
      const double w = a.weight ? static_cast<double>(a.weight[c]) : 1.0;
      sum_wz += w * static_cast<double>(z);
      sum_w += w;
    }
  }
  sum_exp = group_sum<kGroup>(sum_exp, shared);
  if (smoothing) {
    sum_wz = group_sum<kGroup>(sum_wz, shared);
    sum_w = group_sum<kGroup>(sum_w, shared);
  }
  if (lane != 0) return;
  const double lse = static_cast<double>(max) + ::log(sum_exp);
  a.lse_out[p] = lse;
  const int64_t t = a.target[p];
  if (t == a.ignore_index) {
    a.loss[p] = T(0);
    return;
  }
  if (t < 0 || t >= a.C) {
    report_bad_index(a.sink, IndexOp::CrossEntropy, t, a.C, a.ignore_index);
    a.loss[p] = std::numeric_limits<T>::quiet_NaN();
    return;
  }
  const double eps = a.label_smoothing;
  const double w_t = a.weight ? static_cast<double>(a.weight[t]) : 1.0;
  double value = (1.0 - eps) * w_t * (lse - static_cast<double>(zr[t * stride]));
  // Σ_c w_c·(lse − z_c) = lse·Σw − Σw·z
  if (smoothing) value += eps / static_cast<double>(a.C) * (lse * sum_w - sum_wz);
  a.loss[p] = static_cast<T>(value);
}

// dz_c = g·((1 − ε)·w_t + ε·W/C)·p_c − g·(ε/C)·w_c − g·(1 − ε)·w_t·[c = t], 0 where t is ignored,
// with p_c = exp(z_c − lse) and lse as T high + low parts (as on the CPU).
template <typename T, int kGroup>
__device__ void backward_position(const CrossEntropyArgs<T>& a, int64_t p, const T* zr, T* dr, int64_t stride) {
  const int lane = lane_in_group<kGroup>();
  const int64_t t = a.target[p];
  if (t == a.ignore_index || t < 0 || t >= a.C) {
    const bool bad = t != a.ignore_index;
    if (bad && lane == 0) report_bad_index(a.sink, IndexOp::CrossEntropyBackward, t, a.C, a.ignore_index);
    const T fill = bad ? std::numeric_limits<T>::quiet_NaN() : T(0);
    for (int64_t c = lane; c < a.C; c += kGroup) dr[c * stride] = fill;
    return;
  }
  const double eps = a.label_smoothing, smooth = eps / static_cast<double>(a.C);
  const double g = static_cast<double>(a.dloss[p]);
  const double w_t = a.weight ? static_cast<double>(a.weight[t]) : 1.0;
  const double weight_total = a.weight_total ? *a.weight_total : static_cast<double>(a.C);
  const T scale = static_cast<T>(g * ((1.0 - eps) * w_t + smooth * weight_total));
  const T lse_high = static_cast<T>(a.lse[p]);
  const T lse_low = static_cast<T>(a.lse[p] - static_cast<double>(lse_high));
  const T shift = static_cast<T>(g * smooth);
  const T target_term = static_cast<T>(g * (1.0 - eps) * w_t);
  for (int64_t c = lane; c < a.C; c += kGroup) {
    T d = scale * exp_of<T>((zr[c * stride] - lse_high) - lse_low);
    if (smooth > 0) d -= shift * (a.weight ? a.weight[c] : T(1));
    if (c == t) d -= target_term;
    dr[c * stride] = d;
  }
}

// inner = 1: position r is row r of logits [N, C]; a warp (kGroup 32, blockDim (32, 8)) or
// a block (kGroup = blockDim.x) per row.
template <typename T, int kGroup, bool kBackward>
__global__ void cross_entropy_rows_kernel(CrossEntropyArgs<T> a) {
  __shared__ double shared[kGroup / 32];
  __shared__ T shared_t[kGroup / 32];
  const int64_t first = kGroup == 32 ? blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y : blockIdx.x;
  const int64_t step = kGroup == 32 ? static_cast<int64_t>(gridDim.x) * blockDim.y : gridDim.x;
  for (int64_t r = first; r < a.positions; r += step) {
    if constexpr (kBackward)
      backward_position<T, kGroup>(a, r, a.logits + r * a.C, a.dlogits + r * a.C, 1);
    else
      forward_position<T, kGroup>(a, r, a.logits + r * a.C, 1, shared, shared_t);
  }
}

// inner > 1: one thread per position (n, j) of logits [N, C, inner].
template <typename T, bool kBackward>
__global__ void cross_entropy_positions_kernel(CrossEntropyArgs<T> a) {
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < a.positions;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = p / a.inner, j = p - n * a.inner;
    const int64_t base = n * a.C * a.inner + j;
    if constexpr (kBackward)
      backward_position<T, 1>(a, p, a.logits + base, a.dlogits + base, a.inner);
    else
      forward_position<T, 1>(a, p, a.logits + base, a.inner, nullptr, nullptr);
  }
}

// total = Σ_c weight[c], one block.
template <typename T>
__global__ void weight_total_kernel(const T* weight, int64_t C, double* total) {
  __shared__ double shared[kThreads / 32];
  double sum = 0;
  for (int64_t c = threadIdx.x; c < C; c += kThreads) sum += static_cast<double>(weight[c]);
  sum = group_sum<kThreads>(sum, shared);
  if (threadIdx.x == 0) *total = sum;
}

template <typename T, bool kBackward>
void launch(const CrossEntropyArgs<T>& a) {
  if (a.inner > 1) {
    cross_entropy_positions_kernel<T, kBackward><<<blocks_for(a.positions), kThreads, 0, stream()>>>(a);
  } else if (a.C <= kWarpRowLimit) {
    cross_entropy_rows_kernel<T, 32, kBackward>
        <<<blocks_for(a.positions, kRowsPerBlock), dim3(32, kRowsPerBlock), 0, stream()>>>(a);
  } else {
    cross_entropy_rows_kernel<T, kThreads, kBackward><<<blocks_for(a.positions, 1), kThreads, 0, stream()>>>(a);
  }
  FOCUS_CUDA_CHECK_LAUNCH("cross_entropy kernel");
}

}  // namespace

std::pair<Tensor, Tensor> softmax_cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                                int64_t ignore_index, double label_smoothing) {
  check_index_errors();
  const DimSplit split = split_at_dim(logits.shape(), 1);  // [N, C, d...] as (N, C, inner)
  const int64_t C = split.size, inner = split.inner;
  const Tensor z = dense(logits), t = dense(target), w = dense(weight);
  Tensor loss = empty(target.shape(), TensorOptions(logits.dtype()).with_device(logits.device()));
  Tensor lse = empty(target.shape(), TensorOptions(kFloat64).with_device(logits.device()));
  const int64_t positions = target.numel();
  if (positions == 0) return {loss, lse};
  if (C == 0)
    throw std::invalid_argument("cross_entropy: logits of shape " + shape_str(logits.shape()) + " have no classes");
  const IndexErrorSink sink = index_error_sink();
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    CrossEntropyArgs<T> a{};
    a.logits = static_cast<const T*>(z.data_ptr());
    a.target = static_cast<const int64_t*>(t.data_ptr());
    a.weight = w.defined() ? static_cast<const T*>(w.data_ptr()) : nullptr;
    a.positions = positions;
    a.C = C;
    a.inner = inner;
    a.ignore_index = ignore_index;
    a.label_smoothing = label_smoothing;
    a.sink = sink;
    a.loss = static_cast<T*>(loss.data_ptr());
    a.lse_out = static_cast<double*>(lse.data_ptr());
    launch<T, false>(a);
  });
  return {loss, lse};
}

Tensor softmax_cross_entropy_backward(const Tensor& dloss, const Tensor& logits, const Tensor& target,
                                      const Tensor& weight, const Tensor& logsumexp, int64_t ignore_index,
                                      double label_smoothing) {
  check_index_errors();
  const DimSplit split = split_at_dim(logits.shape(), 1);  // [N, C, d...] as (N, C, inner)
  const int64_t C = split.size, inner = split.inner;
  const Tensor z = dense(logits), t = dense(target), w = dense(weight), g = dense(dloss), lse = dense(logsumexp);
  Tensor dz = empty(logits.shape(), TensorOptions(logits.dtype()).with_device(logits.device()));
  if (dz.numel() == 0) return dz;
  const IndexErrorSink sink = index_error_sink();
  const bool need_weight_total = w.defined() && label_smoothing > 0;
  Tensor weight_total = need_weight_total ? empty({1}, TensorOptions(kFloat64).with_device(logits.device())) : Tensor();
  dispatch_floating(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    CrossEntropyArgs<T> a{};
    a.logits = static_cast<const T*>(z.data_ptr());
    a.target = static_cast<const int64_t*>(t.data_ptr());
    a.weight = w.defined() ? static_cast<const T*>(w.data_ptr()) : nullptr;
    a.positions = target.numel();
    a.C = C;
    a.inner = inner;
    a.ignore_index = ignore_index;
    a.label_smoothing = label_smoothing;
    a.sink = sink;
    a.dloss = static_cast<const T*>(g.data_ptr());
    a.lse = static_cast<const double*>(lse.data_ptr());
    a.dlogits = static_cast<T*>(dz.data_ptr());
    if (need_weight_total) {
      a.weight_total = static_cast<const double*>(weight_total.data_ptr());
      weight_total_kernel<T><<<1, kThreads, 0, stream()>>>(a.weight, C, static_cast<double*>(weight_total.data_ptr()));
      FOCUS_CUDA_CHECK_LAUNCH("weight_total_kernel");
    }
    launch<T, true>(a);
  });
  return dz;
}

}  // namespace focus::cuda
