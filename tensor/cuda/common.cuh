#pragma once
// What every CUDA kernel file shares: checked calls, the stream and cuBLAS handle,
// dtype dispatch, and the strided indexing that lets a kernel read any view
// (transposed, sliced, broadcast) without copying it first.
//
// Kernels are plain __global__ functions or functors with a __device__ operator():
// no extended (__device__) lambdas, which nvcc forbids inside the generic lambdas
// that dtype dispatch uses.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "tensor/layout.h"
#include "tensor/tensor.h"

namespace focus::cuda {

// ---- errors ------------------------------------------------------------------------------
/// Throws "CUDA error in <what> at <file>:<line>: <CUDA's message> (<name>)" unless status is success.
void check_status(cudaError_t status, const char* what, const char* file, int line);
void check_cublas(cublasStatus_t status, const char* what, const char* file, int line);
#define FOCUS_CUDA_CHECK(call) ::focus::cuda::check_status((call), #call, __FILE__, __LINE__)
#define FOCUS_CUBLAS_CHECK(call) ::focus::cuda::check_cublas((call), #call, __FILE__, __LINE__)
/// After a kernel launch: a bad configuration is reported here, with the kernel's name.
#define FOCUS_CUDA_CHECK_LAUNCH(kernel_name) \
  ::focus::cuda::check_status(cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__)

// ---- where work is queued --------------------------------------------------------------------
/// The one stream all of focus's GPU work goes to (kernels, cuBLAS, copies), so work is
/// ordered without events and a freed block can be reused at once by the next kernel.
cudaStream_t stream();
/// The cuBLAS handle of the current device, bound to stream().
cublasHandle_t cublas_handle();

constexpr int kThreads = 256;
/// Blocks for a grid-stride loop over n items (capped; the loop covers the rest).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > (1 << 20)) blocks = 1 << 20;
  return static_cast<unsigned>(blocks);
}

// ---- dtype dispatch ----------------------------------------------------------------------------
template <typename T>
struct Type {
  using type = T;
};
/// Calls f(Type<T>{}) with T the C++ type of `dtype` (write `using T = typename decltype(tag)::type;`).
template <typename F>
decltype(auto) dispatch_all(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(Type<float>{});
    case DType::Float64: return f(Type<double>{});
    case DType::Int64: return f(Type<int64_t>{});
    case DType::Bool: return f(Type<bool>{});
  }
  throw std::invalid_argument(std::string(op) + ": unknown dtype");
}
/// Like dispatch_all, for float32/float64 only; other dtypes get a clear error.
template <typename F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(Type<float>{});
    case DType::Float64: return f(Type<double>{});
    default:
      throw std::invalid_argument(std::string(op) + ": expected a float32 or float64 tensor, got " +
                                  std::string(dtype_name(dtype)));
  }
}

// ---- strided indexing ---------------------------------------------------------------------------
constexpr int kMaxDims = 12;

/// Maps the linear index of an element of a (coalesced) shape to the element offset of
/// each of N operands, from their strides. Built on the host, passed to kernels by value.
template <int N>
struct Offsets {
  int ndim = 1;
  int64_t sizes[kMaxDims] = {1};
  int64_t strides[N][kMaxDims] = {};
  bool narrow = false;  // fewer than 2^31 elements: 32-bit division, several times cheaper on a GPU

  __host__ __device__ void operator()(int64_t linear, int64_t (&offset)[N]) const {
    for (int k = 0; k < N; ++k) offset[k] = 0;
    if (narrow) {
      uint32_t rest = static_cast<uint32_t>(linear);
      for (int d = ndim - 1; d >= 0; --d) {
        const uint32_t size = static_cast<uint32_t>(sizes[d]);
        const uint32_t index = rest % size;
        rest /= size;
        for (int k = 0; k < N; ++k) offset[k] += static_cast<int64_t>(index) * strides[k][d];
      }
      return;
    }
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t index = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < N; ++k) offset[k] += index * strides[k][d];
    }
  }
};

/// Offsets for operands with the given strides over `shape` (already broadcast), with
/// size-1 dims dropped and contiguous runs merged. Throws past kMaxDims dims.
template <int N>
Offsets<N> make_offsets(const Shape& shape, const std::array<Shape, N>& strides, const char* op) {
  StridedLayout<N> layout = coalesce<N>(shape, strides);
  if (layout.shape.size() > static_cast<size_t>(kMaxDims))
    throw std::invalid_argument(std::string(op) + ": the CUDA kernels handle at most " + std::to_string(kMaxDims) +
                                " non-mergeable dims, got " + std::to_string(layout.shape.size()));
  Offsets<N> offsets;
  offsets.ndim = static_cast<int>(layout.shape.size());
  int64_t count = 1;
  for (int d = 0; d < offsets.ndim; ++d) {
    offsets.sizes[d] = layout.shape[d];
    count *= layout.shape[d];
    for (int k = 0; k < N; ++k) offsets.strides[k][d] = layout.strides[k][d];
  }
  offsets.narrow = count < (int64_t{1} << 31);
  return offsets;
}

// ---- elementwise map ---------------------------------------------------------------------------------
template <typename Out, typename... In>
struct MapPointers {
  Out* out;
  const char* in[sizeof...(In) > 0 ? sizeof...(In) : 1];
};

template <typename Out, typename... In, typename F, size_t... I>
__device__ inline void map_one(const MapPointers<Out, In...>& p, const int64_t* offset, const F& f,
                               std::index_sequence<I...>) {
  p.out[offset[0]] = f(reinterpret_cast<const In*>(p.in[I])[offset[I + 1]]...);
}

template <bool kContiguous, typename F, typename Out, typename... In>
__global__ void map_kernel(int64_t n, Offsets<sizeof...(In) + 1> offsets, MapPointers<Out, In...> p, F f) {
  constexpr int N = sizeof...(In) + 1;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t offset[N];
    if constexpr (kContiguous) {
      for (int k = 0; k < N; ++k) offset[k] = i;
    } else {
      offsets(i, offset);
    }
    map_one<Out, In...>(p, offset, f, std::index_sequence_for<In...>{});
  }
}

/// out[i] = f(in[i]...) over out's shape, with every input broadcast to it. Out and In...
/// are the element types (checked by the caller); f is a functor with a __device__ operator().
template <typename T>
using TensorOf = const Tensor&;

template <typename Out, typename... In, typename F>
void map(const Tensor& out, F f, TensorOf<In>... in) {
  constexpr int N = sizeof...(In) + 1;
  const int64_t n = out.numel();
  if (n == 0) return;
  const Shape& shape = out.shape();
  MapPointers<Out, In...> p{static_cast<Out*>(out.data_ptr()), {static_cast<const char*>(in.data_ptr())...}};
  bool contiguous = out.is_contiguous() && ((in.shape() == shape && in.is_contiguous()) && ...);
  if (contiguous) {
    map_kernel<true, F, Out, In...><<<blocks_for(n), kThreads, 0, stream()>>>(n, Offsets<N>{}, p, f);
  } else {
    std::array<Shape, N> strides{out.strides(), broadcast_strides(in, shape)...};
    map_kernel<false, F, Out, In...><<<blocks_for(n), kThreads, 0, stream()>>>(n, make_offsets<N>(shape, strides, "map"),
                                                                            p, f);
  }
  FOCUS_CUDA_CHECK_LAUNCH("map_kernel");
}

}  // namespace focus::cuda
