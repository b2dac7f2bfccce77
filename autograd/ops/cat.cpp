// cat: inputs laid end to end along one dim.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class CatBackward : public Node {
 public:
  CatBackward(int64_t dim, std::vector<int64_t> lengths) : dim_(dim), lengths_(std::move(lengths)) {}
  std::string name() const override { return "CatBackward"; }
  // forward: y = [x_0 | x_1 | ...] along dim, x_i of length n_i there   y: Σ n_i along dim
  // so dx_i = dy's window [start_i, start_i + n_i) along dim (a view, no copy).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    std::vector<Tensor> grads(lengths_.size());
    int64_t start = 0;
    for (size_t i = 0; i < lengths_.size(); ++i) {
      if (needs_input_grad(i)) grads[i] = views::slice(dy, dim_, start, start + lengths_[i], 1);
      start += lengths_[i];
    }
    return grads;
  }

 private:
  int64_t dim_;
  std::vector<int64_t> lengths_;
};
}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor y = kernels::cat(tensors, dim);
  if (any_requires_grad(tensors)) {
    int64_t d = normalize_dim(dim, y.dim(), "cat");
    std::vector<int64_t> lengths;
    lengths.reserve(tensors.size());
    for (const Tensor& t : tensors) lengths.push_back(t.shape()[d]);
    connect(std::make_shared<CatBackward>(d, std::move(lengths)), tensors, {y});
  }
  return y;
}

}  // namespace focus
