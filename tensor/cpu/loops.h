#pragma once
// The elementwise loop every CPU kernel is built on. Operands are broadcast to
// the output shape (stride 0 where broadcast), adjacent dims that are laid out
// contiguously for every operand are merged, and the innermost dim runs as a
// plain (vectorisable) loop when all its strides are 1. Large loops are split
// across threads by outer index.
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "tensor/layout.h"
#include "tensor/parallel.h"
#include "tensor/tensor.h"

#include "tensor/cpu_variant.h"

namespace focus::cpu::inline FOCUS_CPU_VARIANT {  // one copy per kernel build: see tensor/kernels.h

/// Runs `inner(ptrs, strides, n)` over rows of the innermost dim. ptrs are typed
/// pointers (std::tuple-free: an array of char* and element sizes).
template <size_t N, typename Inner>
void strided_loop(const StridedLayout<N>& layout, const std::array<char*, N>& base,
                  const std::array<int64_t, N>& elem_size, Inner&& inner, int64_t grain = 32768) {
  const int64_t ndim = static_cast<int64_t>(layout.shape.size());
  const int64_t inner_size = layout.shape.back();
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < ndim; ++d) outer *= layout.shape[d];
  std::array<int64_t, N> inner_stride;
  for (size_t k = 0; k < N; ++k) inner_stride[k] = layout.strides[k].back();

  if (outer == 1) {  // one long row: split it
    parallel_for(0, inner_size, grain, [&](int64_t b, int64_t e) {
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = base[k] + b * inner_stride[k] * elem_size[k];
      inner(p, inner_stride, e - b);
    });
    return;
  }
  int64_t rows_grain = std::max<int64_t>(1, grain / std::max<int64_t>(inner_size, 1));
  parallel_for(0, outer, rows_grain, [&](int64_t b, int64_t e) {
    // Position of row b as a multi-index over the outer dims, then step like an odometer.
    Shape index(ndim - 1, 0);
    int64_t rest = b;
    for (int64_t d = ndim - 2; d >= 0; --d) {
      index[d] = rest % layout.shape[d];
      rest /= layout.shape[d];
    }
    std::array<char*, N> p;
    for (size_t k = 0; k < N; ++k) {
      int64_t off = 0;
      for (int64_t d = 0; d + 1 < ndim; ++d) off += index[d] * layout.strides[k][d];
      p[k] = base[k] + off * elem_size[k];
    }
    for (int64_t row = b; row < e; ++row) {
      inner(p, inner_stride, inner_size);
      for (int64_t d = ndim - 2; d >= 0; --d) {
        ++index[d];
        for (size_t k = 0; k < N; ++k) p[k] += layout.strides[k][d] * elem_size[k];
        if (index[d] < layout.shape[d]) break;
        for (size_t k = 0; k < N; ++k) p[k] -= layout.strides[k][d] * layout.shape[d] * elem_size[k];
        index[d] = 0;
      }
    }
  });
}

template <typename T>
using TensorRef = const Tensor&;

/// out[i] = f(in[i]...) over out's shape, inputs broadcast to it.
/// Out and In... are the C++ element types of the tensors (checked by the caller).
template <typename Out, typename... In, typename F>
void map(const Tensor& out, F f, TensorRef<In>... in) {
  constexpr size_t N = sizeof...(In) + 1;
  if (out.numel() == 0) return;
  const Shape& shape = out.shape();
  std::array<Shape, N> strides{out.strides(), broadcast_strides(in, shape)...};
  StridedLayout<N> layout = coalesce<N>(shape, strides);
  std::array<char*, N> base{static_cast<char*>(out.data_ptr()), static_cast<char*>(in.data_ptr())...};
  std::array<int64_t, N> sizes{static_cast<int64_t>(sizeof(Out)), static_cast<int64_t>(sizeof(In))...};
  strided_loop<N>(layout, base, sizes,
                  [&](const std::array<char*, N>& p, const std::array<int64_t, N>& s, int64_t n) {
                    bool unit = true;
                    for (size_t k = 0; k < N; ++k) unit = unit && s[k] == 1;
                    [&]<size_t... I>(std::index_sequence<I...>) {
                      Out* o = reinterpret_cast<Out*>(p[0]);
                      if (unit) {
                        for (int64_t i = 0; i < n; ++i)
                          o[i] = f(reinterpret_cast<const In*>(p[I + 1])[i]...);
                      } else {
                        for (int64_t i = 0; i < n; ++i)
                          o[i * s[0]] = f(reinterpret_cast<const In*>(p[I + 1])[i * s[I + 1]]...);
                      }
                    }(std::index_sequence_for<In...>{});
                  });
}

/// Calls f.template operator()<T>() with T the C++ type of `dtype`.
template <typename F>
decltype(auto) dispatch_all(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Int64: return f.template operator()<int64_t>();
    case DType::Bool: return f.template operator()<bool>();
  }
  throw std::invalid_argument(fmt::format("{}: unknown dtype", op));
}

/// Like dispatch_all, for float32/float64 only; other dtypes get a clear error.
template <typename F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    default:
      throw std::invalid_argument(
          fmt::format("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(dtype)));
  }
}

/// Throws a clear error unless `t` is on the CPU (the CUDA branch of a kernel comes first).
inline void check_cpu(const Tensor& t, const char* op) {
  if (!t.device().is_cpu())
    throw std::runtime_error(fmt::format("{}: no kernel for device {} in this build", op, t.device().str()));
}

}  // namespace focus::cpu::FOCUS_CPU_VARIANT
