// embedding: rows of a table picked by token ids, as torch.nn.functional.embedding.
// The same gather as index_select on dim 0, for ids of any shape, with a
// backward that leaves the padding row's gradient at zero.
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

class EmbeddingBackward : public Node {
 public:
  EmbeddingBackward(Shape weight_shape, Tensor flat_ids, std::optional<int64_t> padding_idx)
      : weight_shape_(std::move(weight_shape)), flat_ids_(std::move(flat_ids)), padding_idx_(padding_idx) {}
  std::string name() const override { return "EmbeddingBackward"; }

  // forward: y[i, :] = W[id_i, :]      ids flattened to (n), W (V, D), y (n, D)
  // so dW[v, :] = Σ_{i : id_i = v} dy[i, :] — repeated ids add up — and dW[padding_idx, :] = 0,
  // because the padding row is a constant (PyTorch's rule), whatever positions it was read at.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const int64_t n = flat_ids_.numel(), D = weight_shape_[1];
    Tensor dy = views::reshape_view(grad_outputs[0], {n, D});
    if (!dy.defined()) dy = views::reshape_view(kernels::contiguous_copy(grad_outputs[0]), {n, D});
    Tensor zero = zeros(weight_shape_, TensorOptions(dy.dtype()).with_device(dy.device()));
    Tensor dw = kernels::index_add(zero, 0, flat_ids_, dy);
    if (padding_idx_) kernels::fill(views::select(dw, 0, *padding_idx_), 0.0);
    return {dw};
  }

 private:
  Shape weight_shape_;
  Tensor flat_ids_;
  std::optional<int64_t> padding_idx_;
};

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  check_defined(weight, "embedding");
  check_defined(indices, "embedding");
  if (weight.dim() != 2)
    throw std::invalid_argument(fmt::format("embedding: weight must have shape [num_embeddings, embedding_dim], got {}",
                                            shape_str(weight.shape())));
  if (indices.dtype() != kInt64)
    throw std::invalid_argument(
        fmt::format("embedding: token ids must be an int64 tensor, got {}", dtype_name(indices.dtype())));
  const int64_t vocabulary = weight.size(0), D = weight.size(1);
  if (padding_idx && (*padding_idx < 0 || *padding_idx >= vocabulary))
    throw std::invalid_argument(
        fmt::format("embedding: padding_idx {} is out of range for a vocabulary of {}", *padding_idx, vocabulary));

  Tensor flat_ids = indices.is_contiguous() ? indices : kernels::contiguous_copy(indices);
  flat_ids = views::reshape_view(flat_ids, {flat_ids.numel()});
  // Checked here (not only in index_select) so the message speaks of token ids and the vocabulary.
  // GPU ids are not read back to the host for this: the index_select kernel checks them and
  // reports a bad one as an index_select error at a later call (tensor/cuda/index_errors.cuh).
  if (flat_ids.device().is_cpu()) {
    const int64_t* ids = flat_ids.data<int64_t>();
    for (int64_t i = 0, n = flat_ids.numel(); i < n; ++i)
      if (ids[i] < 0 || ids[i] >= vocabulary)
        throw std::out_of_range(
            fmt::format("embedding: token id {} is out of range for a vocabulary of {} (ids 0 to {})", ids[i],
                        vocabulary, vocabulary - 1));
  }
  Shape y_shape = indices.shape();
  y_shape.push_back(D);
  Tensor y = views::reshape_view(kernels::index_select(weight, 0, flat_ids), y_shape);
  if (any_requires_grad({weight}))
    connect(std::make_shared<EmbeddingBackward>(weight.shape(), flat_ids, padding_idx), {weight}, {y});
  return y;
}

}  // namespace focus
