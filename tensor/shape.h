#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace focus {

/// Sizes of each dimension, outermost first. Strides use the same type, in elements.
using Shape = std::vector<int64_t>;

/// Product of the sizes (1 for a 0-d shape).
int64_t shape_numel(const Shape& shape);
/// "[2, 3]" — how every error message names a shape.
std::string shape_str(const Shape& shape);
/// Row-major strides for a shape.
Shape contiguous_strides(const Shape& shape);
/// NumPy broadcasting of two shapes; throws "<op>: shapes [..] and [..] cannot be broadcast".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
/// Maps a possibly negative dim into [0, ndim); throws naming the op when out of range.
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);
/// A shape seen as [outer, size, inner] around one dim: the product of the sizes before it, its own
/// size, the product of the sizes after it. In a contiguous tensor, the elements along `dim` are
/// `inner` apart and the blocks of size·inner elements follow each other `outer` times.
struct DimSplit {
  int64_t outer = 1, size = 1, inner = 1;
};
/// `shape` split around `dim`, which is in [0, ndim) (normalize_dim's answer; a 0-d shape gives 1, 1, 1).
DimSplit split_at_dim(const Shape& shape, int64_t dim);
/// Resolves one -1 in a requested shape given the element count; checks the count matches.
Shape infer_shape(Shape requested, int64_t numel, const char* op);

}  // namespace focus
