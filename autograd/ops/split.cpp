// split and chunk: consecutive narrow() views along one dim. They need no Node
// of their own: each piece is a narrow, whose backward places its gradient in
// the piece's window, and the engine adds the pieces' gradients together.
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"

namespace focus {

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
    pieces.push_back(narrow(x, d, start, std::min(split_size, size - start)));
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
