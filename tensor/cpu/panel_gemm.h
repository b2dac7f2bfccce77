#pragma once
// focus's own float32 matrix product for x86 with AVX-512: B packed into column panels, A read in
// place one broadcast at a time, a register tile of 6 rows × 4 vectors. Used by matmul and gemm
// (tensor/cpu/matmul.cpp) where it beats OpenBLAS, and by the LSTM's whole-sequence kernel
// (lstm_sequence.cpp), which packs W_hh once for all its steps. Internal to tensor/cpu; in AVX-512
// kernel builds only (FOCUS_PANEL_GEMM): with AVX2, OpenBLAS's kernels were faster.
#include <cstdint>

#include "tensor/blas_layout.h"
#include "tensor/kernels.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define FOCUS_PANEL_GEMM 1
#include "tensor/cpu/conv_internal.h"
#include "tensor/cpu/conv_vector.h"
#endif

namespace focus::kernels::FOCUS_CPU_VARIANT::panel_gemm {

#ifdef FOCUS_PANEL_GEMM

/// Columns per panel: 4 vectors of 16 floats.
inline constexpr int kPanelVectors = 4;
inline constexpr int64_t kPanelWidth = kPanelVectors * conv_detail::kVectorLanes;
/// Rows per register tile: 6 × 4 vectors of accumulators is 24 of the 32 registers (the rest hold the
/// panel row and a broadcast).
inline constexpr int kTileRows = 6;

/// A matrix B [K, N] as column panels: panel p holds columns [p·W, p·W + W) (W = kPanelWidth) as K
/// rows of W floats, zeros past column N, 64-byte aligned. A tile then reads one aligned row per k.
struct Panels {
  int64_t K = 0, N = 0, count = 0;
  conv_detail::Scratch<float> data;
  const float* panel(int64_t p) const { return data.get() + p * K * kPanelWidth; }
};

/// Panels for a B [K, N] that the caller writes itself: uninitialised, zeros past column N included.
Panels empty_panels(int64_t K, int64_t N);

/// B [K, N] stored with layout `b_layout` (row-major, or the transpose of a row-major [N, K]),
/// packed by all threads (unless called inside a parallel region).
Panels pack(const float* b, BlasMatrix b_layout, int64_t K, int64_t N);

/// c [rows, N] = alpha · a [rows, K] · B + beta · c for a row-major a (row stride lda), over all
/// panels of B, on the calling thread. beta = 0 never reads c. Rows are dealt into tiles of nearly
/// equal height (32 → 6, 6, 5, 5, 5, 5, not five 6s and a 2).
void multiply_rows(int64_t rows, const float* a, int64_t lda, const Panels& b, float alpha, float beta, float* c,
                   int64_t ldc);

#endif  // FOCUS_PANEL_GEMM

/// Whether gemm() below should run c = alpha · op(a) · op(b) + beta · c rather than OpenBLAS: float32
/// in an AVX-512 build; a product big enough to repay packing b, M·N·K ≥ 2¹⁸, N ≥ 48 and
/// K ≥ 64 (thinner ones, like attention's per-head products, are faster on OpenBLAS's small kernels,
/// which pack nothing); and a row-major a, or a transposed one (a weight gradient gᵀ·x) over a depth
/// K ≤ 256, where it was measured faster.
bool preferred(int64_t M, int64_t N, int64_t K, BlasMatrix a_layout);

/// c [M, N] (row stride ldc) = alpha · a · b + beta · c, a [M, K] and b [K, N] with the layouts given.
/// The threads split M (or, for few rows, the panels). Only where preferred() says so.
void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* a, BlasMatrix a_layout, const float* b,
          BlasMatrix b_layout, float beta, float* c, int64_t ldc);

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::panel_gemm
