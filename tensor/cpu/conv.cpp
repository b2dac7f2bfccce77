// 2-D convolution over NCHW: the kernels' entry points, their checks, and the
// im2col + OpenBLAS path that serves every floating dtype. Float32 on CPUs with
// AVX2 goes through conv_packed.cpp instead, which is about twice as fast (it
// never writes the column matrix to memory, see there); this file's path stays
// for float64 (gradcheck) and other CPUs, and for dx of strided convolutions.
//
// For one image and one group, the convolution is a matrix product:
//
//   y_g [OCg, OH·OW] = W_g [OCg, K] @ col [K, OH·OW],   K = Cg·KH·KW,
//
// where column (oh, ow) of `col` holds the Cg·KH·KW input values the kernel
// sees at that output position (zero where it reaches into the padding). The
// backward pass is the same product transposed:
//
//   dW_g [OCg, K]      += dy_g [OCg, OH·OW] @ colᵀ [OH·OW, K]
//   dcol [K, OH·OW]     = W_gᵀ [K, OCg] @ dy_g [OCg, OH·OW],  dx = col2im(dcol)
//
// where col2im is im2col's adjoint: it adds every entry of dcol back onto the
// input pixel it was copied from.
//
// Work division. A small image makes a small, inefficient GEMM (16×16 gives
// OH·OW = 256 columns), so `images_per_chunk` images are put side by side in one
// column matrix [K, b·OH·OW] and multiplied at once; the result [OCg, b·OH·OW]
// is then scattered to NCHW (adding the bias on the way). Chunks are bounded
// (kMaxColumnBytes) so the column buffer stays in cache and memory stays
// bounded for any batch. Chunks are shared among threads: each thread builds
// its own columns and calls single-threaded BLAS (OpenBLAS's OpenMP build runs
// one thread inside a parallel region), so nothing synchronises per GEMM. When
// there are fewer chunks than threads (batch 1), chunks run one by one and
// BLAS threads each product instead.
//
// A 1×1 kernel with stride 1 and no padding needs no im2col: the input image
// [Cg, H·W] already is the column matrix.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "tensor/cpu/blas.h"
#include "tensor/cpu/conv_internal.h"
#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {
// Column buffers beyond this are split into more chunks: a few MiB keeps the
// columns that GEMM reads in L2/L3 right after im2col wrote them.
constexpr int64_t kMaxColumnBytes = int64_t{2} << 20;
// Columns per GEMM below which images are batched together, if memory allows.
constexpr int64_t kTargetColumns = 2048;

}  // namespace

namespace conv_detail {

ConvGeometry make_geometry(const Shape& input, const Shape& weight, const Conv2dParams& p, int64_t element_size) {
  ConvGeometry g;
  g.N = input[0], g.C = input[1], g.H = input[2], g.W = input[3];
  g.OC = weight[0], g.KH = weight[2], g.KW = weight[3];
  g.p = p;
  g.groups = p.groups;
  g.Cg = g.C / p.groups;
  g.OCg = g.OC / p.groups;
  g.K = g.Cg * g.KH * g.KW;
  g.OH = (g.H + p.pad_top + p.pad_bottom - p.dilation_h * (g.KH - 1) - 1) / p.stride_h + 1;
  g.OW = (g.W + p.pad_left + p.pad_right - p.dilation_w * (g.KW - 1) - 1) / p.stride_w + 1;
  g.plane = g.H * g.W;
  g.out_plane = g.OH * g.OW;
  g.pointwise = g.KH == 1 && g.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
                p.pad_left == 0 && p.pad_bottom == 0 && p.pad_right == 0;

  // Images per chunk: enough columns for an efficient GEMM, few enough bytes to stay in cache.
  const int64_t macs = g.N * g.OC * g.out_plane * g.K;
  const int threads = omp_in_parallel() || macs < kParallelMacs ? 1 : omp_get_max_threads();
  int64_t per_chunk = 1;
  if (!g.pointwise && g.N > 0 && g.out_plane > 0) {
    const int64_t column_bytes = std::max<int64_t>(g.K, g.OCg) * g.out_plane * element_size;
    const int64_t fit = std::max<int64_t>(1, kMaxColumnBytes / column_bytes);
    per_chunk = std::clamp<int64_t>(kTargetColumns / g.out_plane, 1, fit);
  }
  per_chunk = std::min(per_chunk, std::max<int64_t>(g.N, 1));
  int64_t chunks = ceil_div(g.N, per_chunk);
  // Every thread gets the same number of chunks (then the chunks are evened out).
  if (threads > 1 && g.N >= threads) {
    chunks = ceil_div(chunks, threads) * threads;
    per_chunk = ceil_div(g.N, chunks);
    chunks = ceil_div(g.N, per_chunk);
  }
  g.images_per_chunk = per_chunk;
  g.chunks = chunks;
  g.parallel_chunks = threads > 1 && chunks >= threads;
  return g;
}

}  // namespace conv_detail

namespace {

using namespace conv_detail;
using cpu::blas_gemm;

// Runs body(chunk) for every chunk: spread over threads (each calling
// single-threaded BLAS) or one after another (BLAS threads each product).
template <typename Body>
void for_each_chunk(const ConvGeometry& g, Body&& body) {
  if (g.parallel_chunks) {
    parallel_for(0, g.chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t chunk = begin; chunk < end; ++chunk) body(chunk);
    });
  } else {
    for (int64_t chunk = 0; chunk < g.chunks; ++chunk) body(chunk);
  }
}

// The outputs [lo, hi) whose input index o·stride + offset lies inside [0, size); lo <= hi.
std::pair<int64_t, int64_t> valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out_size) {
  const int64_t lo = offset >= 0 ? 0 : ceil_div(-offset, stride);
  const int64_t hi = offset >= size ? 0 : ceil_div(size - offset, stride);
  const int64_t begin = std::min(lo, out_size);
  return {begin, std::clamp<int64_t>(hi, begin, out_size)};
}

// col [K, ·] (row stride ld) ← the group's channels of one image, x_group [Cg, H, W].
// Row (c, ki, kj), column oh·OW + ow holds x[c, oh·sh − pt + ki·dh, ow·sw − pl + kj·dw], or 0 in the padding.
template <typename T>
void im2col(const ConvGeometry& g, const T* x_group, T* col, int64_t ld) {
  const Conv2dParams& p = g.p;
  for (int64_t c = 0; c < g.Cg; ++c) {
    const T* plane = x_group + c * g.plane;
    for (int64_t ki = 0; ki < g.KH; ++ki) {
      const int64_t row_offset = ki * p.dilation_h - p.pad_top;
      const auto [oh_lo, oh_hi] = valid_range(row_offset, p.stride_h, g.H, g.OH);
      for (int64_t kj = 0; kj < g.KW; ++kj) {
        const int64_t col_offset = kj * p.dilation_w - p.pad_left;
        const auto [ow_lo, ow_hi] = valid_range(col_offset, p.stride_w, g.W, g.OW);
        T* out = col + ((c * g.KH + ki) * g.KW + kj) * ld;
        std::fill(out, out + oh_lo * g.OW, T(0));
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          T* dst = out + oh * g.OW;
          const T* src = plane + (oh * p.stride_h + row_offset) * g.W + col_offset;
          std::fill(dst, dst + ow_lo, T(0));
          if (p.stride_w == 1) {
            std::memcpy(dst + ow_lo, src + ow_lo, sizeof(T) * static_cast<size_t>(ow_hi - ow_lo));
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] = src[ow * p.stride_w];
          }
          std::fill(dst + ow_hi, dst + g.OW, T(0));
        }
        std::fill(out + oh_hi * g.OW, out + g.out_plane, T(0));
      }
    }
  }
}

// im2col's adjoint: dx_group [Cg, H, W] += every entry of dcol [K, ·] at the pixel im2col read it from.
template <typename T>
void col2im(const ConvGeometry& g, const T* dcol, int64_t ld, T* dx_group) {
  const Conv2dParams& p = g.p;
  for (int64_t c = 0; c < g.Cg; ++c) {
    T* plane = dx_group + c * g.plane;
    for (int64_t ki = 0; ki < g.KH; ++ki) {
      const int64_t row_offset = ki * p.dilation_h - p.pad_top;
      const auto [oh_lo, oh_hi] = valid_range(row_offset, p.stride_h, g.H, g.OH);
      for (int64_t kj = 0; kj < g.KW; ++kj) {
        const int64_t col_offset = kj * p.dilation_w - p.pad_left;
        const auto [ow_lo, ow_hi] = valid_range(col_offset, p.stride_w, g.W, g.OW);
        const T* in = dcol + ((c * g.KH + ki) * g.KW + kj) * ld;
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          const T* src = in + oh * g.OW;
          T* dst = plane + (oh * p.stride_h + row_offset) * g.W + col_offset;
          if (p.stride_w == 1) {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] += src[ow];
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow * p.stride_w] += src[ow];
          }
        }
      }
    }
  }
}

template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  for_each_chunk(g, [&](int64_t chunk) {
    const int64_t n0 = g.chunk_begin(chunk), images = g.chunk_end(chunk) - n0;
    const int64_t columns = images * g.out_plane;
    // One image writes its product straight into y; several go through `result` first.
    Scratch<T> col = g.pointwise ? nullptr : scratch<T>(g.K * columns);
    Scratch<T> result = images > 1 ? scratch<T>(g.OCg * columns) : nullptr;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* columns_matrix = col.get();
      if (g.pointwise) {
        columns_matrix = x + (n0 * g.C + grp * g.Cg) * g.plane;
      } else {
        for (int64_t j = 0; j < images; ++j)
          im2col(g, x + ((n0 + j) * g.C + grp * g.Cg) * g.plane, col.get() + j * g.out_plane, columns);
      }
      T* out = images > 1 ? result.get() : y + (n0 * g.OC + grp * g.OCg) * g.out_plane;
      // y_g [OCg, columns] = W_g [OCg, K] @ col [K, columns]
      blas_gemm(CblasNoTrans, CblasNoTrans, g.OCg, columns, g.K, T(1), w + grp * g.OCg * g.K, g.K, columns_matrix,
                columns, T(0), out, columns);
      // Scatter [OCg, images·OH·OW] to NCHW, adding the bias on the way.
      for (int64_t j = 0; j < images; ++j) {
        for (int64_t oc = 0; oc < g.OCg; ++oc) {
          T* dst = y + ((n0 + j) * g.OC + grp * g.OCg + oc) * g.out_plane;
          const T* src = out + oc * columns + j * g.out_plane;
          const T b = bias ? bias[grp * g.OCg + oc] : T(0);
          if (src == dst) {
            if (bias)
              for (int64_t i = 0; i < g.out_plane; ++i) dst[i] += b;
          } else {
            for (int64_t i = 0; i < g.out_plane; ++i) dst[i] = src[i] + b;
          }
        }
      }
    }
  });
}

template <typename T>
void conv2d_backward_impl(const ConvGeometry& g, const T* dy, const T* x, const T* w, T* dx, T* dw, T* db) {
  // dW and db are sums over the batch: each thread sums its chunks into its own
  // copy, and the copies are added up at the end.
  const int slots = g.parallel_chunks ? omp_get_max_threads() : 1;
  const int64_t weight_size = g.OC * g.K;
  std::vector<std::unique_ptr<T[]>> dw_partial(slots), db_partial(slots);

  for_each_chunk(g, [&](int64_t chunk) {
    const int slot = g.parallel_chunks ? omp_get_thread_num() : 0;
    if (dw && !dw_partial[slot]) dw_partial[slot] = std::make_unique<T[]>(static_cast<size_t>(weight_size));
    if (db && !db_partial[slot]) db_partial[slot] = std::make_unique<T[]>(static_cast<size_t>(g.OC));
    const int64_t n0 = g.chunk_begin(chunk), images = g.chunk_end(chunk) - n0;
    const int64_t columns = images * g.out_plane;
    // dy_g gathered to [OCg, images·OH·OW] (a plain pointer into dy for one image).
    Scratch<T> dy_columns = images > 1 ? scratch<T>(g.OCg * columns) : nullptr;
    // The chunk's im2col, then reused for dcol once dW has consumed it.
    Scratch<T> col = g.pointwise ? nullptr : scratch<T>(g.K * columns);

    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* dy_g = dy + (n0 * g.OC + grp * g.OCg) * g.out_plane;
      if (images > 1) {
        for (int64_t j = 0; j < images; ++j)
          for (int64_t oc = 0; oc < g.OCg; ++oc)
            std::memcpy(dy_columns.get() + oc * columns + j * g.out_plane,
                        dy + ((n0 + j) * g.OC + grp * g.OCg + oc) * g.out_plane,
                        sizeof(T) * static_cast<size_t>(g.out_plane));
        dy_g = dy_columns.get();
      }
      if (db) {  // db[oc] = Σ_{n, oh, ow} dy[n, oc, oh, ow]
        T* acc = db_partial[slot].get() + grp * g.OCg;
        for (int64_t oc = 0; oc < g.OCg; ++oc) {
          T s = 0;
          for (int64_t i = 0; i < columns; ++i) s += dy_g[oc * columns + i];
          acc[oc] += s;
        }
      }
      if (dw) {  // dW_g [OCg, K] += dy_g [OCg, columns] @ colᵀ [columns, K]
        const T* columns_matrix = col.get();
        if (g.pointwise) {
          columns_matrix = x + (n0 * g.C + grp * g.Cg) * g.plane;
        } else {
          for (int64_t j = 0; j < images; ++j)
            im2col(g, x + ((n0 + j) * g.C + grp * g.Cg) * g.plane, col.get() + j * g.out_plane, columns);
        }
        blas_gemm(CblasNoTrans, CblasTrans, g.OCg, g.K, columns, T(1), dy_g, columns, columns_matrix, columns, T(1),
                  dw_partial[slot].get() + grp * g.OCg * g.K, g.K);
      }
      if (dx) {  // dcol [K, columns] = W_gᵀ [K, OCg] @ dy_g [OCg, columns], then dx += col2im(dcol)
        const T* w_g = w + grp * g.OCg * g.K;
        if (g.pointwise) {  // dcol is dx itself
          blas_gemm(CblasTrans, CblasNoTrans, g.K, columns, g.OCg, T(1), w_g, g.K, dy_g, columns, T(0),
                    dx + (n0 * g.C + grp * g.Cg) * g.plane, columns);
        } else {
          blas_gemm(CblasTrans, CblasNoTrans, g.K, columns, g.OCg, T(1), w_g, g.K, dy_g, columns, T(0), col.get(),
                    columns);
          for (int64_t j = 0; j < images; ++j)
            col2im(g, col.get() + j * g.out_plane, columns, dx + ((n0 + j) * g.C + grp * g.Cg) * g.plane);
        }
      }
    }
  });

  for (int s = 0; s < slots; ++s) {
    if (dw && dw_partial[s])
      for (int64_t i = 0; i < weight_size; ++i) dw[i] += dw_partial[s][i];
    if (db && db_partial[s])
      for (int64_t i = 0; i < g.OC; ++i) db[i] += db_partial[s][i];
  }
}

// Checks shapes and dtypes; returns the geometry.
ConvGeometry check_conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                          const char* op) {
  check_defined(input, op);
  check_defined(weight, op);
  if (input.dim() != 4)
    throw std::invalid_argument(
        fmt::format("{}: expected a 4-D input [N, C, H, W], got shape {}", op, shape_str(input.shape())));
  if (weight.dim() != 4)
    throw std::invalid_argument(fmt::format("{}: expected a 4-D weight [C_out, C_in / groups, kH, kW], got shape {}",
                                            op, shape_str(weight.shape())));
  if (!is_floating(input.dtype()) || input.dtype() != weight.dtype())
    throw std::invalid_argument(
        fmt::format("{}: expected float32 or float64 input and weight of one dtype, got {} and {}", op,
                    dtype_name(input.dtype()), dtype_name(weight.dtype())));
  if (p.groups < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1 || p.pad_top < 0 ||
      p.pad_left < 0 || p.pad_bottom < 0 || p.pad_right < 0)
    throw std::invalid_argument(fmt::format(
        "{}: stride, dilation and groups must be positive and padding non-negative, got stride ({}, {}), "
        "padding ({}, {}, {}, {}), dilation ({}, {}), groups {}",
        op, p.stride_h, p.stride_w, p.pad_top, p.pad_bottom, p.pad_left, p.pad_right, p.dilation_h, p.dilation_w,
        p.groups));
  const Shape& in = input.shape();
  const Shape& wt = weight.shape();
  if (wt[0] % p.groups != 0 || in[1] % p.groups != 0 || in[1] / p.groups != wt[1])
    throw std::invalid_argument(
        fmt::format("{}: input of shape {} and weight of shape {} do not match: expected weight [C_out, {} / {} "
                    "groups, kH, kW] with C_out divisible by the groups",
                    op, shape_str(in), shape_str(wt), in[1], p.groups));
  if (wt[1] == 0 || wt[2] == 0 || wt[3] == 0)
    throw std::invalid_argument(fmt::format("{}: weight of shape {} is empty: every convolution needs at least one "
                                            "input channel and a kernel of at least 1x1",
                                            op, shape_str(wt)));
  if (bias.defined()) {
    if (bias.dim() != 1 || bias.shape()[0] != wt[0] || bias.dtype() != weight.dtype())
      throw std::invalid_argument(fmt::format("{}: expected a {} bias of shape [{}], got {} of shape {}", op,
                                              dtype_name(weight.dtype()), wt[0], dtype_name(bias.dtype()),
                                              shape_str(bias.shape())));
  }
  ConvGeometry g = make_geometry(in, wt, p, element_size(input.dtype()));
  if (g.OH <= 0 || g.OW <= 0)
    throw std::invalid_argument(fmt::format(
        "{}: input of shape {} (padded to {}x{}) is smaller than the kernel of shape {} with dilation ({}, {})", op,
        shape_str(in), g.H + p.pad_top + p.pad_bottom, g.W + p.pad_left + p.pad_right, shape_str(wt), p.dilation_h,
        p.dilation_w));
  return g;
}

Tensor contiguous_input(const Tensor& t) { return t.is_contiguous() ? t : contiguous_copy(t); }

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& params) {
  const ConvGeometry g = check_conv2d(input, weight, bias, params, "conv2d");
  FOCUS_DISPATCH(common_device("conv2d", input, weight, bias), conv2d(input, weight, bias, params));
  Tensor x = contiguous_input(input), w = contiguous_input(weight);
  Tensor b = bias.defined() ? contiguous_input(bias) : bias;
  Tensor y = empty_for_overwrite({g.N, g.OC, g.OH, g.OW}, TensorOptions(input.dtype()));
  if (y.numel() == 0) return y;
  if (input.dtype() == kFloat32 && packed_available()) {
    packed_forward(g, x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr, y.data<float>());
    return y;
  }
  cpu::dispatch_floating(input.dtype(), "conv2d", [&]<typename T>() {
    conv2d_forward<T>(g, x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, y.data<T>());
  });
  return y;
}

Conv2dGrads conv2d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                            const Conv2dParams& params, bool need_input, bool need_weight, bool need_bias) {
  const ConvGeometry g = check_conv2d(input, weight, Tensor(), params, "conv2d_backward");
  const Shape out_shape{g.N, g.OC, g.OH, g.OW};
  check_defined(grad_output, "conv2d_backward");
  if (grad_output.shape() != out_shape || grad_output.dtype() != input.dtype())
    throw std::invalid_argument(fmt::format("conv2d_backward: expected a {} gradient of shape {}, got {} of shape {}",
                                            dtype_name(input.dtype()), shape_str(out_shape),
                                            dtype_name(grad_output.dtype()), shape_str(grad_output.shape())));
  FOCUS_DISPATCH(common_device("conv2d_backward", grad_output, input, weight),
                      conv2d_backward(grad_output, input, weight, params, need_input, need_weight, need_bias));
  Tensor dy = contiguous_input(grad_output), x = contiguous_input(input), w = contiguous_input(weight);
  const TensorOptions options(input.dtype());
  Conv2dGrads grads;
  // The weight and bias gradients are accumulated into, so they start from zero. The input
  // gradient is written whole by the packed path; where that does not apply, im2col + BLAS
  // accumulates into it and it is cleared first (below).
  if (need_input) grads.input = empty_for_overwrite(input.shape(), options);
  if (need_weight) grads.weight = zeros(weight.shape(), options);
  if (need_bias) grads.bias = zeros({g.OC}, options);
  if (dy.numel() == 0 && need_input) fill(grads.input, 0.0);
  if (dy.numel() == 0 || !(need_input || need_weight || need_bias)) return grads;
  // The packed path where it applies; whatever is left goes through im2col + BLAS.
  bool input_done = !need_input, params_done = !need_weight && !need_bias;
  if (input.dtype() == kFloat32 && packed_available()) {
    if (need_input)
      input_done = packed_input_gradient(g, dy.data<float>(), w.data<float>(), grads.input.data<float>());
    if (!params_done) {
      packed_weight_gradient(g, x.data<float>(), dy.data<float>(), need_weight ? grads.weight.data<float>() : nullptr,
                             need_bias ? grads.bias.data<float>() : nullptr);
      params_done = true;
    }
  }
  if (input_done && params_done) return grads;
  if (!input_done) fill(grads.input, 0.0);
  cpu::dispatch_floating(input.dtype(), "conv2d_backward", [&]<typename T>() {
    conv2d_backward_impl<T>(g, dy.data<T>(), x.data<T>(), w.data<T>(), input_done ? nullptr : grads.input.data<T>(),
                            !params_done && need_weight ? grads.weight.data<T>() : nullptr,
                            !params_done && need_bias ? grads.bias.data<T>() : nullptr);
  });
  return grads;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
