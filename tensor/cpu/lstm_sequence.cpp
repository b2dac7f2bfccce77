// An LSTM layer's recurrence over all its steps in one kernel call, float32, AVX2 and AVX-512.
//
// lstm_layer (autograd/ops/lstm_layer.cpp) otherwise makes three calls per step: a BLAS GEMM
// h·W_hhᵀ of [B, H] × [H, 4H], the gate math, a copy of h. Each GEMM call packs all of W_hh again
// (1 MB at H = 256) and starts and joins the threads; at B = 64 a step's product is only 34 MFLOP,
// so the packing and the joins took about a fifth of a forward pass.
//
// Here W_hh is packed once per call into column panels, and each thread takes a share of the batch
// rows for the whole sequence: a row's recurrence reads no other row, so the threads never wait for
// each other between steps. Per step and per block of rows (6 with AVX-512, 3 with AVX2), a register
// tile adds the block's h·W_hhᵀ into its gate rows, panel by panel, and the row math of the per-step
// kernel (lstm_rows.h) then runs on those rows while they are still in cache. Backward is the same
// walk in reverse: the gate backward of a block's rows, then their dh = d_gates·W_hh from a panel
// packing of W_hh itself.
//
// The register tile is [rows × 4 vectors]: per k, 4 panel loads and one broadcast per row feed
// 4 FMAs per row (24 accumulators with AVX-512, 12 with AVX2), as in the convolution's direct
// tile (conv_direct.cpp), whose vector helpers it uses.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "tensor/cpu/lstm_rows.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"
#include "tensor/parallel.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#define FOCUS_LSTM_SEQUENCE 1
#include "tensor/cpu/conv_internal.h"
#include "tensor/cpu/conv_vector.h"
#endif

namespace focus::kernels::FOCUS_CPU_VARIANT {

#ifdef FOCUS_LSTM_SEQUENCE

namespace {

using conv_detail::broadcast;
using conv_detail::fmadd;
using conv_detail::kVectorLanes;
using conv_detail::kVectorRegisters;
using conv_detail::load_partial;
using conv_detail::load_vector;
using conv_detail::loadu_vector;
using conv_detail::store_partial;
using conv_detail::storeu_vector;
using conv_detail::Vector;
using conv_detail::zero_vector;
using lstm_detail::FloatLanes;

constexpr int kPanelVectors = 4;
constexpr int64_t kPanelWidth = kPanelVectors * kVectorLanes;  // columns per panel: 64 (AVX-512), 32 (AVX2)
constexpr int kTileRows = kVectorRegisters == 32 ? 6 : 3;

// A matrix B [K, N] as column panels: panel p holds columns [p·W, p·W + W) (W = kPanelWidth) as K
// rows of W floats, zeros past column N. Each tile then reads one contiguous, aligned row per k.
struct Panels {
  int64_t K = 0, N = 0, count = 0;
  conv_detail::Scratch<float> data;
  const float* panel(int64_t p) const { return data.get() + p * K * kPanelWidth; }
};

Panels empty_panels(int64_t K, int64_t N) {
  Panels b;
  b.K = K;
  b.N = N;
  b.count = conv_detail::ceil_div(N, kPanelWidth);
  b.data = conv_detail::scratch<float>(b.count * K * kPanelWidth);
  if (N % kPanelWidth != 0)  // the last panel's columns past N
    std::fill_n(b.data.get() + (b.count - 1) * K * kPanelWidth, K * kPanelWidth, 0.0f);
  return b;
}

// B = wᵀ for w [N, K] row-major (forward: W_hh [4H, H] gives W_hhᵀ [H, 4H]). Each 8×8 block of w
// is transposed in registers; the last K % 8 columns one float at a time.
Panels pack_transposed(const float* w, int64_t N, int64_t K) {
  Panels b = empty_panels(K, N);
  float* out = b.data.get();
  const int64_t whole_k = K / 8 * 8;
  parallel_for(0, b.count, 1, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) {
      float* panel = out + p * K * kPanelWidth;
      for (int64_t n0 = p * kPanelWidth; n0 < std::min(N, (p + 1) * kPanelWidth); n0 += 8) {
        const int64_t rows = std::min<int64_t>(8, N - n0);
        for (int64_t k0 = 0; k0 < whole_k; k0 += 8)
          conv_detail::transpose_block(w + n0 * K + k0, K, panel + k0 * kPanelWidth + (n0 - p * kPanelWidth),
                                       kPanelWidth, rows);
        for (int64_t n = n0; n < n0 + rows; ++n)
          for (int64_t k = whole_k; k < K; ++k) panel[k * kPanelWidth + (n - p * kPanelWidth)] = w[n * K + k];
      }
    }
  });
  return b;
}

// B = w for w [K, N] row-major (backward: W_hh [4H, H] itself): row segments copied as they are.
Panels pack_rows(const float* w, int64_t K, int64_t N) {
  Panels b = empty_panels(K, N);
  float* out = b.data.get();
  parallel_for(0, b.count, 1, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) {
      const int64_t columns = std::min(kPanelWidth, N - p * kPanelWidth);
      for (int64_t k = 0; k < K; ++k)
        conv_detail::copy_floats(w + k * N + p * kPanelWidth, columns, out + (p * K + k) * kPanelWidth);
    }
  });
  return b;
}

// c[r][0, n) (+)= Σ_k a[r·lda + k] · panel[k·W + j] for the tile's Rows rows and the panel's first n
// columns: Rows × 4 accumulators, 4 panel loads and Rows broadcasts per k.
template <int Rows>
void panel_tile(int64_t K, const float* a, int64_t lda, const float* panel, float* c, int64_t ldc, int64_t n,
                bool accumulate) {
  Vector acc[Rows][kPanelVectors];
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < kPanelVectors; ++v) acc[r][v] = zero_vector();
  for (int64_t k = 0; k < K; ++k) {
    Vector w[kPanelVectors];
    for (int v = 0; v < kPanelVectors; ++v) w[v] = load_vector(panel + k * kPanelWidth + v * kVectorLanes);
    for (int r = 0; r < Rows; ++r) {
      const Vector x = broadcast(a + r * lda + k);
      for (int v = 0; v < kPanelVectors; ++v) acc[r][v] = fmadd(x, w[v], acc[r][v]);
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < kPanelVectors; ++v) {
      const int64_t column = v * kVectorLanes, count = std::min<int64_t>(kVectorLanes, n - column);
      if (count <= 0) break;
      float* out = c + r * ldc + column;
      if (count == kVectorLanes) {
        storeu_vector(out, accumulate ? acc[r][v] + loadu_vector(out) : acc[r][v]);
      } else {
        const int lanes = static_cast<int>(count);
        store_partial(out, accumulate ? acc[r][v] + load_partial(out, lanes) : acc[r][v], lanes);
      }
    }
}

// One tile of `rows` (1..kTileRows) rows: panel_tile<rows>.
template <int Rows = kTileRows>
void rows_tile(int rows, int64_t K, const float* a, int64_t lda, const float* panel, float* c, int64_t ldc,
               int64_t n, bool accumulate) {
  if (rows != Rows) {
    if constexpr (Rows > 1) rows_tile<Rows - 1>(rows, K, a, lda, panel, c, ldc, n, accumulate);
    return;
  }
  panel_tile<Rows>(K, a, lda, panel, c, ldc, n, accumulate);
}

// Depth per pass over a panel: a 64-wide panel's slice is then 16 KB, which stays in L1 while every
// row tile of the thread reads it (a whole panel, 64 KB at K = 256, would come from L2 for each).
constexpr int64_t kDepthBlock = 64;

// c [rows, N] (+)= a [rows, K] · B for a thread's rows: per panel and depth slice, every row tile.
// The rows are dealt into tiles of nearly equal height (32 → 6, 6, 5, 5, 5, 5, not five 6s and a 2).
void rows_times_panels(int64_t rows, const float* a, int64_t lda, const Panels& b, float* c, int64_t ldc,
                       bool accumulate) {
  const int64_t tiles = conv_detail::ceil_div(rows, kTileRows);
  for (int64_t p = 0; p < b.count; ++p) {
    const int64_t n = std::min(kPanelWidth, b.N - p * kPanelWidth);
    for (int64_t k0 = 0; k0 < b.K; k0 += kDepthBlock) {
      const int64_t depth = std::min(kDepthBlock, b.K - k0);
      const float* slice = b.panel(p) + k0 * kPanelWidth;
      for (int64_t tile = 0, row = 0; tile < tiles; ++tile) {
        const int height = static_cast<int>(rows / tiles + (tile < rows % tiles ? 1 : 0));
        rows_tile(height, depth, a + row * lda + k0, lda, slice, c + row * ldc + p * kPanelWidth, ldc, n,
                  accumulate || k0 > 0);
        row += height;
      }
    }
  }
}

// Whether row b's sequence has ended by time t (lengths empty: none ever ends).
bool ended(const std::vector<int64_t>& lengths, int64_t b, int64_t t) {
  return !lengths.empty() && t >= lengths[static_cast<size_t>(b)];
}

// Throws unless every tensor in `tensors` is defined, contiguous float32 of its shape.
void expect_buffers(std::initializer_list<std::tuple<const Tensor*, const char*, Shape>> tensors, const char* op) {
  for (const auto& [t, what, shape] : tensors) {
    check_defined(*t, op);
    if (t->shape() != shape || !t->is_contiguous() || t->dtype() != kFloat32)
      throw std::invalid_argument(fmt::format("{}: expected {} to be a contiguous float32 tensor of shape {}, got {} {}{}",
                                              op, what, shape_str(shape), dtype_name(t->dtype()),
                                              shape_str(t->shape()), t->is_contiguous() ? "" : " (not contiguous)"));
  }
}

}  // namespace

#endif  // FOCUS_LSTM_SEQUENCE

bool lstm_sequence_available(const Tensor& like) {
  if (!like.defined() || !like.device().is_cpu()) return false;
  FOCUS_DISPATCH_TO_CPU_VARIANT(lstm_sequence_available(like));
#ifdef FOCUS_LSTM_SEQUENCE
  return like.dtype() == kFloat32;
#else
  return false;
#endif
}

void lstm_sequence_forward(const LSTMSequence& s, const Tensor& weight_hh, const Tensor& bias,
                           const std::vector<int64_t>& lengths, bool reverse) {
  FOCUS_DISPATCH_TO_CPU_VARIANT(lstm_sequence_forward(s, weight_hh, bias, lengths, reverse));
#ifdef FOCUS_LSTM_SEQUENCE
  const char* op = "lstm_sequence_forward";
  check_defined(s.gates, op);
  const int64_t T = s.gates.size(0), B = s.gates.size(1), H = s.gates.size(2) / 4;
  expect_buffers({{&s.gates, "gates", {T, B, 4 * H}}, {&s.h_prev, "h_prev", {T, B, H}}, {&s.c_prev, "c_prev", {T, B, H}},
                  {&s.tanh_c_new, "tanh_c_new", {T, B, H}}, {&s.output, "output", {T, B, H}}, {&s.h_n, "h_n", {B, H}},
                  {&s.c_n, "c_n", {B, H}}, {&weight_hh, "weight_hh", {4 * H, H}}},
                 op);
  if (bias.defined()) expect_buffers({{&bias, "bias", {4 * H}}}, op);
  const Panels w = pack_transposed(weight_hh.data<float>(), 4 * H, H);  // W_hhᵀ [H, 4H]
  float *gates = s.gates.data<float>(), *h_prev = s.h_prev.data<float>(), *c_prev = s.c_prev.data<float>();
  float *tanh_c = s.tanh_c_new.data<float>(), *output = s.output.data<float>();
  float *h_n = s.h_n.data<float>(), *c_n = s.c_n.data<float>();
  const float* b = bias.defined() ? bias.data<float>() : nullptr;

  parallel_for(0, B, 1, [&](int64_t first_row, int64_t end_row) {
    for (int64_t step = 0; step < T; ++step) {
      const int64_t t = reverse ? T - 1 - step : step, t_next = reverse ? t - 1 : t + 1;
      const bool last = step == T - 1;
      const float *h = h_prev + t * B * H, *c = c_prev + t * B * H;
      float* h_next = last ? h_n : h_prev + t_next * B * H;
      float* c_next = last ? c_n : c_prev + t_next * B * H;
      float* g = gates + t * B * 4 * H;
      // gates[t] rows += h·W_hhᵀ   [rows, H]·[H, 4H]
      rows_times_panels(end_row - first_row, h + first_row * H, H, w, g + first_row * 4 * H, 4 * H,
                        /*accumulate=*/true);
      for (int64_t r = first_row; r < end_row; ++r) {
        float* out = output + (t * B + r) * H;
        lstm_detail::forward_row<float, FloatLanes>(H, g + r * 4 * H, b, c + r * H, out, c_next + r * H,
                                                    tanh_c + (t * B + r) * H);
        if (ended(lengths, r, t)) {  // the state passes through; the output is 0
          conv_detail::copy_floats(h + r * H, H, h_next + r * H);
          conv_detail::copy_floats(c + r * H, H, c_next + r * H);
          conv_detail::zero_floats(out, H);
        } else {
          conv_detail::copy_floats(out, H, h_next + r * H);
        }
      }
    }
  });
#else
  (void)s, (void)weight_hh, (void)bias, (void)lengths, (void)reverse;
  throw std::logic_error("lstm_sequence_forward: not in this kernel build (check lstm_sequence_available first)");
#endif
}

void lstm_sequence_backward(const LSTMSequence& s, const Tensor& weight_hh, const Tensor& d_output,
                            const Tensor& d_gates, const Tensor& dh, const Tensor& dc,
                            const std::vector<int64_t>& lengths, bool reverse) {
  FOCUS_DISPATCH_TO_CPU_VARIANT(lstm_sequence_backward(s, weight_hh, d_output, d_gates, dh, dc, lengths, reverse));
#ifdef FOCUS_LSTM_SEQUENCE
  const char* op = "lstm_sequence_backward";
  check_defined(s.gates, op);
  const int64_t T = s.gates.size(0), B = s.gates.size(1), H = s.gates.size(2) / 4;
  expect_buffers({{&s.gates, "gates", {T, B, 4 * H}}, {&s.c_prev, "c_prev", {T, B, H}},
                  {&s.tanh_c_new, "tanh_c_new", {T, B, H}}, {&weight_hh, "weight_hh", {4 * H, H}},
                  {&d_output, "d_output", {T, B, H}}, {&d_gates, "d_gates", {T, B, 4 * H}}, {&dh, "dh", {B, H}},
                  {&dc, "dc", {B, H}}},
                 op);
  const Panels w = pack_rows(weight_hh.data<float>(), 4 * H, H);  // W_hh [4H, H]
  const float *gates = s.gates.data<float>(), *c_prev = s.c_prev.data<float>();
  const float *tanh_c = s.tanh_c_new.data<float>(), *d_out = d_output.data<float>();
  float* dg = d_gates.data<float>();
  // dh and dc alternate between the caller's buffers and these: a step reads one, writes the other.
  conv_detail::Scratch<float> dh_other = conv_detail::scratch<float>(B * H), dc_other = conv_detail::scratch<float>(B * H);

  parallel_for(0, B, 1, [&](int64_t first_row, int64_t end_row) {
    float *dh_now = dh.data<float>(), *dc_now = dc.data<float>(), *dh_next = dh_other.get(), *dc_next = dc_other.get();
    for (int64_t step = T - 1; step >= 0; --step) {
      const int64_t t = reverse ? T - 1 - step : step;
      float* dg_t = dg + t * B * 4 * H;
      for (int64_t r = first_row; r < end_row; ++r) {
        const int64_t at = t * B + r;
        if (ended(lengths, r, t))
          conv_detail::zero_floats(dg_t + r * 4 * H, 4 * H);
        else  // h fed output[t] and the next step: its gradient is dh + d_output[t]
          lstm_detail::backward_row<float, FloatLanes>(H, gates + at * 4 * H, c_prev + at * H, tanh_c + at * H,
                                                       dh_now + r * H, dc_now + r * H, dg_t + r * 4 * H,
                                                       dc_next + r * H, d_out + at * H);
      }
      // dh = d_gates[t]·W_hh   [rows, 4H]·[4H, H]
      rows_times_panels(end_row - first_row, dg_t + first_row * 4 * H, 4 * H, w, dh_next + first_row * H, H,
                        /*accumulate=*/false);
      for (int64_t r = first_row; r < end_row; ++r)
        if (ended(lengths, r, t)) {  // an ended row's gradients pass through the step
          conv_detail::copy_floats(dh_now + r * H, H, dh_next + r * H);
          conv_detail::copy_floats(dc_now + r * H, H, dc_next + r * H);
        }
      std::swap(dh_now, dh_next);
      std::swap(dc_now, dc_next);
    }
    if (dh_now != dh.data<float>()) {  // an odd number of steps: the result is in the other buffers
      conv_detail::copy_floats(dh_now + first_row * H, (end_row - first_row) * H, dh.data<float>() + first_row * H);
      conv_detail::copy_floats(dc_now + first_row * H, (end_row - first_row) * H, dc.data<float>() + first_row * H);
    }
  });
#else
  (void)s, (void)weight_hh, (void)d_output, (void)d_gates, (void)dh, (void)dc, (void)lengths, (void)reverse;
  throw std::logic_error("lstm_sequence_backward: not in this kernel build (check lstm_sequence_available first)");
#endif
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
