// reshape, view, flatten, squeeze, unsqueeze: all change only the shape, so they
// share one backward — reshape the gradient back to the input's shape.
#include <fmt/format.h>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class ReshapeBackward : public Node {
 public:
  explicit ReshapeBackward(Shape input_shape) : input_shape_(std::move(input_shape)) {}
  std::string name() const override { return "ReshapeBackward"; }
  // forward: y = x viewed with a new shape (same elements, same order)
  // so dx = dy viewed with x's shape.                     dy: new shape → dx: x.shape
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {reshape(grad_outputs[0], input_shape_)};
  }

 private:
  Shape input_shape_;
};

Tensor record(const Tensor& x, Tensor y) {
  if (any_requires_grad({x})) connect(std::make_shared<ReshapeBackward>(x.shape()), {x}, {y});
  return y;
}
}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = views::reshape_view(x, shape);
  if (!y.defined()) y = views::reshape_view(kernels::contiguous_copy(x), shape);
  return record(x, y);
}

Tensor view(const Tensor& x, const Shape& shape) {
  Tensor y = views::reshape_view(x, shape);
  if (!y.defined())
    throw std::invalid_argument(fmt::format(
        "view: shape {} is incompatible with the strides of a {} tensor; use reshape() (copies) instead",
        shape_str(shape), shape_str(x.shape())));
  return record(x, y);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  start_dim = normalize_dim(start_dim, x.dim(), "flatten");
  end_dim = normalize_dim(end_dim, x.dim(), "flatten");
  if (start_dim > end_dim)
    throw std::invalid_argument(fmt::format("flatten: start_dim {} is after end_dim {}", start_dim, end_dim));
  Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + end_dim + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) { return record(x, views::unsqueeze(x, dim)); }
Tensor squeeze(const Tensor& x, int64_t dim) { return record(x, views::squeeze(x, dim)); }

}  // namespace focus
