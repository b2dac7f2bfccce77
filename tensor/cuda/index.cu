// Indexing with int64 index tensors on the GPU, as tensor/cpu/index.cpp: index_select /
// index_add (whole slices of one dim) and gather / scatter_add (one element per index
// entry). The adds use atomics, since repeated indices send several sources to one
// destination; the copies move raw bits, 16 bytes at a time where the layout allows.
//
// Bad indices are checked inside the kernels and reported late (see index_errors.cuh);
// this file also keeps that report.
#include <atomic>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/cuda/backend.h"
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/index_errors.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

// ---- the late report of bad indices -----------------------------------------------------------

namespace {

std::mutex& sink_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::atomic<IndexErrorRecord*> host_record{nullptr};  // one for all devices (portable, mapped)
struct DeviceSink {
  int* claimed = nullptr;
  IndexErrorRecord* record = nullptr;  // host_record as this device addresses it
};
std::vector<DeviceSink>& device_sinks() {
  static std::vector<DeviceSink> sinks;
  return sinks;
}

const char* index_op_name(int op) {
  switch (static_cast<IndexOp>(op)) {
    case IndexOp::IndexSelect: return "index_select";
    case IndexOp::IndexAdd: return "index_add";
    case IndexOp::Gather: return "gather";
    case IndexOp::ScatterAdd: return "scatter_add";
    case IndexOp::CrossEntropy: return "cross_entropy";
    case IndexOp::CrossEntropyBackward: return "cross_entropy_backward";
  }
  return "indexing";
}

}  // namespace

IndexErrorSink index_error_sink() {
  int device = 0;
  FOCUS_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(sink_mutex());
  if (!host_record.load(std::memory_order_acquire)) {
    void* memory = nullptr;
    FOCUS_CUDA_CHECK(cudaHostAlloc(&memory, sizeof(IndexErrorRecord), cudaHostAllocMapped | cudaHostAllocPortable));
    std::memset(memory, 0, sizeof(IndexErrorRecord));
    host_record.store(static_cast<IndexErrorRecord*>(memory), std::memory_order_release);
  }
  std::vector<DeviceSink>& sinks = device_sinks();
  if (sinks.size() <= static_cast<size_t>(device)) sinks.resize(device + 1);
  DeviceSink& sink = sinks[device];
  if (!sink.claimed) {
    void* flag = nullptr;
    FOCUS_CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
    FOCUS_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), stream()));
    void* record = nullptr;
    FOCUS_CUDA_CHECK(cudaHostGetDevicePointer(&record, host_record.load(), 0));
    sink.claimed = static_cast<int*>(flag);
    sink.record = static_cast<IndexErrorRecord*>(record);
  }
  return {sink.claimed, sink.record, device};
}

void check_index_errors() {
  IndexErrorRecord* record = host_record.load(std::memory_order_acquire);
  if (!record || record->reported == 0) return;
  std::lock_guard<std::mutex> lock(sink_mutex());
  if (record->reported == 0) return;  // another host thread raised it
  std::atomic_thread_fence(std::memory_order_acquire);
  const int op = record->op, device = record->device;
  const int64_t value = record->value, limit = record->limit, extra = record->extra;
  record->reported = 0;
  // Re-arm the device's claim flag, in stream order: after the kernel that claimed it.
  {
    DeviceGuard guard(device);
    FOCUS_CUDA_CHECK(cudaMemsetAsync(device_sinks()[device].claimed, 0, sizeof(int), stream()));
  }
  const std::string where = " (found by a GPU kernel on cuda:" + std::to_string(device) + ", reported at a later call)";
  const char* name = index_op_name(op);
  if (static_cast<IndexOp>(op) == IndexOp::CrossEntropy || static_cast<IndexOp>(op) == IndexOp::CrossEntropyBackward)
    throw std::out_of_range(std::string(name) + ": target " + std::to_string(value) + " is out of range for " +
                            std::to_string(limit) + " classes (expected 0 to " + std::to_string(limit - 1) + ", or " +
                            std::to_string(extra) + " to ignore)" + where);
  throw std::out_of_range(std::string(name) + ": index " + std::to_string(value) + " is out of range for dim " +
                          std::to_string(extra) + " with size " + std::to_string(limit) + where);
}

// ---- kernels ----------------------------------------------------------------------------------------

namespace {

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : contiguous_copy(t); }

/// The widest unit (16, 8, 4, 2 or 1 bytes, at least one element) in which runs of
/// `run_bytes` bytes starting at every one of `pointers` can be moved.
int widest_unit(int64_t run_bytes, std::initializer_list<const void*> pointers, int element_bytes) {
  for (int unit = 16; unit > element_bytes; unit /= 2) {
    bool fits = run_bytes % unit == 0;
    for (const void* p : pointers) fits = fits && reinterpret_cast<uintptr_t>(p) % unit == 0;
    if (fits) return unit;
  }
  return element_bytes;
}

/// Calls f(Type<U>{}) with U an unsigned type (or uint4) of `bytes` bytes.
template <typename F>
void dispatch_bits(int bytes, F&& f) {
  switch (bytes) {
    case 1: return f(Type<uint8_t>{});
    case 2: return f(Type<uint16_t>{});
    case 4: return f(Type<uint32_t>{});
    case 8: return f(Type<uint64_t>{});
    case 16: return f(Type<uint4>{});
  }
  throw std::logic_error("index kernels: no unit of " + std::to_string(bytes) + " bytes");
}

/// Calls f(Type<U>{}) with U an unsigned type of one element of `dtype` (elements are moved one by one).
template <typename F>
void dispatch_element_bits(DType dtype, F&& f) {
  switch (element_size(dtype)) {
    case 1: return f(Type<uint8_t>{});
    case 4: return f(Type<uint32_t>{});
    case 8: return f(Type<uint64_t>{});
  }
  throw std::logic_error(std::string("index kernels: no unit for ") + std::string(dtype_name(dtype)));
}

/// Calls f(Type<T>{}) for the dtypes that can be added (bool cannot, as on the CPU).
template <typename F>
void dispatch_addable(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(Type<float>{});
    case DType::Float64: return f(Type<double>{});
    case DType::Int64: return f(Type<int64_t>{});
    case DType::Bool: throw std::invalid_argument(std::string(op) + ": bool tensors cannot be added");
  }
  throw std::invalid_argument(std::string(op) + ": unknown dtype");
}

template <typename T>
__device__ inline void atomic_add(T* address, T value) {
  if constexpr (std::is_same_v<T, int64_t>)  // two's complement: unsigned addition is signed addition
    atomicAdd(reinterpret_cast<unsigned long long*>(address), static_cast<unsigned long long>(value));
  else
    atomicAdd(address, value);
}

/// The index arrays of index_select / index_add: n entries, `stride` apart, each to lie in [0, size).
struct RowIndex {
  const int64_t* index;
  int64_t stride;
  int64_t n;
  int64_t size;
  int64_t dim;
};

// Slice kernels: a block is (tx, ty) threads, ty slices at a time, tx threads along a
// slice's `inner` contiguous elements (coalesced). A slice is one (outer, i) pair.
// Flat kernels: one thread per element, for slices too short to keep tx threads busy.

// out [outer, n, inner] = x [outer, size, inner] at rows index[i] of the middle dim (U: raw units).
template <typename U>
__global__ void index_select_slices_kernel(const U* x, U* out, RowIndex rows, int64_t outer, int64_t inner,
                                           IndexErrorSink sink) {
  const int64_t slices = outer * rows.n;
  for (int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y; s < slices;
       s += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t o = s / rows.n, i = s - o * rows.n;
    const int64_t row = rows.index[i * rows.stride];
    U* dst = out + s * inner;
    if (row < 0 || row >= rows.size) {
      if (threadIdx.x == 0) report_bad_index(sink, IndexOp::IndexSelect, row, rows.size, rows.dim);
      for (int64_t k = threadIdx.x; k < inner; k += blockDim.x) dst[k] = U{};
      continue;
    }
    const U* src = x + (o * rows.size + row) * inner;
    for (int64_t k = threadIdx.x; k < inner; k += blockDim.x) dst[k] = src[k];
  }
}

template <typename U>
__global__ void index_select_flat_kernel(const U* x, U* out, RowIndex rows, int64_t outer, int64_t inner,
                                         IndexErrorSink sink) {
  const int64_t total = outer * rows.n * inner;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = e / inner, k = e - s * inner;
    const int64_t o = s / rows.n, i = s - o * rows.n;
    const int64_t row = rows.index[i * rows.stride];
    if (row < 0 || row >= rows.size) {
      report_bad_index(sink, IndexOp::IndexSelect, row, rows.size, rows.dim);
      out[e] = U{};
      continue;
    }
    out[e] = x[(o * rows.size + row) * inner + k];
  }
}

// out [outer, size, inner] += src [outer, n, inner] at rows index[i] of the middle dim.
template <typename T>
__global__ void index_add_slices_kernel(T* out, const T* src, RowIndex rows, int64_t outer, int64_t inner,
                                        IndexErrorSink sink) {
  const int64_t slices = outer * rows.n;
  for (int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y; s < slices;
       s += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t o = s / rows.n, i = s - o * rows.n;
    const int64_t row = rows.index[i * rows.stride];
    if (row < 0 || row >= rows.size) {
      if (threadIdx.x == 0) report_bad_index(sink, IndexOp::IndexAdd, row, rows.size, rows.dim);
      continue;
    }
    T* dst = out + (o * rows.size + row) * inner;
    const T* from = src + s * inner;
    for (int64_t k = threadIdx.x; k < inner; k += blockDim.x) atomic_add(dst + k, from[k]);
  }
}

template <typename T>
__global__ void index_add_flat_kernel(T* out, const T* src, RowIndex rows, int64_t outer, int64_t inner,
                                      IndexErrorSink sink) {
  const int64_t total = outer * rows.n * inner;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = e / inner, k = e - s * inner;
    const int64_t o = s / rows.n, i = s - o * rows.n;
    const int64_t row = rows.index[i * rows.stride];
    if (row < 0 || row >= rows.size) {
      report_bad_index(sink, IndexOp::IndexAdd, row, rows.size, rows.dim);
      continue;
    }
    atomic_add(out + (o * rows.size + row) * inner + k, src[e]);
  }
}

/// Block shape for the slice kernels: tx threads along a slice (a power of two, 32 to
/// 256, no wider than the slice), kThreads / tx slices per block.
dim3 slice_block(int64_t inner) {
  unsigned tx = 32;
  while (tx < static_cast<unsigned>(kThreads) && tx * 2 <= inner) tx *= 2;
  return dim3(tx, kThreads / tx);
}
constexpr int64_t kMinSliceLength = 32;  // shorter slices go to the flat kernels

// gather / scatter_add walk index's shape; Offsets<3> gives, per index element, the offsets
// of the operands with the `dim` coordinate left out of x (stride 0 there): the index
// value times x's stride along dim is added on top.
struct ElementIndex {
  const int64_t* index;
  int64_t dim_stride;  // of the tensor indexed along dim
  int64_t size;        // its size along dim
  int64_t dim;
};

// out[p] = x[p with coordinate dim replaced by index[p]], p over index's shape. Offsets: out, x, index.
template <typename U>
__global__ void gather_kernel(int64_t n, Offsets<3> offsets, const U* x, U* out, ElementIndex at, IndexErrorSink sink) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t offset[3];
    offsets(e, offset);
    const int64_t v = at.index[offset[2]];
    if (v < 0 || v >= at.size) {
      report_bad_index(sink, IndexOp::Gather, v, at.size, at.dim);
      out[offset[0]] = U{};
      continue;
    }
    out[offset[0]] = x[offset[1] + v * at.dim_stride];
  }
}

// out[p with coordinate dim replaced by index[p]] += src[p], p over index's shape. Offsets: out, index, src.
template <typename T>
__global__ void scatter_add_kernel(int64_t n, Offsets<3> offsets, T* out, const T* src, ElementIndex at,
                                   IndexErrorSink sink) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t offset[3];
    offsets(e, offset);
    const int64_t v = at.index[offset[1]];
    if (v < 0 || v >= at.size) {
      report_bad_index(sink, IndexOp::ScatterAdd, v, at.size, at.dim);
      continue;
    }
    atomic_add(out + offset[0] + v * at.dim_stride, src[offset[2]]);
  }
}

RowIndex row_index(const Tensor& index, int64_t size, int64_t dim) {
  // A 0-d index is one entry (stride irrelevant).
  return {static_cast<const int64_t*>(index.data_ptr()), index.dim() == 1 ? index.strides()[0] : 0, index.numel(), size,
          dim};
}

Shape without_dim_stride(const Tensor& t, int64_t dim) {
  Shape strides = t.strides();
  strides[dim] = 0;
  return strides;
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_errors();
  dim = normalize_dim(dim, x.dim(), "index_select");
  const DimSplit s = split_at_dim(x.shape(), dim);  // x as [outer, size, inner]
  Shape shape = x.shape();
  shape[dim] = index.numel();
  Tensor out = empty(shape, TensorOptions(x.dtype()).with_device(x.device()));
  if (out.numel() == 0) return out;
  const Tensor src = dense(x);
  const RowIndex rows = row_index(index, s.size, dim);
  const IndexErrorSink sink = index_error_sink();
  const int element_bytes = static_cast<int>(element_size(x.dtype()));
  const int unit = widest_unit(s.inner * element_bytes, {src.data_ptr(), out.data_ptr()}, element_bytes);
  const int64_t inner = s.inner * element_bytes / unit;  // in units
  dispatch_bits(unit, [&](auto tag) {
    using U = typename decltype(tag)::type;
    const U* from = static_cast<const U*>(src.data_ptr());
    U* to = static_cast<U*>(out.data_ptr());
    if (inner >= kMinSliceLength) {
      const dim3 block = slice_block(inner);
      index_select_slices_kernel<U>
          <<<blocks_for(s.outer * rows.n, block.y), block, 0, stream()>>>(from, to, rows, s.outer, inner, sink);
    } else {
      index_select_flat_kernel<U>
          <<<blocks_for(s.outer * rows.n * inner), kThreads, 0, stream()>>>(from, to, rows, s.outer, inner, sink);
    }
    FOCUS_CUDA_CHECK_LAUNCH("index_select");
  });
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_errors();
  dim = normalize_dim(dim, x.dim(), "index_add");
  const DimSplit s = split_at_dim(x.shape(), dim);  // x as [outer, size, inner]
  Tensor out = contiguous_copy(x);
  if (src.numel() == 0) return out;
  const Tensor values = dense(src);
  const RowIndex rows = row_index(index, s.size, dim);
  const IndexErrorSink sink = index_error_sink();
  dispatch_addable(x.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* to = static_cast<T*>(out.data_ptr());
    const T* from = static_cast<const T*>(values.data_ptr());
    // One thread per (index entry, element of its slice): for an embedding's backward, one
    // per (token, column), and the atomics only collide where a token repeats.
    if (s.inner >= kMinSliceLength) {
      const dim3 block = slice_block(s.inner);
      index_add_slices_kernel<T>
          <<<blocks_for(s.outer * rows.n, block.y), block, 0, stream()>>>(to, from, rows, s.outer, s.inner, sink);
    } else {
      index_add_flat_kernel<T>
          <<<blocks_for(s.outer * rows.n * s.inner), kThreads, 0, stream()>>>(to, from, rows, s.outer, s.inner, sink);
    }
    FOCUS_CUDA_CHECK_LAUNCH("index_add");
  });
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_errors();
  dim = normalize_dim(dim, x.dim(), "gather");
  Tensor out = empty(index.shape(), TensorOptions(x.dtype()).with_device(x.device()));
  const int64_t n = out.numel();
  if (n == 0) return out;
  const ElementIndex at{static_cast<const int64_t*>(index.data_ptr()), x.strides()[dim], x.shape()[dim], dim};
  const Offsets<3> offsets =
      make_offsets<3>(index.shape(), {out.strides(), without_dim_stride(x, dim), index.strides()}, "gather");
  const IndexErrorSink sink = index_error_sink();
  dispatch_element_bits(x.dtype(), [&](auto tag) {
    using U = typename decltype(tag)::type;
    gather_kernel<U><<<blocks_for(n), kThreads, 0, stream()>>>(n, offsets, static_cast<const U*>(x.data_ptr()),
                                                               static_cast<U*>(out.data_ptr()), at, sink);
    FOCUS_CUDA_CHECK_LAUNCH("gather");
  });
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_errors();
  dim = normalize_dim(dim, x.dim(), "scatter_add");
  Tensor out = contiguous_copy(x);
  const int64_t n = index.numel();
  if (n == 0) return out;
  const ElementIndex at{static_cast<const int64_t*>(index.data_ptr()), out.strides()[dim], out.shape()[dim], dim};
  const Offsets<3> offsets =
      make_offsets<3>(index.shape(), {without_dim_stride(out, dim), index.strides(), src.strides()}, "scatter_add");
  const IndexErrorSink sink = index_error_sink();
  dispatch_addable(x.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    scatter_add_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(n, offsets, static_cast<T*>(out.data_ptr()),
                                                                    static_cast<const T*>(src.data_ptr()), at, sink);
    FOCUS_CUDA_CHECK_LAUNCH("scatter_add");
  });
  return out;
}

}  // namespace focus::cuda
