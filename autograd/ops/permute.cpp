// permute and transpose: reorder dims, so backward reorders them back.
#include "autograd/ops.h"

namespace focus {

namespace {
class PermuteBackward : public Node {
 public:
  explicit PermuteBackward(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  std::string name() const override { return "PermuteBackward"; }
  // forward: y.shape[i] = x.shape[dims[i]]
  // so dx = dy permuted by the inverse permutation: inverse[dims[i]] = i.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    std::vector<int64_t> inverse(dims_.size());
    for (size_t i = 0; i < dims_.size(); ++i) inverse[dims_[i]] = static_cast<int64_t>(i);
    return {permute(grad_outputs[0], inverse)};
  }

 private:
  std::vector<int64_t> dims_;
};
}  // namespace

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor y = views::permute(x, dims);
  if (any_requires_grad({x})) {
    std::vector<int64_t> normalized(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) normalized[i] = normalize_dim(dims[i], x.dim(), "permute");
    connect(std::make_shared<PermuteBackward>(normalized), {x}, {y});
  }
  return y;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  if (x.dim() < 2) return permute(x, x.dim() == 1 ? std::vector<int64_t>{0} : std::vector<int64_t>{});
  std::vector<int64_t> dims(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) dims[i] = i;
  std::swap(dims[normalize_dim(dim0, x.dim(), "transpose")], dims[normalize_dim(dim1, x.dim(), "transpose")]);
  return permute(x, dims);
}

}  // namespace focus
