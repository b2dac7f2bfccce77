// index_select: whole slices of one dim, picked (and possibly repeated) by an index.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class IndexSelectBackward : public Node {
 public:
  IndexSelectBackward(Shape input_shape, int64_t dim, Tensor index)
      : input_shape_(std::move(input_shape)), dim_(dim), index_(save(index, "index")) {}
  std::string name() const override { return "IndexSelectBackward"; }
  // forward: y[..., i, ...] = x[..., index[i], ...]      x: size S along dim → y: n = len(index)
  // so dx[..., r, ...] = Σ_{i : index[i] = r} dy[..., i, ...] — index_add into zeros; a row
  // picked twice (a repeated token in an Embedding) gets both gradients.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor dx = zeros(input_shape_, TensorOptions(dy.dtype()).with_device(dy.device()));
    return {kernels::index_add(dx, dim_, index_, dy)};
  }

 private:
  Shape input_shape_;
  int64_t dim_;
  Tensor index_;
};
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor y = kernels::index_select(x, dim, index);
  if (any_requires_grad({x}))
    connect(std::make_shared<IndexSelectBackward>(x.shape(), normalize_dim(dim, x.dim(), "index_select"),
                                                  index),
            {x}, {y});
  return y;
}

}  // namespace focus
