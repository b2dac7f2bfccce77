// slice and narrow: a strided window along one dim.
#include <fmt/format.h>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SliceBackward : public Node {
 public:
  SliceBackward(Shape input_shape, int64_t dim, int64_t start, int64_t end, int64_t step)
      : input_shape_(std::move(input_shape)), dim_(dim), start_(start), end_(end), step_(step) {}
  std::string name() const override { return "SliceBackward"; }
  // forward: y = x[start:end:step] along dim
  // so dx = zeros like x, with dy written into the same window.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor dx = zeros(input_shape_, TensorOptions(dy.dtype()).with_device(dy.device()));
    kernels::copy(views::slice(dx, dim_, start_, end_, step_), dy);
    return {dx};
  }

 private:
  Shape input_shape_;
  int64_t dim_, start_, end_, step_;
};
}  // namespace

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  Tensor y = views::slice(x, dim, start, end, step);
  if (any_requires_grad({x}))
    connect(std::make_shared<SliceBackward>(x.shape(), normalize_dim(dim, x.dim(), "slice"), start, end, step),
            {x}, {y});
  return y;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  int64_t d = normalize_dim(dim, x.dim(), "narrow");
  int64_t size = x.shape()[d];
  if (start < 0) start += size;
  if (start < 0 || length < 0 || start + length > size)
    throw std::out_of_range(fmt::format("narrow: [{}, {}) is out of range for dim {} of shape {}", start,
                                        start + length, d, shape_str(x.shape())));
  return slice(x, d, start, start + length, 1);
}

}  // namespace focus
