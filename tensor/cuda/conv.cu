// 2-D convolution over NCHW on the GPU: im2col into a workspace, then cuBLAS, with the
// geometry and semantics of tensor/cpu/conv.cpp (whose entry points have already
// checked shapes, dtypes and devices).
//
// For one image n and one group g, the convolution is a matrix product
//
//   y_ng [OCg, P] = W_g [OCg, K] @ col_ng [K, P],   K = Cg·KH·KW, P = OH·OW,
//
// where column (oh, ow) of col_ng holds the input values the kernel sees at that output
// position (zero in the padding). The images of a chunk are laid side by side in one
// workspace, col [C·KH·KW, images·P] (row (c, ki, kj), column (n, oh, ow)), so that
//  - forward: y_ng = W_g @ col_ng is one strided-batched GEMM over the images (col_ng
//    starts P columns after col_(n-1)g, W_g is shared: stride 0), written straight into
//    NCHW y, on top of the bias that was written there first (beta = 1);
//  - dW_g [OCg, K] = Σ_n dy_ng @ col_ngᵀ is ONE GEMM whose inner dim runs over all the
//    chunk's images·P columns: dyT_g [OCg, images·P] @ col_gᵀ, with dy first permuted to
//    dyT [OC, images, P] (a copy of dy, far cheaper than a GEMM per image);
//  - dx: dcol_ng [K, P] = W_gᵀ @ dy_ng (strided-batched again), then col2im adds every
//    entry of dcol back onto the pixel it was read from — as a gather, one thread per
//    input pixel summing the taps that read it, so no atomics are needed;
//  - db [OC] = Σ_{n, oh, ow} dy: a block reduction per (channel, slice of the batch),
//    then a sum of the slices.
// A 1×1 kernel with stride 1 and no padding needs no im2col in the forward and dx
// passes: the image [Cg, H·W] already is its column matrix.
//
// cuBLAS is column-major (blas.cuh): a row-major [rows, cols] matrix with row stride ld
// reads as its transpose. Each GEMM below says which row-major product it computes and
// the column-major one it passes.
//
// Chunks bound the workspace (kMaxWorkspaceBytes) and keep every index the im2col and
// col2im kernels compute inside 32 bits (fast integer division); the CIFAR-sized layers
// (N = 128, 3→32 on 32×32, 32→64 on 16×16) fit in one chunk.
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "tensor/cuda/blas.cuh"
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/group_reduce.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

using kernels::Conv2dParams;

constexpr int64_t kMaxWorkspaceBytes = int64_t{256} << 20;

// Everything about one convolution's shapes, derived once on the host.
struct Geometry {
  int64_t N, C, H, W;        // input
  int64_t OC, KH, KW;        // weight [OC, C / groups, KH, KW]
  int64_t OH, OW;            // output
  int64_t groups, Cg, OCg;   // channels per group, in and out
  int64_t K;                 // rows of a group's column matrix: Cg·KH·KW
  int64_t rows;              // rows of the whole column matrix: C·KH·KW = groups·K
  int64_t plane, out_plane;  // H·W and P = OH·OW
  int64_t images_per_chunk;
  bool pointwise;            // 1×1, stride 1, no padding: the image is its own column matrix
  Conv2dParams p;
};

Geometry make_geometry(const Tensor& input, const Tensor& weight, const Conv2dParams& p) {
  Geometry g;
  g.N = input.shape()[0], g.C = input.shape()[1], g.H = input.shape()[2], g.W = input.shape()[3];
  g.OC = weight.shape()[0], g.KH = weight.shape()[2], g.KW = weight.shape()[3];
  g.p = p;
  g.groups = p.groups;
  g.Cg = g.C / p.groups;
  g.OCg = g.OC / p.groups;
  g.K = g.Cg * g.KH * g.KW;
  g.rows = g.C * g.KH * g.KW;
  g.OH = (g.H + p.pad_top + p.pad_bottom - p.dilation_h * (g.KH - 1) - 1) / p.stride_h + 1;
  g.OW = (g.W + p.pad_left + p.pad_right - p.dilation_w * (g.KW - 1) - 1) / p.stride_w + 1;
  g.plane = g.H * g.W;
  g.out_plane = g.OH * g.OW;
  g.pointwise = g.KH == 1 && g.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
                p.pad_left == 0 && p.pad_bottom == 0 && p.pad_right == 0;

  // Images per chunk: a workspace within kMaxWorkspaceBytes, and the chunk's column
  // matrix, input and output each under 2^31 elements (the kernels index them in int).
  const int64_t element = element_size(input.dtype());
  const int64_t per_image = std::max({g.rows * g.out_plane, g.C * g.plane, g.OC * g.out_plane, int64_t{1}});
  const int64_t int_max = std::numeric_limits<int>::max();
  if (per_image > int_max)
    throw std::invalid_argument("conv2d: one image of shape [" + std::to_string(g.C) + ", " + std::to_string(g.H) +
                                ", " + std::to_string(g.W) + "] needs more than 2^31 elements of columns, input or "
                                "output, which the CUDA convolution does not support");
  int64_t per_chunk = std::max<int64_t>(1, kMaxWorkspaceBytes / (std::max<int64_t>(g.rows * g.out_plane, 1) * element));
  per_chunk = std::min(per_chunk, int_max / per_image);
  g.images_per_chunk = std::clamp<int64_t>(per_chunk, 1, std::max<int64_t>(g.N, 1));
  return g;
}

// What the im2col and col2im kernels need of one chunk, in 32-bit ints.
struct ChunkShape {
  int C, H, W, KH, KW, OH, OW;
  int stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
  int images;
};

ChunkShape chunk_shape(const Geometry& g, int64_t images) {
  const Conv2dParams& p = g.p;
  return {static_cast<int>(g.C),        static_cast<int>(g.H),          static_cast<int>(g.W),
          static_cast<int>(g.KH),       static_cast<int>(g.KW),         static_cast<int>(g.OH),
          static_cast<int>(g.OW),       static_cast<int>(p.stride_h),   static_cast<int>(p.stride_w),
          static_cast<int>(p.pad_top),  static_cast<int>(p.pad_left),   static_cast<int>(p.dilation_h),
          static_cast<int>(p.dilation_w), static_cast<int>(images)};
}

// col [C·KH·KW, images·P] ← x [images, C, H, W]: row (c, ki, kj), column (n, oh, ow) holds
// x[n, c, oh·sh − pt + ki·dh, ow·sw − pl + kj·dw], or 0 in the padding. One thread per
// (c, n, oh, ow) writes its KH·KW rows; neighbouring threads write neighbouring columns.
template <typename T>
__global__ void im2col_kernel(ChunkShape s, const T* __restrict__ x, T* __restrict__ col) {
  const int out_plane = s.OH * s.OW;
  const int ld = s.images * out_plane;
  const int64_t total = static_cast<int64_t>(s.C) * ld;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int t = static_cast<int>(i);
    const int ow = t % s.OW;
    t /= s.OW;
    const int oh = t % s.OH;
    t /= s.OH;
    const int n = t % s.images;
    const int c = t / s.images;
    const T* plane = x + (n * s.C + c) * s.H * s.W;
    T* out = col + c * s.KH * s.KW * ld + n * out_plane + oh * s.OW + ow;
    const int h0 = oh * s.stride_h - s.pad_top, w0 = ow * s.stride_w - s.pad_left;
    for (int ki = 0; ki < s.KH; ++ki) {
      const int h = h0 + ki * s.dilation_h;
      const bool row_inside = h >= 0 && h < s.H;
      for (int kj = 0; kj < s.KW; ++kj) {
        const int w = w0 + kj * s.dilation_w;
        *out = row_inside && w >= 0 && w < s.W ? plane[h * s.W + w] : T(0);
        out += ld;
      }
    }
  }
}

// dx [images, C, H, W] = col2im(dcol [C·KH·KW, images·P]), im2col's adjoint: each pixel sums
// the dcol entries of the taps (ki, kj) whose window position (oh, ow) read it.
template <typename T>
__global__ void col2im_kernel(ChunkShape s, const T* __restrict__ dcol, T* __restrict__ dx) {
  const int out_plane = s.OH * s.OW;
  const int ld = s.images * out_plane;
  const int64_t total = static_cast<int64_t>(s.images) * s.C * s.H * s.W;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int t = static_cast<int>(i);
    const int w = t % s.W;
    t /= s.W;
    const int h = t % s.H;
    t /= s.H;
    const int c = t % s.C;
    const int n = t / s.C;
    T sum = 0;
    for (int ki = 0; ki < s.KH; ++ki) {
      // h = oh·sh − pt + ki·dh for an output row oh in [0, OH)?
      const int th = h + s.pad_top - ki * s.dilation_h;
      if (th < 0 || th % s.stride_h != 0) continue;
      const int oh = th / s.stride_h;
      if (oh >= s.OH) continue;
      for (int kj = 0; kj < s.KW; ++kj) {
        const int tw = w + s.pad_left - kj * s.dilation_w;
        if (tw < 0 || tw % s.stride_w != 0) continue;
        const int ow = tw / s.stride_w;
        if (ow >= s.OW) continue;
        sum += dcol[((c * s.KH + ki) * s.KW + kj) * ld + n * out_plane + oh * s.OW + ow];
      }
    }
    dx[i] = sum;
  }
}

// y [planes = N·OC, P]: y[plane, i] = bias[plane % OC]. One block per plane (grid-stride).
template <typename T>
__global__ void fill_bias_kernel(int64_t planes, int64_t out_plane, int64_t channels, const T* __restrict__ bias,
                                 T* __restrict__ y) {
  for (int64_t plane = blockIdx.x; plane < planes; plane += gridDim.x) {
    const T b = bias[plane % channels];
    T* row = y + plane * out_plane;
    for (int64_t i = threadIdx.x; i < out_plane; i += blockDim.x) row[i] = b;
  }
}

constexpr int kReduceThreads = 256;

// partial [OC, splits]: partial[oc, s] = Σ_{n in slice s, i < P} dy[n, oc, i] for dy [N, OC, P],
// slice s being images [s·per_split, (s+1)·per_split). One block per (oc, s), in double.
template <typename T>
__global__ void bias_grad_partial_kernel(const T* __restrict__ dy, int64_t N, int64_t channels, int64_t out_plane,
                                         int64_t splits, int64_t per_split, double* __restrict__ partial) {
  __shared__ double shared[kReduceThreads / 32];
  const int64_t oc = blockIdx.x / splits, s = blockIdx.x % splits;
  const int64_t n_end = std::min(N, (s + 1) * per_split);
  double sum = 0;
  for (int64_t n = s * per_split; n < n_end; ++n) {
    const T* row = dy + (n * channels + oc) * out_plane;
    for (int64_t i = threadIdx.x; i < out_plane; i += blockDim.x) sum += static_cast<double>(row[i]);
  }
  sum = group_sum<kReduceThreads>(sum, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// db [OC] = Σ_s partial[oc, s].
template <typename T>
__global__ void bias_grad_finish_kernel(const double* __restrict__ partial, int64_t channels, int64_t splits,
                                        T* __restrict__ db) {
  for (int64_t oc = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; oc < channels;
       oc += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    double sum = 0;
    for (int64_t s = 0; s < splits; ++s) sum += partial[oc * splits + s];
    db[oc] = static_cast<T>(sum);
  }
}

template <typename T>
void im2col(const Geometry& g, int64_t images, const T* x, T* col) {
  const int64_t threads = g.C * images * g.out_plane;
  im2col_kernel<T><<<blocks_for(threads), kThreads, 0, stream()>>>(chunk_shape(g, images), x, col);
  FOCUS_CUDA_CHECK_LAUNCH("im2col_kernel");
}

template <typename T>
void col2im(const Geometry& g, int64_t images, const T* dcol, T* dx) {
  const int64_t threads = images * g.C * g.plane;
  col2im_kernel<T><<<blocks_for(threads), kThreads, 0, stream()>>>(chunk_shape(g, images), dcol, dx);
  FOCUS_CUDA_CHECK_LAUNCH("col2im_kernel");
}

// Threads per block for a loop over one row of `length` elements: whole warps, at most kThreads.
int threads_for_row(int64_t length) {
  return static_cast<int>(std::clamp<int64_t>((length + 31) / 32 * 32, 32, kThreads));
}

// How the per-(image, group) GEMMs of a chunk are issued: one call per group batched over
// the images, or, when there are more groups than images (depthwise convolutions of a
// small batch), one call per image batched over the groups.
struct BatchPlan {
  bool over_images;  // true: loop over groups, batch over images
  int64_t loops, count;
};
BatchPlan batch_plan(const Geometry& g, int64_t images) {
  return g.groups <= images ? BatchPlan{true, g.groups, images} : BatchPlan{false, images, g.groups};
}

// y = conv(x, w) + bias (bias may be null): x, w contiguous; y fresh [N, OC, OH, OW].
template <typename T>
void conv2d_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y, Device device) {
  const int64_t P = g.out_plane;
  if (bias) {
    const int64_t planes = g.N * g.OC;
    fill_bias_kernel<T><<<blocks_for(planes, 1), threads_for_row(P), 0, stream()>>>(planes, P, g.OC, bias, y);
    FOCUS_CUDA_CHECK_LAUNCH("fill_bias_kernel");
  }
  const T beta = bias ? T(1) : T(0);
  Tensor workspace;
  if (!g.pointwise)
    workspace = empty({g.rows * g.images_per_chunk * P}, TensorOptions(dtype_of<T>::value).with_device(device));
  T* col = workspace.defined() ? static_cast<T*>(workspace.data_ptr()) : nullptr;

  for (int64_t n0 = 0; n0 < g.N; n0 += g.images_per_chunk) {
    const int64_t images = std::min(g.images_per_chunk, g.N - n0);
    // The chunk's column matrix: its row stride, and the step from one image's columns to the next.
    const T* columns;
    int64_t ld, image_step;
    if (g.pointwise) {  // image n's [C, H·W]
      columns = x + n0 * g.C * g.plane;
      ld = g.plane;
      image_step = g.C * g.plane;
    } else {
      im2col<T>(g, images, x + n0 * g.C * g.plane, col);
      columns = col;
      ld = images * P;
      image_step = P;
    }
    T* y0 = y + n0 * g.OC * P;
    // Row-major y_ng [OCg, P] = W_g [OCg, K] @ col_ng [K, P (ld)]; column-major:
    // y_ngᵀ (P × OCg, ldc P) = col_ngᵀ (P × K, lda ld: col as stored, N) · W_gᵀ (K × OCg, ldb K: W as stored, N).
    const BatchPlan plan = batch_plan(g, images);
    for (int64_t l = 0; l < plan.loops; ++l) {
      if (plan.over_images)  // l = group; batch entries = images
        gemm_batched<T>(CUBLAS_OP_N, CUBLAS_OP_N, P, g.OCg, g.K, T(1), columns + l * g.K * ld, ld, image_step,
                        w + l * g.OCg * g.K, g.K, 0, beta, y0 + l * g.OCg * P, P, g.OC * P, plan.count, "conv2d");
      else  // l = image; batch entries = groups
        gemm_batched<T>(CUBLAS_OP_N, CUBLAS_OP_N, P, g.OCg, g.K, T(1), columns + l * image_step, ld, g.K * ld, w, g.K,
                        g.OCg * g.K, beta, y0 + l * g.OC * P, P, g.OCg * P, plan.count, "conv2d");
    }
  }
}

// db [OC] = Σ_{n, oh, ow} dy[n, oc, oh, ow], dy contiguous.
template <typename T>
void bias_gradient(const Geometry& g, const T* dy, T* db, Device device) {
  // Enough blocks to fill the GPU (~4 per SM on an H100) even with few channels.
  const int64_t splits = std::clamp<int64_t>((512 + g.OC - 1) / g.OC, 1, g.N);
  const int64_t per_split = (g.N + splits - 1) / splits;
  Tensor partial = empty({g.OC * splits}, TensorOptions(kFloat64).with_device(device));
  double* partial_sums = static_cast<double*>(partial.data_ptr());
  bias_grad_partial_kernel<T><<<static_cast<unsigned>(g.OC * splits), kReduceThreads, 0, stream()>>>(
      dy, g.N, g.OC, g.out_plane, splits, per_split, partial_sums);
  FOCUS_CUDA_CHECK_LAUNCH("bias_grad_partial_kernel");
  bias_grad_finish_kernel<T><<<blocks_for(g.OC), kThreads, 0, stream()>>>(partial_sums, g.OC, splits, db);
  FOCUS_CUDA_CHECK_LAUNCH("bias_grad_finish_kernel");
}

// dx, dw, db (each may be null; dw and db fresh zeros) from dy, x, w (contiguous Tensors).
template <typename T>
void conv2d_backward_impl(const Geometry& g, const Tensor& dy_t, const Tensor& x_t, const Tensor& w_t, T* dx, T* dw,
                          T* db) {
  const Device device = dy_t.device();
  const T* dy = static_cast<const T*>(dy_t.data_ptr());
  const T* x = static_cast<const T*>(x_t.data_ptr());
  const T* w = static_cast<const T*>(w_t.data_ptr());
  const int64_t P = g.out_plane;
  if (db) bias_gradient<T>(g, dy, db, device);
  if (!dx && !dw) return;

  // The chunk's im2col for dW, then reused for dcol once dW has consumed it (one stream: in order).
  Tensor workspace;
  if (dw || !g.pointwise)
    workspace = empty({g.rows * g.images_per_chunk * P}, TensorOptions(dtype_of<T>::value).with_device(device));
  T* col = workspace.defined() ? static_cast<T*>(workspace.data_ptr()) : nullptr;

  for (int64_t n0 = 0; n0 < g.N; n0 += g.images_per_chunk) {
    const int64_t images = std::min(g.images_per_chunk, g.N - n0);
    const int64_t ld = images * P;  // row stride of the chunk's column matrices
    const T* dy0 = dy + n0 * g.OC * P;
    if (dw) {
      im2col<T>(g, images, x + n0 * g.C * g.plane, col);
      // dyT [OC, images, P] ← dy [images, OC, P] of the chunk.
      Tensor dy_T = empty({g.OC, images, g.OH, g.OW}, TensorOptions(dy_t.dtype()).with_device(device));
      cuda::copy(dy_T, views::permute(views::slice(dy_t, 0, n0, n0 + images, 1), {1, 0, 2, 3}));
      // Row-major dW_g [OCg, K] (+)= dyT_g [OCg, ld] @ col_gᵀ [ld, K]; column-major:
      // dW_gᵀ (K × OCg, ldc K) = col_g (K × ld: col as stored is col_gᵀ, so T, lda ld) · dyT_gᵀ (ld × OCg:
      // dyT as stored, N, ldb ld). Batched over the groups; the chunks add up (beta = 1 after the first).
      gemm_batched<T>(CUBLAS_OP_T, CUBLAS_OP_N, g.K, g.OCg, ld, T(1), col, ld, g.K * ld,
                      static_cast<const T*>(dy_T.data_ptr()), ld, g.OCg * ld, n0 == 0 ? T(0) : T(1), dw, g.K,
                      g.OCg * g.K, g.groups, "conv2d_backward");
    }
    if (dx) {
      // dcol_ng [K, P] = W_gᵀ [K, OCg] @ dy_ng [OCg, P], written into dx itself when pointwise.
      T* target = g.pointwise ? dx + n0 * g.C * g.plane : col;
      const int64_t target_ld = g.pointwise ? g.plane : ld;
      const int64_t target_step = g.pointwise ? g.C * g.plane : P;  // from one image's matrix to the next
      // Column-major: dcol_ngᵀ (P × K, ldc target_ld) = dy_ngᵀ (P × OCg: dy as stored, N, lda P) ·
      // W_g (OCg × K: W as stored is W_gᵀ, so T, ldb K).
      const BatchPlan plan = batch_plan(g, images);
      for (int64_t l = 0; l < plan.loops; ++l) {
        if (plan.over_images)  // l = group; batch entries = images
          gemm_batched<T>(CUBLAS_OP_N, CUBLAS_OP_T, P, g.K, g.OCg, T(1), dy0 + l * g.OCg * P, P, g.OC * P,
                          w + l * g.OCg * g.K, g.K, 0, T(0), target + l * g.K * target_ld, target_ld, target_step,
                          plan.count, "conv2d_backward");
        else  // l = image; batch entries = groups
          gemm_batched<T>(CUBLAS_OP_N, CUBLAS_OP_T, P, g.K, g.OCg, T(1), dy0 + l * g.OC * P, P, g.OCg * P, w, g.K,
                          g.OCg * g.K, T(0), target + l * target_step, target_ld, g.K * target_ld, plan.count,
                          "conv2d_backward");
      }
      if (!g.pointwise) col2im<T>(g, images, col, dx + n0 * g.C * g.plane);
    }
  }
}

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : kernels::contiguous_copy(t); }

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& params) {
  const Geometry g = make_geometry(input, weight, params);
  const Tensor x = dense(input), w = dense(weight);
  const Tensor b = bias.defined() ? dense(bias) : bias;
  Tensor y = empty({g.N, g.OC, g.OH, g.OW}, TensorOptions(input.dtype()).with_device(input.device()));
  if (y.numel() == 0) return y;
  dispatch_floating(input.dtype(), "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    conv2d_forward<T>(g, static_cast<const T*>(x.data_ptr()), static_cast<const T*>(w.data_ptr()),
                      b.defined() ? static_cast<const T*>(b.data_ptr()) : nullptr, static_cast<T*>(y.data_ptr()),
                      input.device());
  });
  return y;
}

kernels::Conv2dGrads conv2d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                     const Conv2dParams& params, bool need_input, bool need_weight, bool need_bias) {
  const Geometry g = make_geometry(input, weight, params);
  const TensorOptions options = TensorOptions(input.dtype()).with_device(input.device());
  kernels::Conv2dGrads grads;
  // Fresh device memory is zero-filled: an empty batch gives zero gradients.
  if (need_input) grads.input = empty(input.shape(), options);
  if (need_weight) grads.weight = empty(weight.shape(), options);
  if (need_bias) grads.bias = empty({g.OC}, options);
  if (grad_output.numel() == 0 || !(need_input || need_weight || need_bias)) return grads;
  const Tensor dy = dense(grad_output), x = dense(input), w = dense(weight);
  dispatch_floating(input.dtype(), "conv2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto pointer = [](const Tensor& t) { return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr; };
    conv2d_backward_impl<T>(g, dy, x, w, pointer(grads.input), pointer(grads.weight), pointer(grads.bias));
  });
  return grads;
}

}  // namespace focus::cuda
