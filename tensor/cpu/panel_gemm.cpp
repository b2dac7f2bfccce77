// focus's float32 matrix product on x86 with AVX-512 (see panel_gemm.h for where it runs).
//
// c = alpha · a · B + beta · c. B is packed once into column panels of K rows × 64 floats; a is not
// packed: each tile row's element a[r][k] is one broadcast from a row of a. The register tile is 6 rows
// × 4 vectors: 4 panel loads and 6 broadcasts feed 24 FMAs per k.
//
// AVX-512 only: the AVX2 build's 6 × 2 tile ran at 0.7-0.8× OpenBLAS's Haswell kernels (81-86 against
// 115 GFLOP/s on one thread), and there the LSTM too is faster step by step on OpenBLAS.
//
// Blocking, per thread: 4 panels' columns (256 floats with AVX-512) × 96 rows of c at a time, so that
// block of c (96 KB) stays in L2 while the depth runs in slices of 256; each panel slice (64 KB with
// AVX-512) serves the block's 16 row tiles, and the block's rows of a (96 KB) serve its 4 panels.
//
// Measured on a 2-vCPU AVX-512 Xeon (2 threads, GFLOP/s, against OpenBLAS 0.3.21's SkylakeX sgemm in
// the same process): an LSTM's [1280, 256]·[256, 1024] 390 vs 317 and [1280, 1024]·[1024, 256] 370 vs
// 323, a translator's output layer [1280, 256]·[256, 8000] 328 vs 313 and its input gradient 324 vs
// 295, 1024² 354 vs 334. A transposed a (weight gradients, gᵀ·x) is copied a block at a time: over
// a depth of up to 256 (one slice) that is 1.05-1.7× OpenBLAS (an LSTM cell's [1024, 64]·[64, 384]
// 300-321 vs 191-197), over deeper ones it fell behind (a translator's output layer's weight gradient,
// depth 1280: 268 vs 276-279), so those stay on OpenBLAS.
#include "tensor/cpu/panel_gemm.h"

#include <algorithm>
#include <stdexcept>

#include "tensor/parallel.h"

namespace focus::kernels::FOCUS_CPU_VARIANT::panel_gemm {

#ifdef FOCUS_PANEL_GEMM

namespace {

using conv_detail::broadcast;
using conv_detail::fmadd;
using conv_detail::kVectorLanes;
using conv_detail::load_partial;
using conv_detail::load_vector;
using conv_detail::loadu_vector;
using conv_detail::store_partial;
using conv_detail::storeu_vector;
using conv_detail::Vector;
using conv_detail::zero_vector;

constexpr int64_t kDepthBlock = 256;   // depth per pass over a panel
constexpr int64_t kRowBlock = 96;      // rows of c per block
constexpr int64_t kPanelBlock = 4;     // panels (column groups of c) per block

// c[r][0, n) = alpha · Σ_k A[r][k] · panel[k·W + j] + beta · c[r][j] for the tile's Rows rows and the
// panel's first n columns (beta = 0: c is not read). A[r][k] is a[r·lda + k], or a[k·lda + r] when
// DepthMajor (a transposed A, packed per block: see multiply_block).
// Not inlined: inside its callers' loops GCC may keep the accumulators on the stack (it did in an AVX2
// build, at half speed).
template <int Rows, bool DepthMajor>
__attribute__((noinline)) void panel_tile(int64_t depth, const float* a, int64_t lda, const float* panel, float alpha,
                                          float beta, float* c, int64_t ldc, int64_t n) {
  Vector acc[Rows][kPanelVectors];
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < kPanelVectors; ++v) acc[r][v] = zero_vector();
  for (int64_t k = 0; k < depth; ++k) {
    Vector w[kPanelVectors];
    for (int v = 0; v < kPanelVectors; ++v) w[v] = load_vector(panel + k * kPanelWidth + v * kVectorLanes);
    for (int r = 0; r < Rows; ++r) {
      const Vector x = broadcast(DepthMajor ? a + k * lda + r : a + r * lda + k);
      for (int v = 0; v < kPanelVectors; ++v) acc[r][v] = fmadd(x, w[v], acc[r][v]);
    }
  }
  const Vector alphas = broadcast(&alpha), betas = broadcast(&beta);
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < kPanelVectors; ++v) {
      const int64_t column = v * kVectorLanes, count = std::min<int64_t>(kVectorLanes, n - column);
      if (count <= 0) break;
      float* out = c + r * ldc + column;
      if (count == kVectorLanes) {
        storeu_vector(out, beta == 0.0f ? acc[r][v] * alphas : fmadd(loadu_vector(out), betas, acc[r][v] * alphas));
      } else {
        const int lanes = static_cast<int>(count);
        store_partial(
            out, beta == 0.0f ? acc[r][v] * alphas : fmadd(load_partial(out, lanes), betas, acc[r][v] * alphas), lanes);
      }
    }
}

// panel_tile for a tile of `rows` (1..kTileRows) rows.
template <bool DepthMajor, int Rows = kTileRows>
void rows_tile(int rows, int64_t depth, const float* a, int64_t lda, const float* panel, float alpha, float beta,
               float* c, int64_t ldc, int64_t n) {
  if (rows != Rows) {
    if constexpr (Rows > 1) rows_tile<DepthMajor, Rows - 1>(rows, depth, a, lda, panel, alpha, beta, c, ldc, n);
    return;
  }
  panel_tile<Rows, DepthMajor>(depth, a, lda, panel, alpha, beta, c, ldc, n);
}

// Rows of A as multiply_block reads them: A[r][k] at data[r·ld + k], or at data[k·ld + r] when
// transposed (stored as [K, M]).
struct RowsOfA {
  const float* data;
  int64_t ld;
  bool transposed;
  RowsOfA from(int64_t row) const { return {transposed ? data + row : data + row * ld, ld, transposed}; }
};

// c [rows, panels first..last) = alpha · A [rows, K] · B + beta · c: depth slices, then panels, then
// row tiles of nearly equal height. Slices after the first add to what the first wrote. A transposed
// A is copied per depth slice into `staging` (rows × depth floats, row index fastest): read in place,
// each k of a tile would touch its own page of A, far apart (OpenBLAS packs it too).
void multiply_block(int64_t rows, const RowsOfA& a, const Panels& b, int64_t first, int64_t last, float alpha,
                    float beta, float* c, int64_t ldc, float* staging) {
  const int64_t tiles = conv_detail::ceil_div(rows, kTileRows);
  for (int64_t k0 = 0; k0 < b.K; k0 += kDepthBlock) {
    const int64_t depth = std::min(kDepthBlock, b.K - k0);
    const float slice_beta = k0 == 0 ? beta : 1.0f;
    if (a.transposed)
      for (int64_t k = 0; k < depth; ++k) {
        if (k + 8 < depth)  // each k's row segment is on a page of its own: fetch ahead
          for (int64_t i = 0; i < rows; i += 16)
            _mm_prefetch(reinterpret_cast<const char*>(a.data + (k0 + k + 8) * a.ld + i), _MM_HINT_T0);
        conv_detail::copy_floats(a.data + (k0 + k) * a.ld, rows, staging + k * rows);
      }
    for (int64_t p = first; p < last; ++p) {
      const float* slice = b.panel(p) + k0 * kPanelWidth;
      const int64_t n = std::min(kPanelWidth, b.N - p * kPanelWidth);
      for (int64_t tile = 0, row = 0; tile < tiles; ++tile) {
        const int height = static_cast<int>(rows / tiles + (tile < rows % tiles ? 1 : 0));
        float* out = c + row * ldc + p * kPanelWidth;
        if (a.transposed)
          rows_tile<true>(height, depth, staging + row, rows, slice, alpha, slice_beta, out, ldc, n);
        else
          rows_tile<false>(height, depth, a.data + row * a.ld + k0, a.ld, slice, alpha, slice_beta, out, ldc, n);
        row += height;
      }
    }
  }
}

// c [rows, panels first..last) for a range of rows and panels, block by block.
void multiply_range(int64_t rows, const RowsOfA& a, const Panels& b, int64_t first, int64_t last, float alpha,
                    float beta, float* c, int64_t ldc) {
  // Only a transposed A is staged (no allocation for a row-major one: the LSTM calls this every step).
  const conv_detail::Scratch<float> staging =
      a.transposed ? conv_detail::scratch<float>(std::min(kRowBlock, rows) * std::min(kDepthBlock, b.K))
                   : conv_detail::Scratch<float>();
  for (int64_t p = first; p < last; p += kPanelBlock)
    for (int64_t row = 0; row < rows; row += kRowBlock)
      multiply_block(std::min(kRowBlock, rows - row), a.from(row), b, p, std::min(last, p + kPanelBlock), alpha,
                     beta, c + row * ldc, ldc, staging.get());
}

// Panel p of B [K, N] (columns [p·W, p·W + W)) into `panel` (K·W floats, 64-byte aligned).
void pack_panel(const float* b, BlasMatrix b_layout, int64_t K, int64_t N, int64_t p, float* panel) {
  const int64_t ld = b_layout.ld, n0 = p * kPanelWidth, columns = std::min(kPanelWidth, N - n0);
  if (columns < kPanelWidth) std::fill_n(panel, K * kPanelWidth, 0.0f);  // the columns past N: never stored
  if (!b_layout.transposed) {  // B[k][n] = b[k·ld + n]: row segments as they are
    for (int64_t k = 0; k < K; ++k) conv_detail::copy_floats(b + k * ld + n0, columns, panel + k * kPanelWidth);
    return;
  }
  // B[k][n] = b[n·ld + k]: 8×8 blocks transposed in registers, the last K % 8 rows one float at a time.
  const int64_t whole_k = K / 8 * 8;
  for (int64_t n = n0; n < n0 + columns; n += 8) {
    const int64_t count = std::min<int64_t>(8, n0 + columns - n);
    for (int64_t k = 0; k < whole_k; k += 8)
      conv_detail::transpose_block(b + n * ld + k, ld, panel + k * kPanelWidth + (n - n0), kPanelWidth, count);
    for (int64_t j = n; j < n + count; ++j)
      for (int64_t k = whole_k; k < K; ++k) panel[k * kPanelWidth + (j - n0)] = b[j * ld + k];
  }
}

}  // namespace

Panels empty_panels(int64_t K, int64_t N) {
  Panels packed;
  packed.K = K;
  packed.N = N;
  packed.count = conv_detail::ceil_div(N, kPanelWidth);
  packed.data = conv_detail::scratch<float>(packed.count * K * kPanelWidth);
  return packed;
}

Panels pack(const float* b, BlasMatrix b_layout, int64_t K, int64_t N) {
  Panels packed = empty_panels(K, N);
  float* out = packed.data.get();
  parallel_for(0, packed.count, 1, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) pack_panel(b, b_layout, K, N, p, out + p * K * kPanelWidth);
  });
  return packed;
}

void multiply_rows(int64_t rows, const float* a, int64_t lda, const Panels& b, float alpha, float beta, float* c,
                   int64_t ldc) {
  multiply_range(rows, RowsOfA{a, lda, false}, b, 0, b.count, alpha, beta, c, ldc);
}

#endif  // FOCUS_PANEL_GEMM

bool preferred(int64_t M, int64_t N, int64_t K, BlasMatrix a_layout) {
#ifdef FOCUS_PANEL_GEMM
  return (!a_layout.transposed || K <= kDepthBlock) && N >= 48 && K >= 64 && M * N * K >= (int64_t{1} << 18);
#else
  (void)M, (void)N, (void)K, (void)a_layout;
  return false;
#endif
}

void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* a_data, BlasMatrix a_layout, const float* b,
          BlasMatrix b_layout, float beta, float* c, int64_t ldc) {
#ifdef FOCUS_PANEL_GEMM
  const RowsOfA a{a_data, a_layout.ld, a_layout.transposed};
  const int64_t threads = omp_in_parallel() ? 1 : get_num_threads();
  const int64_t panels = conv_detail::ceil_div(N, kPanelWidth), blocks = conv_detail::ceil_div(panels, kPanelBlock);
  if (blocks >= 2 * threads && K <= 1024) {
    // Many columns (an output layer's 8,000 words): each thread takes whole column blocks and packs
    // each block's panels just before it uses them, from L2, instead of all of B through L3 first.
    parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
      Panels block = empty_panels(K, kPanelBlock * kPanelWidth);
      for (int64_t index = first; index < last; ++index) {
        const int64_t n0 = index * kPanelBlock * kPanelWidth;
        block.N = std::min(kPanelBlock * kPanelWidth, N - n0);
        block.count = conv_detail::ceil_div(block.N, kPanelWidth);
        for (int64_t p = 0; p < block.count; ++p)
          pack_panel(b + (b_layout.transposed ? n0 * b_layout.ld : n0), b_layout, K, block.N, p,
                     block.data.get() + p * K * kPanelWidth);
        multiply_range(M, a, block, 0, block.count, alpha, beta, c + n0, ldc);
      }
    });
    return;
  }
  const Panels packed = pack(b, b_layout, K, N);
  // Rows to each thread when every thread gets at least half a row block; else panels.
  if (M >= threads * kRowBlock / 2) {
    parallel_for(0, M, kRowBlock / 2, [&](int64_t first, int64_t last) {
      multiply_range(last - first, a.from(first), packed, 0, packed.count, alpha, beta, c + first * ldc, ldc);
    });
  } else {
    parallel_for(0, packed.count, 1, [&](int64_t first, int64_t last) {
      multiply_range(M, a, packed, first, last, alpha, beta, c, ldc);
    });
  }
#else
  (void)M, (void)N, (void)K, (void)alpha, (void)a_data, (void)a_layout, (void)b, (void)b_layout, (void)beta, (void)c,
      (void)ldc;
  throw std::logic_error("panel_gemm::gemm: not in this kernel build (check panel_gemm::preferred first)");
#endif
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::panel_gemm
