// 2-D convolution (NCHW) as im2col + GEMM on OpenBLAS.
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
//
// Float32 on x86 with AVX2 takes a faster path for the forward pass and for dx
// (see "packed float32 path" below); float64, other CPUs and dW use the above.
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define FOCUS_CONV_PACKED 1
#endif

#include "tensor/cpu/loops.h"
#include "tensor/kernels.h"

namespace focus::kernels {

namespace {

// Column buffers beyond this are split into more chunks: a few MiB keeps the
// columns that GEMM reads in L2/L3 right after im2col wrote them.
constexpr int64_t kMaxColumnBytes = int64_t{2} << 20;
// Columns per GEMM below which images are batched together, if memory allows.
constexpr int64_t kTargetColumns = 2048;
// Multiply-adds below which a convolution runs on one thread: starting and joining
// threads would cost more than the few tens of microseconds it takes.
constexpr int64_t kParallelMacs = int64_t{1} << 21;

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
              beta, c, blasint(ldc));
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, double alpha,
               const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
              beta, c, blasint(ldc));
}

// Everything about one convolution's shapes, derived once.
struct ConvGeometry {
  int64_t N, C, H, W;       // input
  int64_t OC, KH, KW;       // weight [OC, C / groups, KH, KW]
  int64_t OH, OW;           // output
  int64_t groups, Cg, OCg;  // channels per group, in and out
  int64_t K;                // rows of a group's column matrix: Cg·KH·KW
  int64_t plane, out_plane; // H·W and OH·OW
  Conv2dParams p;
  bool pointwise;           // 1×1, stride 1, no padding: the image is its own column matrix
  int64_t images_per_chunk = 1;
  int64_t chunks = 1;
  bool parallel_chunks = false;

  int64_t chunk_begin(int64_t chunk) const { return std::min(N, chunk * images_per_chunk); }
  int64_t chunk_end(int64_t chunk) const { return std::min(N, (chunk + 1) * images_per_chunk); }
  int64_t chunk_columns() const { return images_per_chunk * out_plane; }
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

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
    per_chunk = std::clamp<int64_t>(kTargetColumns / g.out_plane, 1, std::max<int64_t>(1, kMaxColumnBytes / column_bytes));
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

// Memory for a thread's scratch matrices: 64-byte aligned (whole cache lines, aligned
// vector loads) and not zero-filled (every entry is written before it is read).
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
using Scratch = std::unique_ptr<T[], FreeDeleter>;

template <typename T>
Scratch<T> scratch(int64_t count) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return Scratch<T>(static_cast<T*>(p));
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

// ---- packed float32 path ------------------------------------------------------------
//
// im2col + BLAS writes the whole column matrix to memory, BLAS reads it back to
// pack it into its own panel layout, and the product is then scattered to NCHW.
// Here the columns of 16 output pixels at a time are built straight into that
// panel layout — a [K, 16] panel that stays in L1 — and multiplied by the packed
// weights with a 6×16 register tile: 12 AVX2 accumulators, 12 FMAs per 2 loads and
// 6 broadcasts, so the FMA units, not memory, set the pace. The tile starts from
// the bias and is stored straight into NCHW. Work items are (image, 16-pixel block)
// pairs shared among threads; nothing grows with the batch.
//
// dx of a stride-1 convolution is itself a convolution, of dy with the kernel
// flipped and its channel dims swapped (see packed_input_gradient), so it reuses
// this path too.

constexpr int64_t kTileRows = 6;      // output channels per register tile
constexpr int64_t kTileCols = 16;     // output pixels per register tile: two 8-float vectors
constexpr int64_t kDepthBlock = 384;  // panel rows per pass: 384·16 floats = 24 KiB, inside L1

bool packed_path_available() {
#ifdef FOCUS_CONV_PACKED
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
#else
  return false;
#endif
}

#ifdef FOCUS_CONV_PACKED

// Each image is first copied into a zero-bordered buffer ([C, H + pt + pb, W + pl + pr],
// plus slack), so that building panels needs no bounds tests: the kernel tap (ki, kj)
// of output pixel (oh, ow) reads padded[c, oh·sh + ki·dh, ow·sw + kj·dw]. (Masked
// vector loads at the borders were tried first and cost a fifth of the forward time.)
struct PaddedImage {
  int64_t rows, cols, plane;  // padded H, W and H·W
  Scratch<float> data;
  int64_t image = -1;  // which image it holds
};

PaddedImage make_padded(const ConvGeometry& g) {
  PaddedImage pad;
  pad.rows = g.H + g.p.pad_top + g.p.pad_bottom;
  pad.cols = g.W + g.p.pad_left + g.p.pad_right;
  pad.plane = pad.rows * pad.cols;
  // The last vector of a block may run up to 7 elements past the last pixel it needs.
  const int64_t size = g.C * pad.plane + 2 * kTileCols;
  pad.data = scratch<float>(size);
  std::fill(pad.data.get(), pad.data.get() + size, 0.0f);  // the borders stay zero from here on
  return pad;
}

void load_padded(const ConvGeometry& g, const float* x, int64_t n, PaddedImage& pad) {
  if (pad.image == n) return;
  pad.image = n;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::copy_n(x + (n * g.C + c) * g.plane + h * g.W, g.W,
                  pad.data.get() + c * pad.plane + (h + g.p.pad_top) * pad.cols + g.p.pad_left);
}

// The (up to 16) pixels of a block, as offsets of their kernel tap (0, 0) in a padded
// channel plane. A half (8 lanes) lying along one output row with horizontal stride 1
// reads each tap's inputs as one vector; other halves gather lane by lane.
struct PixelBlock {
  int64_t count;  // valid pixels
  int64_t offset[kTileCols];
  bool run[2];
};

PixelBlock describe_block(const ConvGeometry& g, const PaddedImage& pad, int64_t first, int64_t count) {
  PixelBlock b{};
  b.count = count;
  int64_t oh[kTileCols];
  for (int64_t j = 0; j < count; ++j) {
    oh[j] = (first + j) / g.OW;
    b.offset[j] = oh[j] * g.p.stride_h * pad.cols + ((first + j) % g.OW) * g.p.stride_w;
  }
  for (int h = 0; h < 2; ++h) {
    const int64_t lo = 8 * h, hi = std::min<int64_t>(count, lo + 8);
    b.run[h] = g.p.stride_w == 1 && hi > lo && oh[hi - 1] == oh[lo];
  }
  return b;
}

// panel[(k − k0)·ld + j] = im2col row k (k = (c·KH + ki)·KW + kj, within the group) at pixel j
// of the block, for k in [k0, k1) and j < 16. Lanes past the block's last pixel hold whatever
// lies there: the callers never use them. `panel` and `ld` keep every row 32-byte aligned.
__attribute__((target("avx2,fma"))) void build_panel(const ConvGeometry& g, const PixelBlock& b,
                                                      const PaddedImage& pad, int64_t first_channel, int64_t k0,
                                                      int64_t k1, float* panel, int64_t ld = kTileCols) {
  int64_t c = k0 / (g.KH * g.KW), ki = (k0 / g.KW) % g.KH, kj = k0 % g.KW;
  for (int64_t k = k0; k < k1; ++k) {
    const float* tap = pad.data.get() + (first_channel + c) * pad.plane + ki * g.p.dilation_h * pad.cols +
                       kj * g.p.dilation_w;
    float* row = panel + (k - k0) * ld;
    for (int h = 0; h < 2; ++h) {
      const int64_t lo = 8 * h;
      if (b.run[h]) {
        _mm256_store_ps(row + lo, _mm256_loadu_ps(tap + b.offset[lo]));
      } else {
        for (int64_t j = lo; j < lo + 8; ++j) row[j] = j < b.count ? tap[b.offset[j]] : 0.0f;
      }
    }
    if (++kj == g.KW) {
      kj = 0;
      if (++ki == g.KH) ki = 0, ++c;
    }
  }
}

// C [R, cols ≤ 16] (row stride ldc) = start + A [R, depth] @ panel [depth, 16], where A's element
// (i, k) is a[i·a_row + k·a_depth] and the panel's row k is 16 floats at panel + 16·k (32-byte
// aligned). start: C itself (accumulate), else bias[i] (when given), else 0. R ≤ 6 rows: 2R
// accumulators, 2R FMAs per 2 loads and R broadcasts.
template <int R>
__attribute__((target("avx2,fma"))) void tile_kernel(int64_t depth, const float* a, int64_t a_row, int64_t a_depth,
                                                      const float* panel, float* c, int64_t ldc, int64_t cols,
                                                      const float* bias, bool accumulate) {
  const bool full = cols == kTileCols;
  alignas(32) float tile[R][kTileCols] = {};
  if (accumulate && !full)
    for (int i = 0; i < R; ++i) std::copy(c + i * ldc, c + i * ldc + cols, tile[i]);
  __m256 acc[R][2];
  for (int i = 0; i < R; ++i) {
    if (accumulate) {
      acc[i][0] = full ? _mm256_loadu_ps(c + i * ldc) : _mm256_load_ps(tile[i]);
      acc[i][1] = full ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_load_ps(tile[i] + 8);
    } else {
      acc[i][0] = acc[i][1] = _mm256_set1_ps(bias ? bias[i] : 0.0f);
    }
  }
  for (int64_t k = 0; k < depth; ++k) {
    const __m256 b0 = _mm256_load_ps(panel + k * kTileCols), b1 = _mm256_load_ps(panel + k * kTileCols + 8);
    for (int i = 0; i < R; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * a_row + k * a_depth);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  if (full) {
    for (int i = 0; i < R; ++i) {
      _mm256_storeu_ps(c + i * ldc, acc[i][0]);
      _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
    }
    return;
  }
  for (int i = 0; i < R; ++i) {
    _mm256_store_ps(tile[i], acc[i][0]);
    _mm256_store_ps(tile[i] + 8, acc[i][1]);
  }
  for (int i = 0; i < R; ++i) std::copy(tile[i], tile[i] + cols, c + i * ldc);
}

// tile_kernel for `rows` (1..6) rows: a block's leftover rows cost only their own FMAs.
void tile(int64_t rows, int64_t depth, const float* a, int64_t a_row, int64_t a_depth, const float* panel, float* c,
          int64_t ldc, int64_t cols, const float* bias, bool accumulate) {
  switch (rows) {
    case 6: return tile_kernel<6>(depth, a, a_row, a_depth, panel, c, ldc, cols, bias, accumulate);
    case 5: return tile_kernel<5>(depth, a, a_row, a_depth, panel, c, ldc, cols, bias, accumulate);
    case 4: return tile_kernel<4>(depth, a, a_row, a_depth, panel, c, ldc, cols, bias, accumulate);
    case 3: return tile_kernel<3>(depth, a, a_row, a_depth, panel, c, ldc, cols, bias, accumulate);
    case 2: return tile_kernel<2>(depth, a, a_row, a_depth, panel, c, ldc, cols, bias, accumulate);
    default: return tile_kernel<1>(depth, a, a_row, a_depth, panel, c, ldc, cols, bias, accumulate);
  }
}

// y = conv(x, w) + bias for float32, as described above.
void conv2d_forward_packed(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  // Weights packed per group and block of 6 output channels, depth-major: a[((grp·R + rb)·K + k)·6 + i]
  // = w[grp·OCg + rb·6 + i, k], zero past the group's last channel.
  const int64_t row_blocks = ceil_div(g.OCg, kTileRows);
  std::vector<float> packed(static_cast<size_t>(g.groups * row_blocks * g.K * kTileRows), 0.0f);
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t oc = 0; oc < g.OCg; ++oc) {
      float* dst = packed.data() + ((grp * row_blocks + oc / kTileRows) * g.K) * kTileRows + oc % kTileRows;
      const float* src = w + (grp * g.OCg + oc) * g.K;
      for (int64_t k = 0; k < g.K; ++k) dst[k * kTileRows] = src[k];
    }

  const int64_t blocks = ceil_div(g.out_plane, kTileCols), items = g.N * blocks;
  const int64_t macs_per_item = g.OC * g.K * kTileCols;
  auto run = [&](int64_t begin, int64_t end) {
    alignas(64) float panel[kDepthBlock * kTileCols];
    PaddedImage pad = make_padded(g);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / blocks, first = (item % blocks) * kTileCols;
      load_padded(g, x, n, pad);
      const PixelBlock block = describe_block(g, pad, first, std::min(kTileCols, g.out_plane - first));
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        for (int64_t k0 = 0; k0 < g.K; k0 += kDepthBlock) {
          const int64_t k1 = std::min(g.K, k0 + kDepthBlock);
          build_panel(g, block, pad, grp * g.Cg, k0, k1, panel);
          for (int64_t rb = 0; rb < row_blocks; ++rb) {
            const int64_t oc0 = grp * g.OCg + rb * kTileRows;
            tile(std::min(kTileRows, g.OCg - rb * kTileRows), k1 - k0,
                 packed.data() + ((grp * row_blocks + rb) * g.K + k0) * kTileRows, 1, kTileRows, panel,
                 y + (n * g.OC + oc0) * g.out_plane + first, g.out_plane, block.count, bias ? bias + oc0 : nullptr,
                 k0 > 0);
          }
        }
      }
    }
  };
  if (items * macs_per_item < kParallelMacs || omp_in_parallel())
    run(0, items);
  else
    parallel_for(0, items, std::max<int64_t>(1, (int64_t{1} << 18) / macs_per_item), run);
}

// dW and db on the packed path. Per image and group, with P output pixels:
//   dWᵀ_g [K, OCg] += col [K, P] @ dyᵀ [P, OCg],   db[o] += Σ_p dy[o, p]
// col is built as in the forward pass (rows of im2col, from the padded image) for a chunk
// of pixels; dyᵀ is packed into panels of 16 output channels [P, 16]. A tile is then 6
// rows of col (read in place, 6 streams) against one dy panel, over the chunk's pixels.
// Each thread sums into its own dWᵀ; the copies are added (and transposed) at the end.
void packed_weight_gradient(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* db) {
  constexpr int64_t kPixelChunk = 256;  // pixels per col block: 6 rows of it (6 KiB) stay in L1
  const int64_t chunks = ceil_div(g.out_plane, kPixelChunk), items = g.N * chunks;
  const int64_t channel_panels = ceil_div(g.OCg, kTileCols), padded_oc = channel_panels * kTileCols;
  const int64_t partial_size = g.groups * g.K * padded_oc;
  const int64_t macs_per_item = g.OC * g.K * std::min(kPixelChunk, g.out_plane);
  const bool parallel = !omp_in_parallel() && items >= 2 && items * macs_per_item >= kParallelMacs;
  const int slots = parallel ? omp_get_max_threads() : 1;
  std::vector<std::vector<float>> dw_partial(slots), db_partial(slots);

  auto run = [&](int64_t begin, int64_t end) {
    const int slot = parallel ? omp_get_thread_num() : 0;
    std::vector<float>& dwt = dw_partial[slot];
    std::vector<float>& dbt = db_partial[slot];
    if (dw) dwt.assign(static_cast<size_t>(partial_size), 0.0f);
    if (db) dbt.assign(static_cast<size_t>(g.OC), 0.0f);
    PaddedImage pad = make_padded(g);
    Scratch<float> col = dw ? scratch<float>(g.K * kPixelChunk) : nullptr;
    Scratch<float> dy_panels = dw ? scratch<float>(channel_panels * kPixelChunk * kTileCols) : nullptr;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / chunks, p0 = (item % chunks) * kPixelChunk;
      const int64_t count = std::min(kPixelChunk, g.out_plane - p0);
      if (dw) load_padded(g, x, n, pad);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const float* dy_g = dy + (n * g.OC + grp * g.OCg) * g.out_plane + p0;
        if (db)
          for (int64_t o = 0; o < g.OCg; ++o) {
            float sum = 0;
            for (int64_t p = 0; p < count; ++p) sum += dy_g[o * g.out_plane + p];
            dbt[grp * g.OCg + o] += sum;
          }
        if (!dw) continue;
        // dy_panels[cp][p][j] = dy[grp·OCg + cp·16 + j, p0 + p], zero past the group's channels.
        for (int64_t cp = 0; cp < channel_panels; ++cp)
          for (int64_t j = 0; j < kTileCols; ++j) {
            const int64_t o = cp * kTileCols + j;
            float* dst = dy_panels.get() + cp * kPixelChunk * kTileCols + j;
            for (int64_t p = 0; p < count; ++p) dst[p * kTileCols] = o < g.OCg ? dy_g[o * g.out_plane + p] : 0.0f;
          }
        // col [K, kPixelChunk]: the chunk's im2col rows, 16 pixels at a time.
        for (int64_t first = 0; first < count; first += kTileCols) {
          const PixelBlock block = describe_block(g, pad, p0 + first, std::min(kTileCols, count - first));
          build_panel(g, block, pad, grp * g.Cg, 0, g.K, col.get() + first, kPixelChunk);
        }
        for (int64_t k0 = 0; k0 < g.K; k0 += kTileRows)
          for (int64_t cp = 0; cp < channel_panels; ++cp)
            tile(std::min(kTileRows, g.K - k0), count, col.get() + k0 * kPixelChunk, kPixelChunk, 1,
                 dy_panels.get() + cp * kPixelChunk * kTileCols,
                 dwt.data() + (grp * g.K + k0) * padded_oc + cp * kTileCols, padded_oc, kTileCols, nullptr, true);
      }
    }
  };
  if (parallel)
    parallel_for(0, items, 1, run);
  else
    run(0, items);

  for (int s = 0; s < slots; ++s) {
    if (dw && !dw_partial[s].empty())
      for (int64_t grp = 0; grp < g.groups; ++grp)
        for (int64_t o = 0; o < g.OCg; ++o)
          for (int64_t k = 0; k < g.K; ++k)
            dw[(grp * g.OCg + o) * g.K + k] += dw_partial[s][(grp * g.K + k) * padded_oc + o];
    if (db && !db_partial[s].empty())
      for (int64_t o = 0; o < g.OC; ++o) db[o] += db_partial[s][o];
  }
}

#endif  // FOCUS_CONV_PACKED

// dx of a stride-1 convolution as a convolution of dy, on the packed path:
//   dx[c, i, j] = Σ_{o, ki, kj} w[o, c, ki, kj] · dy[o, i + pt − ki·dh, j + pl − kj·dw]
// and with ki' = KH − 1 − ki that is dy correlated with w'[c, o, ki', kj'] = w[o, c, KH−1−ki', KW−1−kj'],
// padded by dh·(KH − 1) − pt above and dh·(KH − 1) − pb below (likewise for columns), per group.
// Needs stride 1 and padding within the kernel's extent; returns false (nothing done) otherwise.
bool packed_input_gradient(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
#ifdef FOCUS_CONV_PACKED
  const Conv2dParams& p = g.p;
  const int64_t extent_h = p.dilation_h * (g.KH - 1), extent_w = p.dilation_w * (g.KW - 1);
  if (!packed_path_available() || p.stride_h != 1 || p.stride_w != 1 || p.pad_top > extent_h ||
      p.pad_bottom > extent_h || p.pad_left > extent_w || p.pad_right > extent_w)
    return false;
  Conv2dParams flipped = p;
  flipped.pad_top = extent_h - p.pad_top;
  flipped.pad_bottom = extent_h - p.pad_bottom;
  flipped.pad_left = extent_w - p.pad_left;
  flipped.pad_right = extent_w - p.pad_right;
  // w' [C, OCg, KH, KW]: group grp's input channels become output channels.
  std::vector<float> w_flipped(static_cast<size_t>(g.C * g.OCg * g.KH * g.KW));
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t o = 0; o < g.OCg; ++o)
      for (int64_t c = 0; c < g.Cg; ++c)
        for (int64_t ki = 0; ki < g.KH; ++ki)
          for (int64_t kj = 0; kj < g.KW; ++kj)
            w_flipped[(((grp * g.Cg + c) * g.OCg + o) * g.KH + (g.KH - 1 - ki)) * g.KW + (g.KW - 1 - kj)] =
                w[(((grp * g.OCg + o) * g.Cg + c) * g.KH + ki) * g.KW + kj];
  const ConvGeometry t = make_geometry({g.N, g.OC, g.OH, g.OW}, {g.C, g.OCg, g.KH, g.KW}, flipped, sizeof(float));
  conv2d_forward_packed(t, dy, w_flipped.data(), nullptr, dx);
  return true;
#else
  return false;
#endif
}

// Checks shapes and dtypes; returns the geometry.
ConvGeometry check_conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                          const char* op) {
  check_defined(input, op);
  check_defined(weight, op);
  cpu::check_cpu(input, op);
  check_same_device(input, weight, op);
  if (input.dim() != 4)
    throw std::invalid_argument(
        fmt::format("{}: expected a 4-D input [N, C, H, W], got shape {}", op, shape_str(input.shape())));
  if (weight.dim() != 4)
    throw std::invalid_argument(fmt::format("{}: expected a 4-D weight [C_out, C_in / groups, kH, kW], got shape {}",
                                            op, shape_str(weight.shape())));
  if (!is_floating(input.dtype()) || input.dtype() != weight.dtype())
    throw std::invalid_argument(fmt::format("{}: expected float32 or float64 input and weight of one dtype, got {} and {}",
                                            op, dtype_name(input.dtype()), dtype_name(weight.dtype())));
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
  if (bias.defined()) {
    check_same_device(input, bias, op);
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
  Tensor x = contiguous_input(input), w = contiguous_input(weight);
  Tensor b = bias.defined() ? contiguous_input(bias) : bias;
  Tensor y = empty({g.N, g.OC, g.OH, g.OW}, TensorOptions(input.dtype()));
  if (y.numel() == 0) return y;
#ifdef FOCUS_CONV_PACKED
  if (input.dtype() == kFloat32 && packed_path_available()) {
    conv2d_forward_packed(g, x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr,
                          y.data<float>());
    return y;
  }
#endif
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
  Tensor dy = contiguous_input(grad_output), x = contiguous_input(input), w = contiguous_input(weight);
  const TensorOptions options(input.dtype());
  Conv2dGrads grads;
  // Fresh CPU tensors are zero-filled, which the accumulations below rely on.
  if (need_input) grads.input = zeros(input.shape(), options);
  if (need_weight) grads.weight = zeros(weight.shape(), options);
  if (need_bias) grads.bias = zeros({g.OC}, options);
  if (dy.numel() == 0 || !(need_input || need_weight || need_bias)) return grads;
  // The packed path where it applies; whatever is left goes through im2col + BLAS.
  bool input_done = !need_input, params_done = !need_weight && !need_bias;
#ifdef FOCUS_CONV_PACKED
  if (input.dtype() == kFloat32 && packed_path_available()) {
    if (need_input) input_done = packed_input_gradient(g, dy.data<float>(), w.data<float>(), grads.input.data<float>());
    if (!params_done) {
      packed_weight_gradient(g, x.data<float>(), dy.data<float>(), need_weight ? grads.weight.data<float>() : nullptr,
                             need_bias ? grads.bias.data<float>() : nullptr);
      params_done = true;
    }
  }
#endif
  if (input_done && params_done) return grads;
  cpu::dispatch_floating(input.dtype(), "conv2d_backward", [&]<typename T>() {
    conv2d_backward_impl<T>(g, dy.data<T>(), x.data<T>(), w.data<T>(), input_done ? nullptr : grads.input.data<T>(),
                            !params_done && need_weight ? grads.weight.data<T>() : nullptr,
                            !params_done && need_bias ? grads.bias.data<T>() : nullptr);
  });
  return grads;
}

}  // namespace focus::kernels
