// An LSTM layer's recurrence over all its steps in one kernel call, float32, AVX-512 builds (with AVX2
// the per-step path on OpenBLAS's kernels measured faster: 23.5-24.4 against 25.0-25.7 ms).
//
// lstm_layer (autograd/ops/lstm_layer.cpp) otherwise makes three calls per step: a BLAS GEMM
// h·W_hhᵀ of [B, H] × [H, 4H], the gate math, a copy of h. Each GEMM call packs all of W_hh again
// (1 MB at H = 256) and starts and joins the threads; at B = 64 a step's product is only 34 MFLOP,
// so the packing and the joins took about a fifth of a forward pass.
//
// Here W_hh is packed once per call into column panels, and each thread takes a share of the batch
// rows for the whole sequence: a row's recurrence reads no other row, so the threads never wait for
// each other between steps. Per step, register tiles add the thread's h·W_hhᵀ into its gate rows,
// and the row math of the per-step kernel (lstm_rows.h) then runs on those rows while they are in
// cache. Backward is the same walk in reverse: the gate backward of the thread's rows, then their
// dh = d_gates·W_hh from a panel packing of W_hh itself.
//
// The products are panel_gemm.h's (the panels, the register tile of rows × 4 vectors).
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "tensor/cpu/lstm_rows.h"
#include "tensor/cpu/panel_gemm.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"
#include "tensor/parallel.h"

#ifdef FOCUS_PANEL_GEMM
#define FOCUS_LSTM_SEQUENCE 1
#endif

namespace focus::kernels::FOCUS_CPU_VARIANT {

#ifdef FOCUS_LSTM_SEQUENCE

namespace {

using lstm_detail::FloatLanes;

// Whether row b's sequence has ended by time t (lengths empty: none ever ends).
bool ended(const std::vector<int64_t>& lengths, int64_t b, int64_t t) {
  return !lengths.empty() && t >= lengths[static_cast<size_t>(b)];
}

// Throws unless every tensor in `tensors` is defined, contiguous float32 of its shape.
void expect_buffers(std::initializer_list<std::tuple<const Tensor*, const char*, Shape>> tensors, const char* op) {
  for (const auto& [t, what, shape] : tensors) {
    check_defined(*t, op);
    if (t->shape() != shape || !t->is_contiguous() || t->dtype() != kFloat32)
      throw std::invalid_argument(fmt::format(
          "{}: expected {} to be a contiguous float32 tensor of shape {}, got {} {}{}", op, what, shape_str(shape),
          dtype_name(t->dtype()), shape_str(t->shape()), t->is_contiguous() ? "" : " (not contiguous)"));
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
  expect_buffers({{&s.gates, "gates", {T, B, 4 * H}},
                  {&s.h_prev, "h_prev", {T, B, H}},
                  {&s.c_prev, "c_prev", {T, B, H}},
                  {&s.tanh_c_new, "tanh_c_new", {T, B, H}},
                  {&s.output, "output", {T, B, H}},
                  {&s.h_n, "h_n", {B, H}},
                  {&s.c_n, "c_n", {B, H}},
                  {&weight_hh, "weight_hh", {4 * H, H}}},
                 op);
  if (bias.defined()) expect_buffers({{&bias, "bias", {4 * H}}}, op);
  // W_hhᵀ [H, 4H]: the transpose of the row-major W_hh [4H, H]
  const panel_gemm::Panels w = panel_gemm::pack(weight_hh.data<float>(), BlasMatrix{true, H}, H, 4 * H);
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
      panel_gemm::multiply_rows(end_row - first_row, h + first_row * H, H, w, 1.0f, /*beta=*/1.0f,
                                g + first_row * 4 * H, 4 * H);
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
  // The rules, derived with their shapes, are LSTMLayerBackward's (autograd/ops/lstm_layer.cpp); a row's
  // gate backward is lstm_rows.h's backward_row.
  const char* op = "lstm_sequence_backward";
  check_defined(s.gates, op);
  const int64_t T = s.gates.size(0), B = s.gates.size(1), H = s.gates.size(2) / 4;
  expect_buffers({{&s.gates, "gates", {T, B, 4 * H}}, {&s.c_prev, "c_prev", {T, B, H}},
                  {&s.tanh_c_new, "tanh_c_new", {T, B, H}}, {&weight_hh, "weight_hh", {4 * H, H}},
                  {&d_output, "d_output", {T, B, H}}, {&d_gates, "d_gates", {T, B, 4 * H}}, {&dh, "dh", {B, H}},
                  {&dc, "dc", {B, H}}},
                 op);
  const panel_gemm::Panels w = panel_gemm::pack(weight_hh.data<float>(), BlasMatrix{false, H}, 4 * H, H);
  const float *gates = s.gates.data<float>(), *c_prev = s.c_prev.data<float>();
  const float *tanh_c = s.tanh_c_new.data<float>(), *d_out = d_output.data<float>();
  float* dg = d_gates.data<float>();
  // dh and dc alternate between the caller's buffers and these: a step reads one, writes the other.
  conv_detail::Scratch<float> dh_other = conv_detail::scratch<float>(B * H),
                              dc_other = conv_detail::scratch<float>(B * H);

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
      panel_gemm::multiply_rows(end_row - first_row, dg_t + first_row * 4 * H, 4 * H, w, 1.0f, /*beta=*/0.0f,
                                dh_next + first_row * H, H);
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
