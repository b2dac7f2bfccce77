// Joining tensors along a dim: cat copies each input into its window of the
// output; stack is cat of the inputs each given a new size-1 dim.
#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

// Same number of dims, and equal sizes everywhere except `except_dim`.
bool same_except(const Shape& a, const Shape& b, int64_t except_dim) {
  if (a.size() != b.size()) return false;
  for (size_t d = 0; d < a.size(); ++d)
    if (static_cast<int64_t>(d) != except_dim && a[d] != b[d]) return false;
  return true;
}

// All inputs contiguous and of the output's dtype: the output is `outer` rows,
// each the concatenation of one contiguous block per input, so plain memcpy.
void cat_contiguous(const std::vector<Tensor>& tensors, int64_t dim, const Tensor& out) {
  const Shape& shape = out.shape();
  const DimSplit split = split_at_dim(shape, dim);  // out as [outer, size, inner]
  const int64_t outer = split.outer, inner = split.inner;
  const size_t elem = element_size(out.dtype());
  const int64_t row_bytes = split.size * inner * static_cast<int64_t>(elem);

  std::vector<const char*> sources(tensors.size());
  std::vector<int64_t> block_bytes(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    sources[i] = static_cast<const char*>(tensors[i].data_ptr());
    block_bytes[i] = tensors[i].shape()[dim] * inner * static_cast<int64_t>(elem);
  }
  char* dst = static_cast<char*>(out.data_ptr());
  parallel_for(0, outer, std::max<int64_t>(1, 65536 / std::max<int64_t>(row_bytes, 1)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      char* p = dst + row * row_bytes;
      for (size_t i = 0; i < sources.size(); ++i) {
        if (block_bytes[i] == 0) continue;
        std::memcpy(p, sources[i] + row * block_bytes[i], static_cast<size_t>(block_bytes[i]));
        p += block_bytes[i];
      }
    }
  });
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) throw std::invalid_argument("cat: expected a non-empty list of tensors");
  for (const Tensor& t : tensors) check_defined(t, "cat");
  const Tensor& first = tensors[0];
  if (first.dim() == 0) throw std::invalid_argument("cat: zero-dimensional tensors cannot be concatenated");
  dim = normalize_dim(dim, first.dim(), "cat");

  Shape shape = first.shape();
  DType dtype = first.dtype();
  shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (!same_except(t.shape(), first.shape(), dim))
      throw std::invalid_argument(fmt::format(
          "cat: tensor {} has shape {} but tensor 0 has shape {}; all dims except dim {} must match", i,
          shape_str(t.shape()), shape_str(first.shape()), dim));
    shape[dim] += t.shape()[dim];
    dtype = promote_types(dtype, t.dtype());
  }
  FOCUS_DISPATCH(common_device_of("cat", tensors), cat(tensors, dim));
  Tensor out = empty_for_overwrite(shape, TensorOptions(dtype).with_device(first.device()));
  if (out.numel() == 0) return out;

  bool contiguous = true;
  for (const Tensor& t : tensors) contiguous = contiguous && t.is_contiguous() && t.dtype() == dtype;
  if (contiguous) {
    cat_contiguous(tensors, dim, out);
    return out;
  }
  // Strided or mixed-dtype inputs: each is copied (and converted) into its window.
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    int64_t length = t.shape()[dim];
    if (length > 0) copy(views::slice(out, dim, start, start + length, 1), t);
    start += length;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) throw std::invalid_argument("stack: expected a non-empty list of tensors");
  for (const Tensor& t : tensors) check_defined(t, "stack");
  const Shape& first = tensors[0].shape();
  for (size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].shape() != first)
      throw std::invalid_argument(fmt::format("stack: tensor {} has shape {} but tensor 0 has shape {}; stack needs "
                                              "tensors of one shape",
                                              i, shape_str(tensors[i].shape()), shape_str(first)));
  dim = normalize_dim(dim, static_cast<int64_t>(first.size()) + 1, "stack");
  FOCUS_DISPATCH(common_device_of("stack", tensors), stack(tensors, dim));
  std::vector<Tensor> unsqueezed;
  unsqueezed.reserve(tensors.size());
  for (const Tensor& t : tensors) unsqueezed.push_back(views::unsqueeze(t, dim));
  return cat(unsqueezed, dim);
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
