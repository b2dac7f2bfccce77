// split and chunk: consecutive narrow() views along one dim, recorded as one node with an output
// per piece, so that backward assembles one gradient for the whole input.
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SplitBackward : public Node {
 public:
  SplitBackward(Shape input_shape, int64_t dim, int64_t split_size)
      : input_shape_(std::move(input_shape)), dim_(dim), split_size_(split_size) {}
  std::string name() const override { return "SplitBackward"; }
  // A piece nothing used sends no gradient: its window of dx is zeroed here instead.
  bool accepts_undefined_grads() const override { return true; }
  // forward: x [..., D, ...] → pieces y_i = x[..., i·s : i·s + s_i, ...] along dim (s = split_size,
  // the last s_i ≤ s). Each element of x is in exactly one piece, so
  // dx [..., D, ...] = the pieces' gradients dy_i [..., s_i, ...] side by side along dim.
  // One buffer: a narrow per piece would give each piece a zero-filled gradient of x's whole shape
  // for the engine to add up, O(pieces²) work for a decoder's per-step inputs.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor* any = nullptr;
    for (const Tensor& g : grad_outputs)
      if (g.defined()) any = &g;
    Tensor dx = empty_for_overwrite(input_shape_, TensorOptions(any->dtype()).with_device(any->device()));
    const int64_t size = input_shape_[static_cast<size_t>(dim_)];
    for (size_t i = 0; i < grad_outputs.size(); ++i) {
      const int64_t start = static_cast<int64_t>(i) * split_size_;
      const Tensor window = views::slice(dx, dim_, start, std::min(size, start + split_size_), 1);
      if (grad_outputs[i].defined())
        kernels::copy(window, grad_outputs[i]);
      else
        kernels::fill(window, 0.0);
    }
    return {dx};
  }

 private:
  Shape input_shape_;
  int64_t dim_, split_size_;
};
}  // namespace

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  check_defined(x, "split");
  if (x.dim() == 0) throw std::invalid_argument("split: cannot split a zero-dimensional tensor");
  int64_t d = normalize_dim(dim, x.dim(), "split");
  int64_t size = x.shape()[d];
  if (split_size <= 0 && size > 0)
    throw std::invalid_argument(fmt::format("split: split_size must be positive, got {}", split_size));
  if (size == 0) return {narrow(x, d, 0, 0)};
  std::vector<Tensor> pieces;
  pieces.reserve(static_cast<size_t>((size + split_size - 1) / split_size));
  for (int64_t start = 0; start < size; start += split_size)
    pieces.push_back(views::slice(x, d, start, std::min(size, start + split_size), 1));
  if (any_requires_grad({x})) connect(std::make_shared<SplitBackward>(x.shape(), d, split_size), {x}, pieces);
  return pieces;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  check_defined(x, "chunk");
  if (chunks <= 0) throw std::invalid_argument(fmt::format("chunk: chunks must be positive, got {}", chunks));
  if (x.dim() == 0) throw std::invalid_argument("chunk: cannot chunk a zero-dimensional tensor");
  int64_t size = x.shape()[normalize_dim(dim, x.dim(), "chunk")];
  // As in torch.chunk: pieces of ceil(size / chunks), so there may be fewer than `chunks`.
  return split(x, std::max<int64_t>(1, (size + chunks - 1) / chunks), dim);
}

}  // namespace focus
