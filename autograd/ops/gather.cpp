// gather: one element per index entry, taken along one dim.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class GatherBackward : public Node {
 public:
  GatherBackward(Shape input_shape, int64_t dim, Tensor index)
      : input_shape_(std::move(input_shape)), dim_(dim), index_(save(index, "index")) {}
  std::string name() const override { return "GatherBackward"; }
  // forward: y[i][j] = x[index[i][j]][j] (dim 0; likewise for any dim)     y: index.shape
  // so dx[r][j] = Σ_{i : index[i][j] = r} dy[i][j] — scatter_add of dy into zeros like x.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor dx = zeros(input_shape_, TensorOptions(dy.dtype()).with_device(dy.device()));
    return {kernels::scatter_add(dx, dim_, index_, dy)};
  }

 private:
  Shape input_shape_;
  int64_t dim_;
  Tensor index_;
};
}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor y = kernels::gather(x, dim, index);
  if (any_requires_grad({x}))
    connect(std::make_shared<GatherBackward>(x.shape(), normalize_dim(dim, x.dim(), "gather"), index), {x},
            {y});
  return y;
}

}  // namespace focus
