// Joining tensors along a dim on the GPU, as tensor/cpu/join.cpp. The output is viewed
// as [outer, row] with row = its size along dim times the elements after dim; input i
// fills the columns [start_i, start_i + block_i) of every row. Contiguous inputs of the
// output's dtype are copied by one kernel for up to kBatch inputs at a time (an LSTM
// stacks hundreds of steps); the rest (strided views, other dtypes) go through copy().
#include <algorithm>
#include <string>
#include <vector>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

constexpr int kBatch = 64;  // inputs per launch; the struct stays well under the 4 KiB of kernel arguments

/// Up to kBatch inputs, their row blocks and where those start in an output row, in units U.
template <typename U>
struct CatBatch {
  const U* source[kBatch];
  int64_t block[kBatch];
  int64_t start[kBatch];
};

// out [outer, row] gets source_i [outer, block_i] at columns start_i..; blockIdx.y picks the input.
template <typename U>
__global__ void cat_kernel(CatBatch<U> batch, U* out, int64_t outer, int64_t row) {
  const U* source = batch.source[blockIdx.y];
  const int64_t block = batch.block[blockIdx.y], start = batch.start[blockIdx.y];
  const int64_t total = outer * block;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / block;
    out[r * row + start + (e - r * block)] = source[e];
  }
}

template <typename F>
void dispatch_bits(int bytes, F&& f) {
  switch (bytes) {
    case 1: return f(Type<uint8_t>{});
    case 2: return f(Type<uint16_t>{});
    case 4: return f(Type<uint32_t>{});
    case 8: return f(Type<uint64_t>{});
    case 16: return f(Type<uint4>{});
  }
  throw std::logic_error("cat: no unit of " + std::to_string(bytes) + " bytes");
}

/// One piece of the output: input `tensor` and the first column (in elements) of its block.
struct Piece {
  const Tensor* tensor;
  int64_t start;
};

// The pieces in batches, moved in the widest unit (up to 16 bytes) that every block,
// the row and every address divide.
void cat_dense(const std::vector<Piece>& pieces, const Tensor& out, int64_t outer, int64_t inner, int64_t dim) {
  const int element_bytes = static_cast<int>(element_size(out.dtype()));
  const int64_t row_bytes = out.shape()[dim] * inner * element_bytes;
  int unit = 16;
  auto fits = [&](int64_t bytes) { return bytes % unit == 0; };
  while (unit > element_bytes) {
    bool ok = fits(row_bytes) && fits(reinterpret_cast<uintptr_t>(out.data_ptr()));
    for (const Piece& p : pieces)
      ok = ok && fits(p.tensor->shape()[dim] * inner * element_bytes) && fits(p.start * inner * element_bytes) &&
           fits(reinterpret_cast<uintptr_t>(p.tensor->data_ptr()));
    if (ok) break;
    unit /= 2;
  }
  const int64_t per_unit = unit / element_bytes;  // elements per unit
  dispatch_bits(unit, [&](auto tag) {
    using U = typename decltype(tag)::type;
    for (size_t first = 0; first < pieces.size(); first += kBatch) {
      const int count = static_cast<int>(std::min<size_t>(kBatch, pieces.size() - first));
      CatBatch<U> batch{};
      int64_t largest = 0;
      for (int i = 0; i < count; ++i) {
        const Piece& p = pieces[first + i];
        batch.source[i] = static_cast<const U*>(p.tensor->data_ptr());
        batch.block[i] = p.tensor->shape()[dim] * inner / per_unit;
        batch.start[i] = p.start * inner / per_unit;
        largest = std::max(largest, outer * batch.block[i]);
      }
      // Enough blocks for the largest input; blocks past a smaller input's end exit at once.
      const unsigned blocks_x = std::min<unsigned>(blocks_for(largest), std::max(1, 8192 / count));
      const int64_t row = out.shape()[dim] * inner / per_unit;
      cat_kernel<U>
          <<<dim3(blocks_x, count), kThreads, 0, stream()>>>(batch, static_cast<U*>(out.data_ptr()), outer, row);
      FOCUS_CUDA_CHECK_LAUNCH("cat_kernel");
    }
  });
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  const Tensor& first = tensors[0];
  dim = normalize_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  DType dtype = first.dtype();
  shape[dim] = 0;
  for (const Tensor& t : tensors) {
    shape[dim] += t.shape()[dim];
    dtype = promote_types(dtype, t.dtype());
  }
  Tensor out = empty(shape, TensorOptions(dtype).with_device(first.device()));
  if (out.numel() == 0) return out;
  const DimSplit split = split_at_dim(shape, dim);  // out as [outer, size, inner]

  std::vector<Piece> dense;
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    const int64_t length = t.shape()[dim];
    if (length > 0) {
      if (t.is_contiguous() && t.dtype() == dtype)
        dense.push_back({&t, start});
      else  // strided or another dtype: copied (and converted) into its window
        copy(views::slice(out, dim, start, start + length, 1), t);
    }
    start += length;
  }
  if (!dense.empty()) cat_dense(dense, out, split.outer, split.inner, dim);
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  std::vector<Tensor> unsqueezed;
  unsqueezed.reserve(tensors.size());
  for (const Tensor& t : tensors) unsqueezed.push_back(views::unsqueeze(t, dim));
  return cat(unsqueezed, dim);
}

}  // namespace focus::cuda
