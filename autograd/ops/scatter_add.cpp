// scatter_add: src's elements added into a copy of x at the positions index names.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class ScatterAddBackward : public Node {
 public:
  ScatterAddBackward(int64_t dim, Tensor index, Shape src_shape)
      : dim_(dim), index_(save(index, "index")), src_shape_(std::move(src_shape)) {}
  std::string name() const override { return "ScatterAddBackward"; }
  // forward: y = x;  y[index[i][j]][j] += src[i][j] (dim 0)     y: x.shape, index ⊆ src
  // so dx = dy, and dsrc[i][j] = dy[index[i][j]][j] = gather(dy, dim, index) where index
  // reaches; src elements beyond index's shape were never read, so their gradient is 0.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor dx = needs_input_grad(0) ? dy : Tensor();
    Tensor dsrc;
    if (needs_input_grad(1)) {
      dsrc = kernels::gather(dy, dim_, index_);
      if (dsrc.shape() != src_shape_) {
        Tensor padded = zeros(src_shape_, TensorOptions(dy.dtype()).with_device(dy.device()));
        Tensor window = padded;
        for (int64_t d = 0; d < dsrc.dim(); ++d) window = views::slice(window, d, 0, dsrc.shape()[d], 1);
        kernels::copy(window, dsrc);
        dsrc = padded;
      }
    }
    return {dx, dsrc};
  }

 private:
  int64_t dim_;
  Tensor index_;
  Shape src_shape_;
};
}  // namespace

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor y = kernels::scatter_add(x, dim, index, src);
  if (any_requires_grad({x, src}))
    connect(std::make_shared<ScatterAddBackward>(normalize_dim(dim, x.dim(), "scatter_add"), index,
                                                 src.shape()),
            {x, src}, {y});
  return y;
}

}  // namespace focus
