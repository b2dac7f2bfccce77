// Batch normalisation over dim 1 of [N, C, *] on the GPU, as tensor/cpu/batch_norm.cpp.
// The input is viewed as [N, C, inner]: channel c's M = N·inner values lie in N runs of
// `inner` contiguous elements.
//
// Per-channel sums (the statistics, and Σdy, Σdy·(x − mean) for the backward) take two
// kernels: blocks write partial sums in double, and one warp per channel adds its
// partials. The blocks see the data in one of two ways, whichever reads it coalesced:
//   planes (inner ≥ 32): block (c, chunk) adds a chunk of channel c's runs, cut into
//     equal segments of at most kSegment, one warp per segment;
//   columns (inner < 32, e.g. [N, C]): the input as [N, C·inner] rows, a block adds 32
//     columns over a chunk of rows (the column k belongs to channel k / inner).
// The statistics are one pass of shifted sums: with K = the channel's first value,
// Σ(x − K) and Σ(x − K)² in double give var = (Σ(x−K)² − (Σ(x−K))²/M)/M. The subtraction
// cancels Σ(x−K)² = M·(var + (mean − K)²) down to M·var, and since K is one of the values,
// (mean − K)² ≤ M·var: the relative error stays below (M + 1)·2⁻⁵³, far under float32's
// rounding for any channel that fits in memory (a single pass, unlike the CPU's two).
#include <algorithm>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/group_reduce.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

constexpr int64_t kSegment = 1024;       // longest piece of a run one warp adds (a multiple of 32)
constexpr int kColumnRows = 8;           // threadIdx.y of the column blocks
constexpr int64_t kWantedBlocks = 1024;  // enough partial-sum blocks to fill an H100 several times

Tensor dense(const Tensor& t) { return !t.defined() || t.is_contiguous() ? t : contiguous_copy(t); }

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.data_ptr()) : nullptr;
}

struct ChannelLayout {
  int64_t N, C, inner;
  int64_t per_channel() const { return N * inner; }
};

ChannelLayout layout_of(const Tensor& input) {
  const DimSplit split = split_at_dim(input.shape(), 1);  // [N, C, *] as (N, C, inner)
  return {split.outer, split.size, split.inner};
}

/// What is summed per channel: {Σ(x − K), Σ(x − K)²} with K the channel's first value
/// (statistics), or {Σdy, Σdy·(x − mean)} (backward).
template <typename T, bool kGrad>
struct ChannelTerms {
  const T* x;
  const T* dy;
  const T* mean;
  int64_t inner;
  __device__ double shift(int64_t c) const {
    return kGrad ? static_cast<double>(mean[c]) : static_cast<double>(x[c * inner]);
  }
  __device__ void add(int64_t e, double shift, double& s1, double& s2) const {
    const double v = static_cast<double>(x[e]) - shift;
    if constexpr (kGrad) {
      const double g = static_cast<double>(dy[e]);
      s1 += g;
      s2 += g * v;
    } else {
      s1 += v;
      s2 += v * v;
    }
  }
};

// partial[chunk, c] = the two sums over the units blockIdx.y·units_per_chunk.. of channel
// c = blockIdx.x, a unit being segment k of run n (unit = n·segments + k).
template <typename T, bool kGrad>
__global__ void channel_sums_planes_kernel(ChannelTerms<T, kGrad> terms, int64_t N, int64_t C, int64_t segment,
                                           int64_t segments, int64_t units_per_chunk, double* partial) {
  __shared__ double shared[kThreads / 32];
  const int64_t c = blockIdx.x, inner = terms.inner;
  const double shift = terms.shift(c);
  const int64_t units = N * segments;
  const int64_t begin = blockIdx.y * units_per_chunk, end = ::min(units, begin + units_per_chunk);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  double s1 = 0, s2 = 0;
  for (int64_t u = begin + warp; u < end; u += kThreads / 32) {
    const int64_t n = u / segments, k = u - n * segments;
    const int64_t run = (n * C + c) * inner;
    const int64_t stop = ::min(inner, (k + 1) * segment);
    for (int64_t i = k * segment + lane; i < stop; i += 32) terms.add(run + i, shift, s1, s2);
  }
  s1 = group_sum<kThreads>(s1, shared);
  s2 = group_sum<kThreads>(s2, shared);
  if (threadIdx.x == 0) {
    const int64_t at = blockIdx.y * C + c;
    partial[2 * at] = s1;
    partial[2 * at + 1] = s2;
  }
}

// partial[chunk, k] = the two sums down column k = 32·blockIdx.x + threadIdx.x of the input
// as [N, C·inner], over rows blockIdx.y·rows_per_chunk..; column k belongs to channel k / inner.
template <typename T, bool kGrad>
__global__ void channel_sums_columns_kernel(ChannelTerms<T, kGrad> terms, int64_t N, int64_t C, int64_t rows_per_chunk,
                                            double* partial) {
  __shared__ double shared1[kColumnRows][33], shared2[kColumnRows][33];  // 33: no bank conflicts
  const int64_t K = C * terms.inner;
  const int64_t k = blockIdx.x * 32 + threadIdx.x;
  const int64_t begin = blockIdx.y * rows_per_chunk, end = ::min(N, begin + rows_per_chunk);
  double s1 = 0, s2 = 0;
  if (k < K) {
    const double shift = terms.shift(k / terms.inner);
    for (int64_t n = begin + threadIdx.y; n < end; n += kColumnRows) terms.add(n * K + k, shift, s1, s2);
  }
  shared1[threadIdx.y][threadIdx.x] = s1;
  shared2[threadIdx.y][threadIdx.x] = s2;
  __syncthreads();
  if (threadIdx.y == 0 && k < K) {
    for (int r = 1; r < kColumnRows; ++r) {
      s1 += shared1[r][threadIdx.x];
      s2 += shared2[r][threadIdx.x];
    }
    const int64_t at = blockIdx.y * K + k;
    partial[2 * at] = s1;
    partial[2 * at + 1] = s2;
  }
}

/// Where the partial sums of one reduction lie: [chunks, C·inner_p] pairs, channel c owning
/// columns c·inner_p.. (inner_p = inner for the columns kernel, 1 for the planes kernel).
struct Partials {
  const double* data = nullptr;  // null: nothing was summed, the totals are 0
  int64_t chunks = 0, inner_p = 1, C = 0;
};

/// The channel's two totals, for every lane of the calling warp.
__device__ inline double2 channel_totals(const Partials& p, int64_t c) {
  double s1 = 0, s2 = 0;
  if (p.data) {
    const int64_t entries = p.chunks * p.inner_p, width = p.C * p.inner_p;
    for (int64_t j = threadIdx.x; j < entries; j += 32) {
      const int64_t chunk = j / p.inner_p, i = j - chunk * p.inner_p;
      const int64_t at = chunk * width + c * p.inner_p + i;
      s1 += p.data[2 * at];
      s2 += p.data[2 * at + 1];
    }
  }
  return make_double2(warp_sum(s1), warp_sum(s2));
}

// mean[c], var[c] (biased) from the shifted sums; a warp per channel.
template <typename T>
__global__ void stats_finalize_kernel(Partials p, const T* x, int64_t inner, double count, T* mean, T* var) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y; c < p.C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const double2 t = channel_totals(p, c);
    if (threadIdx.x == 0) {
      const double d = t.x / count;  // mean − K
      mean[c] = static_cast<T>(static_cast<double>(x[c * inner]) + d);
      var[c] = static_cast<T>(::fmax(0.0, (t.y - t.x * d) / count));
    }
  }
}

// From Σdy and Σdy·(x − mean) per channel: dweight = Σdy·x̂, dbias = Σdy, and the dx
// coefficients coef = [k | a | b] [3, C] of dx = k·dy + a·(x − mean) + b (as the CPU folds them):
//   batch statistics: dx = γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M);  fixed statistics: dx = γ·invstd·dy.
template <typename T>
__global__ void grad_finalize_kernel(Partials p, const T* invstd, const T* weight, double count, bool batch_stats,
                                     T* dweight, T* dbias, T* coef) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y; c < p.C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const double2 t = channel_totals(p, c);
    if (threadIdx.x != 0) continue;
    const double s = static_cast<double>(invstd[c]);
    const double sum_dy = t.x, sum_dy_xhat = t.y * s;
    if (dweight) dweight[c] = static_cast<T>(sum_dy_xhat);
    if (dbias) dbias[c] = static_cast<T>(sum_dy);
    if (coef) {
      const double gamma = weight ? static_cast<double>(weight[c]) : 1.0;
      const double scale = gamma * s;
      coef[c] = static_cast<T>(scale);
      coef[p.C + c] = batch_stats ? static_cast<T>(-scale * s * sum_dy_xhat / count) : T(0);
      coef[2 * p.C + c] = batch_stats ? static_cast<T>(-scale * sum_dy / count) : T(0);
    }
  }
}

// ---- elementwise per-channel kernels ------------------------------------------------------------

// y = (x − mean)·(invstd·γ) + β
template <typename T>
struct Normalize {
  const T *x, *mean, *invstd, *weight, *bias;
  T* y;
  __device__ void operator()(int64_t e, int64_t c) const {
    const T scale = weight ? invstd[c] * weight[c] : invstd[c];
    const T shift = bias ? bias[c] : T(0);
    y[e] = (x[e] - mean[c]) * scale + shift;
  }
};

// dx = k·dy + a·(x − mean) + b with coef = [k | a | b]
template <typename T>
struct InputGrad {
  const T *x, *dy, *mean, *coef;
  T* dx;
  int64_t C;
  __device__ void operator()(int64_t e, int64_t c) const {
    dx[e] = coef[c] * dy[e] + coef[C + c] * (x[e] - mean[c]) + coef[2 * C + c];
  }
};

// op(e, c) over [N, C, inner]: blockIdx.y walks the runs (n, c), x threads walk a run.
template <typename Op>
__global__ void per_channel_runs_kernel(Op op, int64_t runs, int64_t C, int64_t inner) {
  for (int64_t run = blockIdx.y; run < runs; run += gridDim.y) {
    const int64_t c = run % C, base = run * inner;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < inner;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
      op(base + i, c);
  }
}

// The same for short runs: one thread per element.
template <typename Op>
__global__ void per_channel_flat_kernel(Op op, int64_t total, int64_t C, int64_t inner) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    op(e, (e / inner) % C);
}

template <typename Op>
void for_each_element(const ChannelLayout& layout, Op op) {
  const int64_t runs = layout.N * layout.C, total = runs * layout.inner;
  if (total == 0) return;
  if (layout.inner >= kThreads) {
    const dim3 grid(std::min<unsigned>(blocks_for(layout.inner), 64),
                    static_cast<unsigned>(std::min<int64_t>(runs, 65535)));
    per_channel_runs_kernel<Op><<<grid, kThreads, 0, stream()>>>(op, runs, layout.C, layout.inner);
  } else {
    per_channel_flat_kernel<Op><<<blocks_for(total), kThreads, 0, stream()>>>(op, total, layout.C, layout.inner);
  }
  FOCUS_CUDA_CHECK_LAUNCH("batch_norm elementwise");
}

// ---- the per-channel reduction, launched --------------------------------------------------------

/// Sums `terms` per channel into partial sums (returned with the buffer that holds them).
template <typename T, bool kGrad>
Partials channel_sums(const ChannelTerms<T, kGrad>& terms, const ChannelLayout& layout, Device device, Tensor& buffer) {
  const TensorOptions options = TensorOptions(kFloat64).with_device(device);
  Partials p;
  p.C = layout.C;
  if (layout.inner >= 32) {
    // Runs cut into equal segments of at most kSegment, rounded up to whole warps.
    const int64_t segments = (layout.inner + kSegment - 1) / kSegment;
    const int64_t segment = ((layout.inner + segments - 1) / segments + 31) / 32 * 32;
    const int64_t units = layout.N * segments;
    const int64_t wanted =
        std::clamp<int64_t>((kWantedBlocks + layout.C - 1) / layout.C, 1, std::min<int64_t>((units + 7) / 8, 65535));
    const int64_t units_per_chunk = (units + wanted - 1) / wanted;
    p.chunks = (units + units_per_chunk - 1) / units_per_chunk;
    p.inner_p = 1;
    buffer = empty({p.chunks, layout.C, 2}, options);
    channel_sums_planes_kernel<T, kGrad>
        <<<dim3(static_cast<unsigned>(layout.C), static_cast<unsigned>(p.chunks)), kThreads, 0, stream()>>>(
            terms, layout.N, layout.C, segment, segments, units_per_chunk, static_cast<double*>(buffer.data_ptr()));
    FOCUS_CUDA_CHECK_LAUNCH("channel_sums_planes_kernel");
  } else {
    const int64_t K = layout.C * layout.inner;
    const int64_t column_tiles = (K + 31) / 32;
    const int64_t wanted = std::max<int64_t>(1, kWantedBlocks / column_tiles);
    const int64_t rows_per_chunk =
        std::max<int64_t>({32, (layout.N + wanted - 1) / wanted, (layout.N + 65534) / 65535});
    p.chunks = (layout.N + rows_per_chunk - 1) / rows_per_chunk;
    p.inner_p = layout.inner;
    buffer = empty({p.chunks, K, 2}, options);
    channel_sums_columns_kernel<T, kGrad>
        <<<dim3(static_cast<unsigned>(column_tiles), static_cast<unsigned>(p.chunks)), dim3(32, kColumnRows), 0,
           stream()>>>(terms, layout.N, layout.C, rows_per_chunk, static_cast<double*>(buffer.data_ptr()));
    FOCUS_CUDA_CHECK_LAUNCH("channel_sums_columns_kernel");
  }
  p.data = static_cast<const double*>(buffer.data_ptr());
  return p;
}

/// Blocks of (32, 8) threads for the finalize kernels: a warp per channel.
unsigned channel_warp_blocks(int64_t C) { return blocks_for(C, 8); }

}  // namespace

std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input) {
  const ChannelLayout layout = layout_of(input);
  const Tensor x = dense(input);
  const TensorOptions options = TensorOptions(input.dtype()).with_device(input.device());
  Tensor mean = empty({layout.C}, options), var = empty({layout.C}, options);
  if (layout.C == 0) return {mean, var};
  dispatch_floating(input.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    Tensor buffer;
    const Partials p =
        channel_sums(ChannelTerms<T, false>{px, nullptr, nullptr, layout.inner}, layout, input.device(), buffer);
    stats_finalize_kernel<T><<<channel_warp_blocks(layout.C), dim3(32, 8), 0, stream()>>>(
        p, px, layout.inner, static_cast<double>(layout.per_channel()), static_cast<T*>(mean.data_ptr()),
        static_cast<T*>(var.data_ptr()));
    FOCUS_CUDA_CHECK_LAUNCH("stats_finalize_kernel");
  });
  return {mean, var};
}

Tensor batch_norm_apply(const Tensor& input, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                        const Tensor& bias) {
  const ChannelLayout layout = layout_of(input);
  const Tensor x = dense(input), m = dense(mean), s = dense(invstd), w = dense(weight), b = dense(bias);
  Tensor y = empty(input.shape(), TensorOptions(input.dtype()).with_device(input.device()));
  if (y.numel() == 0) return y;
  dispatch_floating(input.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_element(layout, Normalize<T>{static_cast<const T*>(x.data_ptr()), static_cast<const T*>(m.data_ptr()),
                                          static_cast<const T*>(s.data_ptr()), data_or_null<T>(w), data_or_null<T>(b),
                                          static_cast<T*>(y.data_ptr())});
  });
  return y;
}

kernels::BatchNormGrads batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& mean,
                                            const Tensor& invstd, const Tensor& weight, bool batch_stats,
                                            bool need_input, bool need_weight, bool need_bias) {
  const ChannelLayout layout = layout_of(input);
  const Tensor x = dense(input), dy = dense(grad_output), m = dense(mean), s = dense(invstd), w = dense(weight);
  const TensorOptions options = TensorOptions(input.dtype()).with_device(input.device());
  kernels::BatchNormGrads grads;
  if (need_input) grads.input = empty(input.shape(), options);
  if (need_weight) grads.weight = empty({layout.C}, options);
  if (need_bias) grads.bias = empty({layout.C}, options);
  if (!(need_input || need_weight || need_bias) || layout.C == 0) return grads;

  dispatch_floating(input.dtype(), "batch_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pdy = static_cast<const T*>(dy.data_ptr());
    const T* pm = static_cast<const T*>(m.data_ptr());
    // Σdy and Σdy·(x − mean) per channel: the gradients of β and γ, and what dx needs with batch statistics.
    const bool need_sums = need_weight || need_bias || (need_input && batch_stats);
    Tensor buffer;
    Partials p;
    p.C = layout.C;
    if (need_sums && layout.per_channel() > 0)
      p = channel_sums(ChannelTerms<T, true>{px, pdy, pm, layout.inner}, layout, input.device(), buffer);
    Tensor coef = need_input ? empty({3, layout.C}, options) : Tensor();
    grad_finalize_kernel<T><<<channel_warp_blocks(layout.C), dim3(32, 8), 0, stream()>>>(
        p, static_cast<const T*>(s.data_ptr()), data_or_null<T>(w), static_cast<double>(layout.per_channel()),
        batch_stats, need_weight ? static_cast<T*>(grads.weight.data_ptr()) : nullptr,
        need_bias ? static_cast<T*>(grads.bias.data_ptr()) : nullptr,
        need_input ? static_cast<T*>(coef.data_ptr()) : nullptr);
    FOCUS_CUDA_CHECK_LAUNCH("grad_finalize_kernel");
    if (!need_input) return;
    for_each_element(layout, InputGrad<T>{px, pdy, pm, static_cast<const T*>(coef.data_ptr()),
                                          static_cast<T*>(grads.input.data_ptr()), layout.C});
  });
  return grads;
}

}  // namespace focus::cuda
