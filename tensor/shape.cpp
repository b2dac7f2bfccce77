#include "tensor/shape.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>

namespace focus {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    // A shape read from a file can be any numbers: wrapping around would make a huge tensor look
    // small enough for the bytes that are there.
    if (__builtin_mul_overflow(n, s, &n))
      throw std::overflow_error(fmt::format("shape {}: more elements than an int64 can count", shape_str(shape)));
  return n;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    int64_t sa = i < ndim - a.size() ? 1 : a[i - (ndim - a.size())];
    int64_t sb = i < ndim - b.size() ? 1 : b[i - (ndim - b.size())];
    if (sa != sb && sa != 1 && sb != 1)
      throw std::invalid_argument(
          fmt::format("{}: shapes {} and {} cannot be broadcast", op, shape_str(a), shape_str(b)));
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  if (dim < lo || dim > hi)
    throw std::out_of_range(
        fmt::format("{}: dim {} is out of range for a tensor with {} dims", op, dim, ndim));
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

DimSplit split_at_dim(const Shape& shape, int64_t dim) {
  DimSplit split;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim)
      split.outer *= shape[d];
    else if (d == dim)
      split.size = shape[d];
    else
      split.inner *= shape[d];
  }
  return split;
}

Shape infer_shape(Shape requested, int64_t numel, const char* op) {
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < requested.size(); ++i) {
    if (requested[i] == -1) {
      if (infer_at >= 0) throw std::invalid_argument(fmt::format("{}: only one dim can be -1", op));
      infer_at = static_cast<int64_t>(i);
    } else if (requested[i] < 0) {
      throw std::invalid_argument(fmt::format("{}: invalid size {} in shape", op, requested[i]));
    } else {
      known *= requested[i];
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || numel % known != 0)
      throw std::invalid_argument(fmt::format("{}: shape {} is invalid for {} elements", op,
                                              shape_str(requested), numel));
    requested[infer_at] = numel / known;
  } else if (known != numel) {
    throw std::invalid_argument(fmt::format("{}: shape {} is invalid for {} elements", op,
                                            shape_str(requested), numel));
  }
  return requested;
}

}  // namespace focus
