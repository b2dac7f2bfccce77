// Layer normalisation and its backward pass on the GPU, as tensor/cpu/layer_norm.cpp.
//
// x is viewed as [rows, D]. A row is handled by a warp (D ≤ kWarpRowLimit; a block
// holds kRowsPerBlock rows) or by a whole block (longer rows). Row statistics are
// accumulated in double in two passes (mean, then Σ(x − mean)²), and the mean enters the
// float arithmetic as high + low parts, exactly as the CPU does (see SplitMean there),
// so both devices agree to rounding.
//
// The weight and bias gradients are sums over rows: blocks of (32 columns × a chunk of
// rows) write partial sums in double, and a second kernel adds the chunks per column.
#include <algorithm>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/group_reduce.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

constexpr int64_t kWarpRowLimit = 1024;  // rows up to this length get a warp each
constexpr int kRowsPerBlock = kThreads / 32;

Tensor dense(const Tensor& t) { return !t.defined() || t.is_contiguous() ? t : contiguous_copy(t); }

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.data_ptr()) : nullptr;
}

/// The row mean as T high + low parts: (x − high) − low keeps the double mean's accuracy.
template <typename T>
struct SplitMean {
  T high, low;
  __device__ explicit SplitMean(double mean)
      : high(static_cast<T>(mean)), low(static_cast<T>(mean - static_cast<double>(static_cast<T>(mean)))) {}
  __device__ T centre(T x) const { return (x - high) - low; }
};

/// The rows a thread's group works on: with kGroup = 32, warp threadIdx.y of each block; otherwise the block.
template <int kGroup>
struct RowLoop {
  __device__ static int64_t first() {
    return kGroup == 32 ? blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y : blockIdx.x;
  }
  __device__ static int64_t step() { return kGroup == 32 ? static_cast<int64_t>(gridDim.x) * blockDim.y : gridDim.x; }
};

/// Σ x over one row, in double.
template <typename T, int kGroup>
__device__ double row_mean(const T* xr, int64_t D, double* shared) {
  double sum = 0;
  for (int64_t j = threadIdx.x; j < D; j += kGroup) sum += static_cast<double>(xr[j]);
  return group_sum<kGroup>(sum, shared) / static_cast<double>(D);
}

// y = (x − mean)·rstd·w + b per row of x [rows, D]; writes mean (as T) and rstd [rows].
template <typename T, int kGroup>
__global__ void layer_norm_kernel(const T* x, const T* weight, const T* bias, T* y, T* mean_out, T* rstd_out,
                                  int64_t rows, int64_t D, double eps) {
  __shared__ double shared[kGroup / 32];
  for (int64_t r = RowLoop<kGroup>::first(); r < rows; r += RowLoop<kGroup>::step()) {
    const T* xr = x + r * D;
    const double mean = row_mean<T, kGroup>(xr, D, shared);
    double squares = 0;
    for (int64_t j = threadIdx.x; j < D; j += kGroup) {
      const double d = static_cast<double>(xr[j]) - mean;
      squares += d * d;
    }
    const double var = group_sum<kGroup>(squares, shared) / static_cast<double>(D);
    const SplitMean<T> m(mean);
    const T s = static_cast<T>(1.0 / ::sqrt(var + eps));
    if (threadIdx.x == 0) {
      mean_out[r] = m.high;
      rstd_out[r] = s;
    }
    T* yr = y + r * D;
    for (int64_t j = threadIdx.x; j < D; j += kGroup) {
      T v = m.centre(xr[j]) * s;
      if (weight) v = v * weight[j];
      if (bias) v = v + bias[j];
      yr[j] = v;
    }
  }
}

// Per row: the double mean (for the parameter gradients) and, when dx is defined,
//   g = dy·γ;  dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),  x̂ = (x − mean)·rstd.
template <typename T, int kGroup>
__global__ void layer_norm_input_grad_kernel(const T* dy, const T* x, const T* rstd, const T* weight, T* dx,
                                             double* mean_out, int64_t rows, int64_t D) {
  __shared__ double shared[kGroup / 32];
  for (int64_t r = RowLoop<kGroup>::first(); r < rows; r += RowLoop<kGroup>::step()) {
    const T* xr = x + r * D;
    const double mean = row_mean<T, kGroup>(xr, D, shared);
    if (mean_out && threadIdx.x == 0) mean_out[r] = mean;
    if (!dx) continue;
    const T* gr = dy + r * D;
    const SplitMean<T> m(mean);
    const T s = rstd[r];
    double sum_g = 0, sum_g_xhat = 0;
    for (int64_t j = threadIdx.x; j < D; j += kGroup) {
      const T g = weight ? gr[j] * weight[j] : gr[j];
      const T xhat = m.centre(xr[j]) * s;
      sum_g += static_cast<double>(g);
      sum_g_xhat += static_cast<double>(g) * static_cast<double>(xhat);
    }
    const T a = static_cast<T>(group_sum<kGroup>(sum_g, shared) / static_cast<double>(D));
    const T b = static_cast<T>(group_sum<kGroup>(sum_g_xhat, shared) / static_cast<double>(D));
    T* dr = dx + r * D;
    for (int64_t j = threadIdx.x; j < D; j += kGroup) {
      const T g = weight ? gr[j] * weight[j] : gr[j];
      const T xhat = m.centre(xr[j]) * s;
      dr[j] = s * (g - a - xhat * b);
    }
  }
}

constexpr int kColumnRows = 8;  // threadIdx.y of the parameter-gradient blocks

// partial_w[chunk, j] = Σ dy·x̂ and partial_b[chunk, j] = Σ dy over the chunk's rows, for
// column j = 32·blockIdx.x + threadIdx.x; chunk = blockIdx.y (rows_per_chunk rows each).
template <typename T>
__global__ void layer_norm_param_grads_kernel(const T* dy, const T* x, const double* mean, const T* rstd,
                                              double* partial_w, double* partial_b, int64_t rows, int64_t D,
                                              int64_t rows_per_chunk) {
  __shared__ double shared_w[kColumnRows][33], shared_b[kColumnRows][33];  // 33: no bank conflicts
  const int64_t j = blockIdx.x * 32 + threadIdx.x;
  const int64_t begin = blockIdx.y * rows_per_chunk, end = ::min(rows, begin + rows_per_chunk);
  double acc_w = 0, acc_b = 0;
  if (j < D) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kColumnRows) {
      const SplitMean<T> m(mean[r]);
      const T g = dy[r * D + j];
      const T xhat = m.centre(x[r * D + j]) * rstd[r];
      acc_w += static_cast<double>(g) * static_cast<double>(xhat);
      acc_b += static_cast<double>(g);
    }
  }
  shared_w[threadIdx.y][threadIdx.x] = acc_w;
  shared_b[threadIdx.y][threadIdx.x] = acc_b;
  __syncthreads();
  if (threadIdx.y == 0 && j < D) {
    for (int k = 1; k < kColumnRows; ++k) {
      acc_w += shared_w[k][threadIdx.x];
      acc_b += shared_b[k][threadIdx.x];
    }
    if (partial_w) partial_w[blockIdx.y * D + j] = acc_w;
    if (partial_b) partial_b[blockIdx.y * D + j] = acc_b;
  }
}

// out[j] = Σ_chunk partial[chunk, j]
template <typename T>
__global__ void sum_chunks_kernel(const double* partial, T* out, int64_t chunks, int64_t D) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < D;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[c * D + j];
    out[j] = static_cast<T>(total);
  }
}

/// Blocks for the row kernels: rows / kRowsPerBlock (warp rows) or rows (block rows), capped.
unsigned row_blocks(int64_t rows, bool warp_rows) {
  return warp_rows ? blocks_for(rows, kRowsPerBlock) : blocks_for(rows, 1);
}

}  // namespace

kernels::LayerNormForward layer_norm(const Tensor& x, int64_t normalized_numel, const Tensor& weight,
                                     const Tensor& bias, double eps) {
  const int64_t D = normalized_numel;
  const int64_t rows = x.numel() / D;
  const TensorOptions options = TensorOptions(x.dtype()).with_device(x.device());
  const Tensor input = dense(x), w = dense(weight), b = dense(bias);
  kernels::LayerNormForward out{empty(x.shape(), options), empty({rows}, options), empty({rows}, options)};
  if (rows == 0) return out;
  const bool warp_rows = D <= kWarpRowLimit;
  dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(input.data_ptr());
    T* py = static_cast<T*>(out.output.data_ptr());
    T* pmean = static_cast<T*>(out.mean.data_ptr());
    T* prstd = static_cast<T*>(out.rstd.data_ptr());
    if (warp_rows)
      layer_norm_kernel<T, 32><<<row_blocks(rows, true), dim3(32, kRowsPerBlock), 0, stream()>>>(
          px, data_or_null<T>(w), data_or_null<T>(b), py, pmean, prstd, rows, D, eps);
    else
      layer_norm_kernel<T, kThreads><<<row_blocks(rows, false), kThreads, 0, stream()>>>(
          px, data_or_null<T>(w), data_or_null<T>(b), py, pmean, prstd, rows, D, eps);
    FOCUS_CUDA_CHECK_LAUNCH("layer_norm_kernel");
  });
  return out;
}

kernels::LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& rstd, const Tensor& weight,
                                            bool need_input, bool need_weight, bool need_bias) {
  const int64_t rows = rstd.numel();
  const int64_t D = rows == 0 ? 0 : x.numel() / rows;
  const TensorOptions options = TensorOptions(x.dtype()).with_device(x.device());
  const Tensor g = dense(dy), input = dense(x), w = dense(weight), s = dense(rstd);
  kernels::LayerNormGrads grads;
  if (need_input) grads.input = empty(x.shape(), options);
  if (need_weight) grads.weight = zeros({D}, options);
  if (need_bias) grads.bias = zeros({D}, options);
  if (rows == 0 || D == 0 || !(need_input || need_weight || need_bias)) return grads;

  const bool need_params = need_weight || need_bias;
  // The double row means, for the parameter kernel (it recomputes x̂ as the CPU does).
  Tensor mean = need_params ? empty({rows}, TensorOptions(kFloat64).with_device(x.device())) : Tensor();
  const bool warp_rows = D <= kWarpRowLimit;
  dispatch_floating(x.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = static_cast<const T*>(g.data_ptr());
    const T* px = static_cast<const T*>(input.data_ptr());
    const T* ps = static_cast<const T*>(s.data_ptr());
    T* pdx = need_input ? static_cast<T*>(grads.input.data_ptr()) : nullptr;
    double* pmean = need_params ? static_cast<double*>(mean.data_ptr()) : nullptr;
    if (warp_rows)
      layer_norm_input_grad_kernel<T, 32><<<row_blocks(rows, true), dim3(32, kRowsPerBlock), 0, stream()>>>(
          pg, px, ps, data_or_null<T>(w), pdx, pmean, rows, D);
    else
      layer_norm_input_grad_kernel<T, kThreads>
          <<<row_blocks(rows, false), kThreads, 0, stream()>>>(pg, px, ps, data_or_null<T>(w), pdx, pmean, rows, D);
    FOCUS_CUDA_CHECK_LAUNCH("layer_norm_input_grad_kernel");
    if (!need_params) return;

    // Enough (column tile, row chunk) blocks to fill the GPU, each chunk at least 8 rows.
    const int64_t column_tiles = (D + 31) / 32;
    const int64_t wanted_chunks = std::max<int64_t>(1, 1024 / column_tiles);
    const int64_t rows_per_chunk = std::max<int64_t>(
        {kColumnRows, (rows + wanted_chunks - 1) / wanted_chunks, (rows + 65534) / 65535});  // grid.y ≤ 65535
    const int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
    const TensorOptions partial_options = TensorOptions(kFloat64).with_device(x.device());
    Tensor partial_w = need_weight ? empty({chunks, D}, partial_options) : Tensor();
    Tensor partial_b = need_bias ? empty({chunks, D}, partial_options) : Tensor();
    double* pw = need_weight ? static_cast<double*>(partial_w.data_ptr()) : nullptr;
    double* pb = need_bias ? static_cast<double*>(partial_b.data_ptr()) : nullptr;
    layer_norm_param_grads_kernel<T>
        <<<dim3(static_cast<unsigned>(column_tiles), static_cast<unsigned>(chunks)), dim3(32, kColumnRows), 0,
           stream()>>>(pg, px, pmean, ps, pw, pb, rows, D, rows_per_chunk);
    FOCUS_CUDA_CHECK_LAUNCH("layer_norm_param_grads_kernel");
    if (need_weight) {
      sum_chunks_kernel<T>
          <<<blocks_for(D), kThreads, 0, stream()>>>(pw, static_cast<T*>(grads.weight.data_ptr()), chunks, D);
      FOCUS_CUDA_CHECK_LAUNCH("sum_chunks_kernel");
    }
    if (need_bias) {
      sum_chunks_kernel<T>
          <<<blocks_for(D), kThreads, 0, stream()>>>(pb, static_cast<T*>(grads.bias.data_ptr()), chunks, D);
      FOCUS_CUDA_CHECK_LAUNCH("sum_chunks_kernel");
    }
  });
  return grads;
}

}  // namespace focus::cuda
