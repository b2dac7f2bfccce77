// linear: y = x @ Wᵀ + b, as torch.nn.functional.linear. The bias is broadcast
// into the output first and the GEMM accumulates onto it (beta = 1), so the
// addition costs no extra pass over y and no temporary.
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

// `t` [..., cols] as a [rows, cols] matrix: a view when the strides allow it, else a copy.
Tensor as_matrix(const Tensor& t, int64_t rows, int64_t cols) {
  Tensor view = views::reshape_view(t, {rows, cols});
  return view.defined() ? view : views::reshape_view(kernels::contiguous_copy(t), {rows, cols});
}

void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined(x, "linear");
  check_defined(weight, "linear");
  if (weight.dim() != 2)
    throw std::invalid_argument(
        fmt::format("linear: weight must have shape [out_features, in_features], got {}", shape_str(weight.shape())));
  if (x.dim() == 0 || x.size(-1) != weight.size(1))
    throw std::invalid_argument(
        fmt::format("linear: input of shape {} and weight of shape {}: the input's last dim must be in_features = {}",
                    shape_str(x.shape()), shape_str(weight.shape()), weight.size(1)));
  if (bias.defined() && bias.shape() != Shape{weight.size(0)})
    throw std::invalid_argument(
        fmt::format("linear: bias of shape {} does not match weight of shape {} (expected [{}])",
                    shape_str(bias.shape()), shape_str(weight.shape()), weight.size(0)));
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    check_same_device(x, *t, "linear");
    if (t->dtype() != x.dtype() || !is_floating(x.dtype()))
      throw std::invalid_argument(
          fmt::format("linear: input, weight and bias must share one floating dtype, got {} and {}",
                      dtype_name(x.dtype()), dtype_name(t->dtype())));
  }
}

class LinearBackward : public Node {
 public:
  LinearBackward(Tensor x_matrix, Tensor weight, Shape x_shape)
      : x_matrix_(save(x_matrix, "x_matrix")), weight_(save(weight, "weight")), x_shape_(std::move(x_shape)) {}
  std::string name() const override { return "LinearBackward"; }

  // forward: y = x @ Wᵀ + b      x (M, K) (leading dims flattened), W (N, K), b (N), y (M, N)
  // so dx = dy @ W     (M, N) @ (N, K) → (M, K), back to x's shape
  //    dW = dyᵀ @ x    (N, M) @ (M, K) → (N, K): the transpose is a view BLAS reads directly
  //    db = Σ_rows dy  (N)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const int64_t M = x_matrix_.size(0), N = weight_.size(0);
    const Tensor dy = as_matrix(grad_outputs[0], M, N);
    Tensor dx, dw, db;
    if (needs_input_grad(0)) dx = views::reshape_view(kernels::matmul(dy, weight_), x_shape_);
    if (needs_input_grad(1)) dw = kernels::matmul(views::transpose(dy, 0, 1), x_matrix_);
    if (needs_input_grad(2)) db = kernels::sum(dy, {0}, false);
    return {dx, dw, db};
  }

 private:
  Tensor x_matrix_, weight_;
  Shape x_shape_;
};

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear(x, weight, bias);
  const int64_t K = weight.size(1), N = weight.size(0);
  const int64_t M = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));  // 1 for a 1-D x
  Shape y_shape = x.shape();
  y_shape.back() = N;

  const Tensor x_matrix = as_matrix(x, M, K);
  // Written whole, by the bias copy or by the GEMM (β = 0): no zero-fill first.
  Tensor y = empty_for_overwrite({M, N}, TensorOptions(x.dtype()).with_device(x.device()));
  if (bias.defined()) kernels::copy(y, bias);  // every row starts as the bias
  kernels::gemm(x_matrix, false, weight, true, y, 1.0, bias.defined() ? 1.0 : 0.0);
  y = views::reshape_view(y, y_shape);

  if (any_requires_grad({x, weight, bias}))
    connect(std::make_shared<LinearBackward>(x_matrix, weight, x.shape()), {x, weight, bias}, {y});
  return y;
}

}  // namespace focus
