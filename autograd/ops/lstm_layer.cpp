// lstm_layer: one LSTM layer in one direction over a whole sequence, as ONE op.
//
// Speed: the input part of every step's gates, x_t·W_ihᵀ, does not depend on the
// state, so it is computed for all T steps at once, as one [T·B, I] × [I, 4H]
// GEMM straight into the gate buffer; what is left per step is one h·W_hhᵀ GEMM
// (added onto that buffer) and the fused gate pass (kernels::lstm_gates_forward).
// Backward mirrors it: per step one d_gates·W_hh GEMM, then the weight gradients
// and dx as single GEMMs over all T·B rows. On the CPU in float32 the per-step part
// (forward and backward) is one kernel call for the whole sequence,
// kernels::lstm_sequence_forward/backward: W_hh packed once, no thread joins between steps.
//
// Why not one lstm_cell per step: backward would then slice the [T, B, 4H] gate
// input per step (a select's backward materialises a full-size gradient, T times
// over), and dW_hh = Σ_t d_gates_tᵀ·h_{t−1} would be T thin GEMMs added up.
//
// Variable lengths (padded batches) follow PyTorch's packed sequences: at a step
// t ≥ lengths[b], row b keeps its state unchanged and outputs zeros, so h_n is the
// state after each sequence's own last step, and a reverse pass starts each
// sequence at its own last real step. The lengths are bookkeeping that the host reads
// (like PyTorch, which wants them on the CPU): keep them in a CPU tensor, and a GPU never
// has to wait for them. Everything else is a kernels:: call on the input's device, so the
// same code runs on a GPU without a copy to the host.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

Tensor contiguous_or_self(const Tensor& t) { return t.is_contiguous() ? t : kernels::contiguous_copy(t); }

// Which steps are real, for padded batches: [T, B] Bool on `device`, true where t < lengths[b]
// (a row with t >= lengths[b] has ended: its state passes through kernels::lstm_carry_padded_rows).
// Built on the host, where the lengths are; sent to a GPU from pinned memory, so the copy is
// queued with the GPU's work instead of making the host wait.
Tensor real_steps(const std::vector<int64_t>& lengths, int64_t T, Device device) {
  const int64_t B = static_cast<int64_t>(lengths.size());
  Tensor host = empty({T, B}, TensorOptions(kBool));
  bool* real = host.data<bool>();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < B; ++b) real[t * B + b] = t < lengths[static_cast<size_t>(b)];
  return device.is_cpu() ? host : host.pin_memory().to(device, /*non_blocking=*/true);
}

// Padding bookkeeping shared by forward and backward: at steps t >= shortest some rows have ended.
struct Padding {
  Tensor real;                   // [T, B] Bool from real_steps(); undefined when no row is ever padded
  std::vector<int64_t> lengths;  // the same on the host, for kernels::lstm_sequence_*; empty when none is
  int64_t shortest = 0;          // the smallest length

  bool at(int64_t t) const { return real.defined() && t >= shortest; }
  Tensor real_at(int64_t t) const { return views::select(real, 0, t); }
};

// [T, B, n] viewed as the [T·B, n] matrix the GEMMs over all steps work on.
Tensor rows_of(const Tensor& t) { return views::reshape_view(t, {t.shape()[0] * t.shape()[1], t.shape()[2]}); }

// Everything forward keeps for backward, indexed by time t (not by step).
struct Saved {
  Tensor input;       // (T, B, I) contiguous
  Tensor gates;       // (T, B, 4H) activated gates σ(i), σ(f), tanh(g), σ(o)
  Tensor h_prev;      // (T, B, H) the hidden state entering the step at time t
  Tensor c_prev;      // (T, B, H) the cell state entering it
  Tensor tanh_c_new;  // (T, B, H) tanh of the cell state it produced
};

class LSTMLayerBackward : public Node {
 public:
  LSTMLayerBackward(Saved saved, Tensor weight_ih, Tensor weight_hh, Padding padding, bool reverse)
      : saved_(std::move(saved)),
        weight_ih_(save(weight_ih, "weight_ih")),
        weight_hh_(save(weight_hh, "weight_hh")),
        padding_(std::move(padding)),
        reverse_(reverse) {
    // The other buffers were written by the forward alone; the input is the caller's (or a copy).
    saved_.input = save(saved_.input, "input");
  }
  std::string name() const override { return "LSTMLayerBackward"; }

  // forward, per step at time t (t = 0..T−1, or T−1..0 when reverse):
  //   gates_t = x_t·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh;  (h, c) ← lstm gates(gates_t, c);  output[t] = h
  //   (padded rows: state unchanged, output[t] = 0)
  // so, walking the steps backwards from dh = dh_n, dc = dc_n:
  //   (d_gates[t], dc) = lstm gates backward(dh + d_output[t], dc)   (B, 4H), (B, H): see lstm_cell.cpp
  //   dh = d_gates[t]·W_hh                                            (B, H)
  //   (padded rows: d_gates[t] = 0; dh and dc pass through unchanged; output[t] = 0 there gets no gradient)
  // and then, for what all steps share, one GEMM each over the T·B rows:
  //   dx = d_gates·W_ih (T, B, I);  dW_ih = d_gatesᵀ·x (4H, I);  dW_hh = d_gatesᵀ·h_prev (4H, H)
  //   db_ih = db_hh = Σ_{t,b} d_gates (4H);  dh0 = dh;  dc0 = dc
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor d_output = contiguous_or_self(grad_outputs[0]);
    const int64_t T = saved_.gates.shape()[0], B = saved_.gates.shape()[1], H = saved_.gates.shape()[2] / 4;
    const TensorOptions options = TensorOptions(saved_.gates.dtype()).with_device(saved_.gates.device());
    // Every step writes its rows of d_gates whole: no clearing.
    Tensor d_gates = empty_for_overwrite({T, B, 4 * H}, options);
    // The gradients of h_n and c_n, taken back step by step to those of h0 and c0.
    Tensor dh = kernels::contiguous_copy(grad_outputs[1]), dc = kernels::contiguous_copy(grad_outputs[2]);

    if (kernels::lstm_sequence_available(d_gates)) {  // all steps in one call (tensor/cpu/lstm_sequence.cpp)
      kernels::lstm_sequence_backward(sequence(), contiguous_or_self(weight_hh_), d_output, d_gates, dh, dc,
                                      padding_.lengths, reverse_);
    } else {
      step_by_step(d_output, d_gates, dh, dc);
    }

    std::vector<Tensor> grads(7);
    const Tensor d_gate_rows = rows_of(d_gates);
    if (needs_input_grad(0)) grads[0] = kernels::matmul(d_gates, weight_ih_);
    if (needs_input_grad(1)) grads[1] = dh;
    if (needs_input_grad(2)) grads[2] = dc;
    if (needs_input_grad(3)) grads[3] = kernels::matmul(views::transpose(d_gate_rows, 0, 1), rows_of(saved_.input));
    if (needs_input_grad(4)) grads[4] = kernels::matmul(views::transpose(d_gate_rows, 0, 1), rows_of(saved_.h_prev));
    if (needs_input_grad(5) || needs_input_grad(6)) {
      Tensor d_bias = kernels::sum(d_gates, {0, 1}, false);
      if (needs_input_grad(5)) grads[5] = d_bias;
      if (needs_input_grad(6)) grads[6] = d_bias;
    }
    return grads;
  }

 private:
  // The buffers forward filled, as kernels::lstm_sequence_backward reads them.
  kernels::LSTMSequence sequence() const {
    return {saved_.gates, saved_.h_prev, saved_.c_prev, saved_.tanh_c_new, Tensor(), Tensor(), Tensor()};
  }

  // The backward recurrence one kernel call at a time (other devices and dtypes); dh and dc end up
  // holding the gradients of h0 and c0.
  void step_by_step(const Tensor& d_output, const Tensor& d_gates, Tensor& dh, Tensor& dc) const {
    const TensorOptions options = TensorOptions(dh.dtype()).with_device(dh.device());
    const int64_t T = saved_.gates.shape()[0];
    // dh and dc ping-pong between two buffers each: a step reads one and writes the other.
    Tensor dh_next = empty_for_overwrite(dh.shape(), options), dc_next = empty_for_overwrite(dc.shape(), options);
    for (int64_t step = T - 1; step >= 0; --step) {
      const int64_t t = reverse_ ? T - 1 - step : step;
      const Tensor dh_total = kernels::add(dh, views::select(d_output, 0, t));  // h fed output[t] and the next step
      Tensor d_gates_t = views::select(d_gates, 0, t);
      kernels::lstm_gates_backward(views::select(saved_.gates, 0, t), views::select(saved_.c_prev, 0, t),
                                   views::select(saved_.tanh_c_new, 0, t), dh_total, dc, d_gates_t, dc_next);
      kernels::gemm(d_gates_t, false, weight_hh_, false, dh_next, 1.0, 0.0);
      if (padding_.at(t)) kernels::lstm_carry_padded_rows(padding_.real_at(t), dh_next, dh, dc_next, dc, d_gates_t);
      std::swap(dh, dh_next);
      std::swap(dc, dc_next);
    }
  }

  Saved saved_;
  Tensor weight_ih_, weight_hh_;
  Padding padding_;
  bool reverse_;
};

void check_layer_args(const Tensor& input, const Tensor& h0, const Tensor& c0, const Tensor& weight_ih,
                      const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh, const Tensor& lengths) {
  const char* op = "lstm_layer";
  for (const Tensor* t : {&input, &h0, &c0, &weight_ih, &weight_hh}) check_defined(*t, op);
  auto shapes = [&] {
    return fmt::format("input {}, h0 {}, c0 {}, weight_ih {}, weight_hh {}, bias_ih {}, bias_hh {}",
                       shape_str(input.shape()), shape_str(h0.shape()), shape_str(c0.shape()),
                       shape_str(weight_ih.shape()), shape_str(weight_hh.shape()),
                       bias_ih.defined() ? shape_str(bias_ih.shape()) : "none",
                       bias_hh.defined() ? shape_str(bias_hh.shape()) : "none");
  };
  if (input.dim() != 3 || h0.dim() != 2)
    throw std::invalid_argument(fmt::format(
        "{}: expected input [T, B, I], h0 and c0 [B, H], weight_ih [4H, I], weight_hh [4H, H], biases [4H]; got {}",
        op, shapes()));
  const int64_t T = input.shape()[0], B = input.shape()[1], I = input.shape()[2], H = h0.shape()[1];
  if (T == 0 || B == 0)
    throw std::invalid_argument(fmt::format("{}: expected a non-empty sequence and batch, got {}", op, shapes()));
  const bool ok = h0.shape()[0] == B && c0.shape() == h0.shape() && weight_ih.shape() == Shape{4 * H, I} &&
                  weight_hh.shape() == Shape{4 * H, H} && (!bias_ih.defined() || bias_ih.shape() == Shape{4 * H}) &&
                  (!bias_hh.defined() || bias_hh.shape() == Shape{4 * H});
  if (!ok)
    throw std::invalid_argument(
        fmt::format("{}: with input [T={}, B={}, I={}] and h0 [B, H={}], expected h0 and c0 [{}, {}], weight_ih "
                    "[{}, {}], weight_hh [{}, {}], biases [{}]; got {}",
                    op, T, B, I, H, B, H, 4 * H, I, 4 * H, H, 4 * H, shapes()));
  for (const Tensor* t : {&h0, &c0, &weight_ih, &weight_hh, &bias_ih, &bias_hh}) {
    if (!t->defined()) continue;
    check_same_device(input, *t, op);
    if (t->dtype() != input.dtype())
      throw std::invalid_argument(fmt::format("{}: expected all operands to be {} like the input, got {}", op,
                                              dtype_name(input.dtype()), dtype_name(t->dtype())));
  }
  if (!is_floating(input.dtype()))
    throw std::invalid_argument(
        fmt::format("{}: expected float32 or float64 tensors, got {}", op, dtype_name(input.dtype())));
  if (lengths.defined()) {
    if (lengths.dtype() != kInt64 || lengths.shape() != Shape{B})
      throw std::invalid_argument(fmt::format("{}: expected lengths to be an int64 tensor of shape [{}], got {} {}",
                                              op, B, dtype_name(lengths.dtype()), shape_str(lengths.shape())));
    for (int64_t length : lengths.to_vector<int64_t>())
      if (length < 1 || length > T)
        throw std::invalid_argument(
            fmt::format("{}: every length must be in [1, {}] (the sequence length T), got {}", op, T, length));
  }
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> lstm_layer(const Tensor& input, const Tensor& h0, const Tensor& c0,
                                              const Tensor& weight_ih, const Tensor& weight_hh,
                                              const Tensor& bias_ih, const Tensor& bias_hh, const Tensor& lengths,
                                              bool reverse) {
  check_layer_args(input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths);
  const int64_t T = input.shape()[0], B = input.shape()[1], H = h0.shape()[1];
  const TensorOptions options = TensorOptions(input.dtype()).with_device(input.device());
  Padding padding;
  if (lengths.defined()) {
    const std::vector<int64_t> lengths_list = lengths.to_vector<int64_t>();
    padding.shortest = *std::min_element(lengths_list.begin(), lengths_list.end());
    if (padding.shortest < T) {  // else: nothing padded
      padding.real = real_steps(lengths_list, T, input.device());
      padding.lengths = lengths_list;
    }
  }

  Saved saved;
  saved.input = contiguous_or_self(input);
  // All written whole by the steps below (the input GEMM fills the gates, each step the next
  // state, its output and tanh(c)): none needs clearing.
  saved.gates = empty_for_overwrite({T, B, 4 * H}, options);
  saved.h_prev = empty_for_overwrite({T, B, H}, options);
  saved.c_prev = empty_for_overwrite({T, B, H}, options);
  saved.tanh_c_new = empty_for_overwrite({T, B, H}, options);
  Tensor output = empty_for_overwrite({T, B, H}, options);
  Tensor h_n = empty_for_overwrite({B, H}, options), c_n = empty_for_overwrite({B, H}, options);
  Tensor bias;  // the two biases only ever appear summed
  if (bias_ih.defined() && bias_hh.defined())
    bias = kernels::add(bias_ih, bias_hh);
  else if (bias_ih.defined() || bias_hh.defined())
    bias = contiguous_or_self(bias_ih.defined() ? bias_ih : bias_hh);

  // The input's share of every step's gates, in one GEMM: [T·B, I] @ [I, 4H].
  kernels::gemm(rows_of(saved.input), false, weight_ih, true, rows_of(saved.gates), 1.0, 0.0);

  const int64_t first = reverse ? T - 1 : 0;
  kernels::copy(views::select(saved.h_prev, 0, first), h0);
  kernels::copy(views::select(saved.c_prev, 0, first), c0);
  if (kernels::lstm_sequence_available(input)) {  // all steps in one call (tensor/cpu/lstm_sequence.cpp)
    kernels::lstm_sequence_forward({saved.gates, saved.h_prev, saved.c_prev, saved.tanh_c_new, output, h_n, c_n},
                                   contiguous_or_self(weight_hh), bias, padding.lengths, reverse);
  } else {
    for (int64_t step = 0; step < T; ++step) {
      const int64_t t = reverse ? T - 1 - step : step;
      const bool last = step == T - 1;
      const int64_t t_next = reverse ? t - 1 : t + 1;
      Tensor gates_t = views::select(saved.gates, 0, t);
      Tensor h = views::select(saved.h_prev, 0, t), c = views::select(saved.c_prev, 0, t);
      Tensor h_out = views::select(output, 0, t);
      // The next step's state goes where that step will look for it.
      Tensor h_next = last ? h_n : views::select(saved.h_prev, 0, t_next);
      Tensor c_next = last ? c_n : views::select(saved.c_prev, 0, t_next);

      kernels::gemm(h, false, weight_hh, true, gates_t, 1.0, 1.0);
      kernels::lstm_gates_forward(gates_t, bias, c, h_out, c_next, views::select(saved.tanh_c_new, 0, t));
      kernels::copy(h_next, h_out);
      if (padding.at(t)) kernels::lstm_carry_padded_rows(padding.real_at(t), h_next, h, c_next, c, h_out);
    }
  }

  if (any_requires_grad({input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh}))
    connect(std::make_shared<LSTMLayerBackward>(saved, weight_ih, weight_hh, padding, reverse),
            {input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh}, {output, h_n, c_n});
  return {output, h_n, c_n};
}

}  // namespace focus
