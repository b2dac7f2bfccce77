// Indexing with int64 index tensors: index_select / index_add (whole slices of
// one dim) and gather / scatter_add (one element per index entry). Each pair is
// the other's adjoint, which is how autograd uses them. Indices are checked in
// one pass before any work, so an error never starts inside a parallel region.
// (The GPU versions check them inside their kernels: see tensor/cuda/index_errors.cuh.)
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <type_traits>

#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

void check_index_tensor(const Tensor& x, const Tensor& index, const char* op) {
  check_defined(x, op);
  check_defined(index, op);
  if (index.dtype() != kInt64)
    throw std::invalid_argument(fmt::format("{}: index must be an int64 tensor, got {}", op, dtype_name(index.dtype())));
  if (x.dim() == 0)
    throw std::invalid_argument(fmt::format("{}: expected a tensor with at least 1 dim, got shape []", op));
}

// The index's values, contiguous, each checked to lie in [0, size).
Tensor checked_indices(const Tensor& index, int64_t dim, int64_t size, const char* op) {
  Tensor idx = index.is_contiguous() ? index : contiguous_copy(index);
  const int64_t* p = idx.data<int64_t>();
  for (int64_t i = 0, n = idx.numel(); i < n; ++i)
    if (p[i] < 0 || p[i] >= size)
      throw std::out_of_range(
          fmt::format("{}: index {} is out of range for dim {} with size {}", op, p[i], dim, size));
  return idx;
}

// Calls f(offsets) once per line along `dim` of `shape` (one per multi-index of
// the other dims), with each operand's element offset at the line's start.
// Lines touch disjoint positions of any operand indexed by the other dims, so
// they run in parallel without races even when indices repeat along `dim`.
template <size_t N, typename F>
void for_each_line(const Shape& shape, int64_t dim, const std::array<Shape, N>& strides, F&& f) {
  Shape outer_shape;
  std::array<Shape, N> outer_strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (static_cast<int64_t>(d) == dim) continue;
    outer_shape.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) outer_strides[k].push_back(strides[k][d]);
  }
  const int64_t lines = shape_numel(outer_shape), length = std::max<int64_t>(shape[dim], 1);
  const int64_t nd = static_cast<int64_t>(outer_shape.size());
  parallel_for(0, lines, std::max<int64_t>(1, 32768 / length), [&](int64_t begin, int64_t end) {
    Shape position(nd, 0);
    std::array<int64_t, N> offsets{};
    int64_t rest = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      position[d] = rest % outer_shape[d];
      rest /= outer_shape[d];
      for (size_t k = 0; k < N; ++k) offsets[k] += position[d] * outer_strides[k][d];
    }
    for (int64_t line = begin; line < end; ++line) {
      f(offsets);
      for (int64_t d = nd - 1; d >= 0; --d) {
        for (size_t k = 0; k < N; ++k) offsets[k] += outer_strides[k][d];
        if (++position[d] < outer_shape[d]) break;
        for (size_t k = 0; k < N; ++k) offsets[k] -= outer_strides[k][d] * outer_shape[d];
        position[d] = 0;
      }
    }
  });
}

// gather / scatter_add: index has x's number of dims and fits inside x except along dim.
void check_fits(const Tensor& x, const Tensor& index, int64_t dim, const char* op) {
  bool fits = index.dim() == x.dim();
  for (int64_t d = 0; fits && d < x.dim(); ++d) fits = d == dim || index.shape()[d] <= x.shape()[d];
  if (!fits)
    throw std::invalid_argument(fmt::format(
        "{}: index of shape {} does not fit a tensor of shape {} (same number of dims, and no larger except along "
        "dim {})",
        op, shape_str(index.shape()), shape_str(x.shape()), dim));
}

void check_same_dtype(const Tensor& x, const Tensor& src, const char* op) {
  if (x.dtype() != src.dtype())
    throw std::invalid_argument(
        fmt::format("{}: src has dtype {} but the tensor has {}", op, dtype_name(src.dtype()), dtype_name(x.dtype())));
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor(x, index, "index_select");
  if (index.dim() > 1)
    throw std::invalid_argument(
        fmt::format("index_select: index must be 1-D, got shape {}", shape_str(index.shape())));
  dim = normalize_dim(dim, x.dim(), "index_select");
  FOCUS_DISPATCH(common_device("index_select", x, index), index_select(x, dim, index));
  const DimSplit s = split_at_dim(x.shape(), dim);  // x as [outer, size, inner]
  Tensor idx = checked_indices(index, dim, s.size, "index_select");
  const int64_t n = idx.numel();

  Shape shape = x.shape();
  shape[dim] = n;
  Tensor out = empty_for_overwrite(shape, TensorOptions(x.dtype()).with_device(x.device()));
  if (out.numel() == 0) return out;
  Tensor src = x.is_contiguous() ? x : contiguous_copy(x);
  const int64_t* rows = idx.data<int64_t>();
  cpu::dispatch_all(x.dtype(), "index_select", [&]<typename T>() {
    const T* in = static_cast<const T*>(src.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    // One task per copied slice: (outer position, output row).
    parallel_for(0, s.outer * n, std::max<int64_t>(1, 32768 / s.inner), [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        int64_t outer = task / n, i = task % n;
        const T* from = in + (outer * s.size + rows[i]) * s.inner;
        std::copy_n(from, s.inner, o + task * s.inner);
      }
    });
  });
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor(x, index, "index_add");
  check_defined(src, "index_add");
  check_same_dtype(x, src, "index_add");
  if (index.dim() > 1)
    throw std::invalid_argument(fmt::format("index_add: index must be 1-D, got shape {}", shape_str(index.shape())));
  dim = normalize_dim(dim, x.dim(), "index_add");
  const int64_t n = index.numel();
  Shape expected = x.shape();
  expected[dim] = n;
  if (src.shape() != expected)
    throw std::invalid_argument(fmt::format("index_add: src has shape {}, expected {} (x of shape {} with dim {} "
                                            "resized to the {} indices)",
                                            shape_str(src.shape()), shape_str(expected), shape_str(x.shape()), dim, n));
  FOCUS_DISPATCH(common_device("index_add", x, index, src), index_add(x, dim, index, src));
  const DimSplit s = split_at_dim(x.shape(), dim);  // x as [outer, size, inner]
  Tensor idx = checked_indices(index, dim, s.size, "index_add");
  Tensor out = contiguous_copy(x);
  if (src.numel() == 0) return out;
  Tensor values = src.is_contiguous() ? src : contiguous_copy(src);
  const int64_t* rows = idx.data<int64_t>();

  cpu::dispatch_all(x.dtype(), "index_add", [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool>) {
      throw std::invalid_argument("index_add: bool tensors cannot be added");
    } else {
      T* o = static_cast<T*>(out.data_ptr());
      const T* v = static_cast<const T*>(values.data_ptr());
      // Repeated indices add into the same destination row, so threads own
      // destination rows, not source rows: each thread scans the whole index and
      // adds only the rows in its own range. No two threads write one element.
      const int64_t slots = s.outer * s.size;
      const int64_t work_per_slot = std::max<int64_t>(1, n * s.inner / std::max<int64_t>(s.size, 1));
      parallel_for(0, slots, std::max<int64_t>(1, 32768 / work_per_slot), [&](int64_t begin, int64_t end) {
        for (int64_t first = begin; first < end;) {
          const int64_t outer = first / s.size;
          const int64_t row_lo = first - outer * s.size, row_hi = std::min(s.size, end - outer * s.size);
          T* out_block = o + outer * s.size * s.inner;
          const T* src_block = v + outer * n * s.inner;
          for (int64_t i = 0; i < n; ++i) {
            const int64_t row = rows[i];
            if (row < row_lo || row >= row_hi) continue;
            T* dst = out_block + row * s.inner;
            const T* from = src_block + i * s.inner;
            for (int64_t k = 0; k < s.inner; ++k) dst[k] += from[k];
          }
          first = (outer + 1) * s.size;
        }
      });
    }
  });
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor(x, index, "gather");
  dim = normalize_dim(dim, x.dim(), "gather");
  check_fits(x, index, dim, "gather");
  FOCUS_DISPATCH(common_device("gather", x, index), gather(x, dim, index));
  Tensor idx = checked_indices(index, dim, x.shape()[dim], "gather");
  Tensor out = empty_for_overwrite(index.shape(), TensorOptions(x.dtype()).with_device(x.device()));
  if (out.numel() == 0) return out;

  const int64_t length = index.shape()[dim];
  const int64_t x_step = x.strides()[dim], idx_step = idx.strides()[dim], out_step = out.strides()[dim];
  const int64_t* positions = idx.data<int64_t>();
  cpu::dispatch_all(x.dtype(), "gather", [&]<typename T>() {
    const T* in = static_cast<const T*>(x.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    for_each_line<3>(index.shape(), dim, {x.strides(), idx.strides(), out.strides()},
                     [&](const std::array<int64_t, 3>& at) {
                       for (int64_t j = 0; j < length; ++j)
                         o[at[2] + j * out_step] = in[at[0] + positions[at[1] + j * idx_step] * x_step];
                     });
  });
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor(x, index, "scatter_add");
  check_defined(src, "scatter_add");
  check_same_dtype(x, src, "scatter_add");
  dim = normalize_dim(dim, x.dim(), "scatter_add");
  check_fits(x, index, dim, "scatter_add");
  bool fits_src = index.dim() == src.dim();
  for (int64_t d = 0; fits_src && d < src.dim(); ++d) fits_src = index.shape()[d] <= src.shape()[d];
  if (!fits_src)
    throw std::invalid_argument(fmt::format("scatter_add: index of shape {} is larger than src of shape {}",
                                            shape_str(index.shape()), shape_str(src.shape())));
  FOCUS_DISPATCH(common_device("scatter_add", x, index, src), scatter_add(x, dim, index, src));
  Tensor idx = checked_indices(index, dim, x.shape()[dim], "scatter_add");
  Tensor out = contiguous_copy(x);
  if (index.numel() == 0) return out;

  const int64_t length = index.shape()[dim];
  const int64_t out_step = out.strides()[dim], idx_step = idx.strides()[dim], src_step = src.strides()[dim];
  const int64_t* positions = idx.data<int64_t>();
  cpu::dispatch_all(x.dtype(), "scatter_add", [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool>) {
      throw std::invalid_argument("scatter_add: bool tensors cannot be added");
    } else {
      T* o = static_cast<T*>(out.data_ptr());
      const T* from = static_cast<const T*>(src.data_ptr());
      // Each line fixes every coordinate but `dim`, so it owns its own output
      // line: repeated indices within a line are added by one thread, in order.
      for_each_line<3>(index.shape(), dim, {out.strides(), idx.strides(), src.strides()},
                       [&](const std::array<int64_t, 3>& at) {
                         for (int64_t j = 0; j < length; ++j)
                           o[at[0] + positions[at[1] + j * idx_step] * out_step] += from[at[2] + j * src_step];
                       });
    }
  });
  return out;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
