// lstm_cell: one LSTM step, fused. Two GEMMs into one [B, 4H] gate buffer, then
// one elementwise pass (kernels::lstm_gates_forward) for the nonlinearities and
// the cell update; backward is the mirror image. PyTorch's gate order i, f, g, o.
// Every step is a kernels:: call on the operands' device: the same code runs on a GPU.
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

Tensor contiguous_or_self(const Tensor& t) { return t.is_contiguous() ? t : kernels::contiguous_copy(t); }

class LSTMCellBackward : public Node {
 public:
  LSTMCellBackward(Tensor input, Tensor h, Tensor c, Tensor weight_ih, Tensor weight_hh, Tensor gates,
                   Tensor tanh_c_new)
      : input_(save(input, "input")),
        h_(save(h, "h")),
        c_(save(c, "c")),
        weight_ih_(save(weight_ih, "weight_ih")),
        weight_hh_(save(weight_hh, "weight_hh")),
        gates_(std::move(gates)),
        tanh_c_new_(std::move(tanh_c_new)) {}
  std::string name() const override { return "LSTMCellBackward"; }

  // forward: gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh                 (B, 4H) = i | f | g | o
  //          i, f, o = σ(gates_i, gates_f, gates_o); g = tanh(gates_g)  (B, H) each
  //          c' = f⊙c + i⊙g;  h' = o⊙tanh(c')                          (B, H)
  // so, with dh' and dc' given (B, H):
  //   dc'_total = dc' + dh'⊙o⊙(1 − tanh²c')     (h' depends on c' too)
  //   do = dh'⊙tanh c';  di = dc'_total⊙g;  dg = dc'_total⊙i;  df = dc'_total⊙c;  dc = dc'_total⊙f
  //   d_gates = [di⊙i(1−i), df⊙f(1−f), dg⊙(1−g²), do⊙o(1−o)]        (B, 4H)  (one fused pass)
  // and through the affine map (gates is linear in x, h, W and b):
  //   dx = d_gates·W_ih (B, I);  dh = d_gates·W_hh (B, H)
  //   dW_ih = d_gatesᵀ·x (4H, I);  dW_hh = d_gatesᵀ·h (4H, H);  db_ih = db_hh = Σ_B d_gates (4H)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor dh_new = contiguous_or_self(grad_outputs[0]);
    const Tensor dc_new = contiguous_or_self(grad_outputs[1]);
    const TensorOptions options = TensorOptions(gates_.dtype()).with_device(gates_.device());
    Tensor d_gates = empty_for_overwrite(gates_.shape(), options);
    Tensor dc = empty_for_overwrite(c_.shape(), options);
    kernels::lstm_gates_backward(gates_, c_, tanh_c_new_, dh_new, dc_new, d_gates, dc);

    std::vector<Tensor> grads(7);
    if (needs_input_grad(0)) grads[0] = kernels::matmul(d_gates, weight_ih_);
    if (needs_input_grad(1)) grads[1] = kernels::matmul(d_gates, weight_hh_);
    if (needs_input_grad(2)) grads[2] = dc;
    if (needs_input_grad(3)) grads[3] = kernels::matmul(views::transpose(d_gates, 0, 1), input_);
    if (needs_input_grad(4)) grads[4] = kernels::matmul(views::transpose(d_gates, 0, 1), h_);
    if (needs_input_grad(5) || needs_input_grad(6)) {
      Tensor d_bias = kernels::sum(d_gates, {0}, false);
      if (needs_input_grad(5)) grads[5] = d_bias;
      if (needs_input_grad(6)) grads[6] = d_bias;
    }
    return grads;
  }

 private:
  Tensor input_, h_, c_, weight_ih_, weight_hh_;
  Tensor gates_;       // activated: σ(i), σ(f), tanh(g), σ(o)
  Tensor tanh_c_new_;  // tanh(c'), shared by dh' → dc' and do
};

// Checks every operand against the shapes the input and hidden state imply, naming all of them on failure.
void check_lstm_cell_args(const Tensor& input, const Tensor& h, const Tensor& c, const Tensor& weight_ih,
                          const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh) {
  const char* op = "lstm_cell";
  for (const Tensor* t : {&input, &h, &c, &weight_ih, &weight_hh}) check_defined(*t, op);
  auto shapes = [&] {
    return fmt::format("input {}, h {}, c {}, weight_ih {}, weight_hh {}, bias_ih {}, bias_hh {}",
                       shape_str(input.shape()), shape_str(h.shape()), shape_str(c.shape()),
                       shape_str(weight_ih.shape()), shape_str(weight_hh.shape()),
                       bias_ih.defined() ? shape_str(bias_ih.shape()) : "none",
                       bias_hh.defined() ? shape_str(bias_hh.shape()) : "none");
  };
  if (input.dim() != 2 || h.dim() != 2 || weight_hh.dim() != 2 || weight_ih.dim() != 2)
    throw std::invalid_argument(fmt::format(
        "{}: expected input [B, I], h and c [B, H], weight_ih [4H, I], weight_hh [4H, H], got {}", op, shapes()));
  const int64_t B = input.shape()[0], I = input.shape()[1], H = h.shape()[1];
  const bool ok = h.shape()[0] == B && c.shape() == h.shape() && weight_ih.shape() == Shape{4 * H, I} &&
                  weight_hh.shape() == Shape{4 * H, H} && (!bias_ih.defined() || bias_ih.shape() == Shape{4 * H}) &&
                  (!bias_hh.defined() || bias_hh.shape() == Shape{4 * H});
  if (!ok)
    throw std::invalid_argument(fmt::format(
        "{}: with input [B={}, I={}] and h [B, H={}], expected h and c [{}, {}], weight_ih [{}, {}], weight_hh "
        "[{}, {}], biases [{}]; got {}",
        op, B, I, H, B, H, 4 * H, I, 4 * H, H, 4 * H, shapes()));
  for (const Tensor* t : {&h, &c, &weight_ih, &weight_hh, &bias_ih, &bias_hh}) {
    if (!t->defined()) continue;
    check_same_device(input, *t, op);
    if (t->dtype() != input.dtype())
      throw std::invalid_argument(fmt::format("{}: expected all operands to be {} like the input, got {}", op,
                                              dtype_name(input.dtype()), dtype_name(t->dtype())));
  }
  if (!is_floating(input.dtype()))
    throw std::invalid_argument(
        fmt::format("{}: expected float32 or float64 tensors, got {}", op, dtype_name(input.dtype())));
}

}  // namespace

std::pair<Tensor, Tensor> lstm_cell(const Tensor& input, const Tensor& h, const Tensor& c, const Tensor& weight_ih,
                                    const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh) {
  check_lstm_cell_args(input, h, c, weight_ih, weight_hh, bias_ih, bias_hh);
  const int64_t B = input.shape()[0], H = h.shape()[1];
  const TensorOptions options = TensorOptions(input.dtype()).with_device(input.device());

  Tensor gates = empty_for_overwrite({B, 4 * H}, options);
  kernels::gemm(input, false, weight_ih, true, gates, 1.0, 0.0);
  kernels::gemm(h, false, weight_hh, true, gates, 1.0, 1.0);
  Tensor bias;  // the two biases only ever appear summed
  if (bias_ih.defined() && bias_hh.defined())
    bias = kernels::add(bias_ih, bias_hh);
  else if (bias_ih.defined() || bias_hh.defined())
    bias = contiguous_or_self(bias_ih.defined() ? bias_ih : bias_hh);

  Tensor c_old = contiguous_or_self(c);
  Tensor h_new = empty_for_overwrite({B, H}, options), c_new = empty_for_overwrite({B, H}, options),
         tanh_c_new = empty_for_overwrite({B, H}, options);
  kernels::lstm_gates_forward(gates, bias, c_old, h_new, c_new, tanh_c_new);

  if (any_requires_grad({input, h, c, weight_ih, weight_hh, bias_ih, bias_hh}))
    connect(std::make_shared<LSTMCellBackward>(input, h, c_old, weight_ih, weight_hh,
                                               gates, tanh_c_new),
            {input, h, c, weight_ih, weight_hh, bias_ih, bias_hh}, {h_new, c_new});
  return {h_new, c_new};
}

}  // namespace focus
