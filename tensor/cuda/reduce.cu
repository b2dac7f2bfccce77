// Reductions on the GPU: sum, mean, var, amax/amin, max/min with indices,
// argmax/argmin, logsumexp and sum_to, with the semantics of tensor/cpu/reduce.cpp
// (result dtypes, NaN propagation, first index on ties, empty ranges).
//
// Every reduction is one problem: `outputs` results, each combining `count` input
// elements. The plan drops size-1 dims and splits the others into kept and reduced
// dims, each list in memory order with contiguous runs merged, so that whatever view
// the input is, an element's offset is
//     kept_offset(output) + reduced_offset(position).
// The input's innermost (stride-1) dim decides the kernel:
//   row mode     it is reduced (a mean over channels, a full sum, NCHW's spatial dims):
//                `lanes` threads share one output and read its row together, then
//                combine with warp shuffles (and shared memory past one warp);
//   column mode  it is kept (a bias gradient: [B*T, C] summed to [C]): threadIdx.x runs
//                along the kept inner dim, so a warp reads consecutive addresses of each
//                reduced row, and threadIdx.y splits the rows; shared memory combines them.
// When the outputs alone cannot fill the GPU (a full sum, a few long columns), the
// reduced range is split among `splits` blocks too (gridDim.y). They write partial
// results that a second kernel combines in a fixed order, so results are deterministic.
//
// Accumulators: float for float32 (each thread sums a short strided piece, then a tree
// combines the pieces, which keeps the error near float's), double for float64, int64
// for int64 and bool. var and logsumexp take two passes, like the CPU: the mean (the
// max), then Σ (x − mean)² (Σ exp(x − max)).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kMaxSplits = 65535;  // gridDim.y limit
/// Resident blocks per SM that the kernels are built for (≤ 64 registers a thread) and
/// that the launch sizes aim at: 1024 threads, enough loads in flight to cover memory latency.
constexpr int kBlocksPerSM = 4;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Smallest power of two >= n (1 for n <= 1), capped at `cap`.
int pow2_at_least(int64_t n, int cap) {
  int p = 1;
  while (p < cap && p < n) p *= 2;
  return p;
}

/// Blocks that keep every SM busy (kBlocksPerSM resident blocks of kThreads each).
int64_t target_blocks() {
  static std::atomic<int> cached[64];
  int device = 0;
  FOCUS_CUDA_CHECK(cudaGetDevice(&device));
  int count = device < 64 ? cached[device].load(std::memory_order_relaxed) : 0;
  if (count == 0) {
    FOCUS_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    if (device < 64) cached[device].store(count, std::memory_order_relaxed);
  }
  return kBlocksPerSM * static_cast<int64_t>(count);
}

// ---- indexing ----------------------------------------------------------------------

/// Maps a linear index over `sizes` (row-major) to an input offset and, for kept dims,
/// an output offset. ndim is small after merging (usually 1, which needs no division).
struct DimIndexer {
  int ndim = 1;
  int64_t sizes[kMaxDims] = {1};
  int64_t strides[kMaxDims] = {0};      // input elements
  int64_t out_strides[kMaxDims] = {0};  // output elements (kept dims; unused for reduced ones)

  __device__ int64_t input(int64_t i) const {
    int64_t offset = 0;
    for (int d = ndim - 1; d > 0; --d) {
      const int64_t q = i / sizes[d];
      offset += (i - q * sizes[d]) * strides[d];
      i = q;
    }
    return offset + i * strides[0];
  }
  __device__ void both(int64_t i, int64_t& in, int64_t& out) const {
    in = 0;
    out = 0;
    for (int d = ndim - 1; d > 0; --d) {
      const int64_t q = i / sizes[d], index = i - q * sizes[d];
      in += index * strides[d];
      out += index * out_strides[d];
      i = q;
    }
    in += i * strides[0];
    out += i * out_strides[0];
  }
};

struct PlanDim {
  int64_t size, stride, out_stride;
};

/// Memory order (largest stride first; broadcast dims, stride 0, outermost of all), then
/// neighbours that step through memory as one dim merged.
std::vector<PlanDim> memory_order(std::vector<PlanDim> dims) {
  auto key = [](const PlanDim& d) { return d.stride == 0 ? std::numeric_limits<int64_t>::max() : d.stride; };
  std::stable_sort(dims.begin(), dims.end(), [&](const PlanDim& a, const PlanDim& b) { return key(a) > key(b); });
  std::vector<PlanDim> merged;
  for (const PlanDim& d : dims) {
    if (!merged.empty()) {
      PlanDim& m = merged.back();
      if (m.stride == d.stride * d.size && m.out_stride == d.out_stride * d.size) {
        m.size *= d.size;
        m.stride = d.stride;
        m.out_stride = d.out_stride;
        continue;
      }
    }
    merged.push_back(d);
  }
  return merged;
}

DimIndexer make_indexer(const std::vector<PlanDim>& dims, const char* op) {
  if (dims.size() > static_cast<size_t>(kMaxDims))
    throw std::invalid_argument(std::string(op) + ": the CUDA kernels handle at most " + std::to_string(kMaxDims) +
                                " non-mergeable dims, got " + std::to_string(dims.size()));
  DimIndexer indexer;  // no dims: one position at offset 0
  if (dims.empty()) return indexer;
  indexer.ndim = static_cast<int>(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    indexer.sizes[d] = dims[d].size;
    indexer.strides[d] = dims[d].stride;
    indexer.out_strides[d] = dims[d].out_stride;
  }
  return indexer;
}

/// What a reduction of x over `dims` reads and writes. Outputs are addressed by their
/// offset in the contiguous keep_shape layout (reduced dims as 1s), which is also their
/// offset in out_shape.
struct ReducePlan {
  Tensor input;             // x, or a contiguous copy when x has no stride-1 dim
  Shape keep_shape, out_shape;
  int64_t outputs = 1, count = 1;
  std::vector<PlanDim> kept, reduced;  // memory order, merged
  bool rows = true;                    // the innermost dim is reduced (row mode)
};

ReducePlan plan_reduce(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, const char* op) {
  ReducePlan plan;
  const std::vector<bool> mask = kernels::reduced_dims_mask(x.shape(), dims, op);
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t size = x.shape()[d];
    if (mask[d]) {
      plan.count *= size;
      plan.keep_shape.push_back(1);
      if (keepdim) plan.out_shape.push_back(1);
    } else {
      plan.outputs *= size;
      plan.keep_shape.push_back(size);
      plan.out_shape.push_back(size);
    }
  }
  plan.input = x;
  if (plan.outputs == 0 || plan.count == 0) return plan;  // nothing is read

  auto split = [&](const Tensor& t) {
    const Shape out_strides = contiguous_strides(plan.keep_shape);
    plan.kept.clear();
    plan.reduced.clear();
    int64_t innermost = std::numeric_limits<int64_t>::max();
    bool innermost_reduced = true;
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (t.shape()[d] == 1) continue;
      const PlanDim dim{t.shape()[d], t.strides()[d], mask[d] ? 0 : out_strides[d]};
      (mask[d] ? plan.reduced : plan.kept).push_back(dim);
      if (dim.stride > 0 && dim.stride < innermost) {
        innermost = dim.stride;
        innermost_reduced = mask[d];
      }
    }
    plan.kept = memory_order(plan.kept);
    plan.reduced = memory_order(plan.reduced);
    plan.rows = innermost_reduced;
    // A single element (all dims size 1) is a row of length 1; otherwise the kernels
    // want a stride-1 dim to read along.
    return innermost == 1 || (plan.kept.empty() && plan.reduced.empty());
  };
  if (!split(x)) {  // a step slice or a broadcast view: read a dense copy instead
    plan.input = kernels::contiguous_copy(x);
    split(plan.input);
  }
  return plan;
}

// ---- device helpers ----------------------------------------------------------------

/// True when a should replace b as the running max (min): NaN beats any number, as on the CPU.
template <bool IsMax, typename T>
__device__ inline bool beats(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    return (IsMax ? a > b : a < b) || (a != a && b == b);
  else
    return IsMax ? a > b : a < b;
}

template <bool IsMax, typename T>
__host__ __device__ constexpr T extremum_identity() {
  using limits = std::numeric_limits<T>;
  if constexpr (limits::has_infinity)
    return IsMax ? -limits::infinity() : limits::infinity();
  else
    return IsMax ? limits::lowest() : limits::max();
}

template <typename T>
struct ValueIndex {
  T value;
  int64_t index;
};

template <typename V>
__device__ inline V shuffle_xor(V v, int mask, int width) {
  if constexpr (std::is_same_v<V, bool>)
    return __shfl_xor_sync(kFullMask, static_cast<int>(v), mask, width) != 0;
  else
    return __shfl_xor_sync(kFullMask, v, mask, width);
}
template <typename T>
__device__ inline ValueIndex<T> shuffle_xor(ValueIndex<T> v, int mask, int width) {
  return {shuffle_xor(v.value, mask, width), shuffle_xor(v.index, mask, width)};
}

/// Combines acc over each aligned group of `width` lanes (a power of two <= 32); every
/// lane of the group gets the result. All 32 lanes of the warp must call it.
template <typename Op, typename Acc>
__device__ inline Acc group_combine(const Op& op, Acc acc, int width) {
  for (int mask = width / 2; mask > 0; mask /= 2) acc = op.combine(acc, shuffle_xor(acc, mask, width));
  return acc;
}

// ---- ops: what is computed ----------------------------------------------------------
// Each op has Acc, Context (per-output data read once, e.g. var's mean), and
//   identity()                     the value of an empty range
//   context(out)                   Context for the output at offset `out`
//   add(acc, value, position, ctx) acc combined with one element at `position` of the range
//   combine(a, b)                  two partial results, in either order
//   write(out, acc)                stores a result

template <typename T>
using sum_acc_t = std::conditional_t<std::is_floating_point_v<T>, T, int64_t>;

/// sum (divisor 1) and mean (divisor = count).
template <typename T, typename Out>
struct SumOp {
  using Acc = sum_acc_t<T>;
  using Context = int;
  Out* out;
  double divisor;
  __device__ Acc identity() const { return Acc(0); }
  __device__ Context context(int64_t) const { return 0; }
  __device__ Acc add(Acc acc, T v, int64_t, Context) const { return acc + static_cast<Acc>(v); }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ void write(int64_t o, Acc acc) const {
    if constexpr (std::is_floating_point_v<Out>)
      out[o] = divisor == 1.0 ? static_cast<Out>(acc) : static_cast<Out>(static_cast<double>(acc) / divisor);
    else
      out[o] = static_cast<Out>(acc);
  }
};

/// Second pass of var: Σ (x − mean)², with each output's mean from the first pass.
template <typename T>
struct SquaredDeviationOp {
  using Acc = T;
  using Context = T;
  const T* mean;  // keep_shape layout, like the output
  T* out;
  double divisor;  // count − correction (0 gives NaN or inf, as on the CPU)
  __device__ Acc identity() const { return T(0); }
  __device__ Context context(int64_t o) const { return mean[o]; }
  __device__ Acc add(Acc acc, T v, int64_t, Context mu) const {
    const T d = v - mu;
    return acc + d * d;
  }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ void write(int64_t o, Acc acc) const { out[o] = static_cast<T>(static_cast<double>(acc) / divisor); }
};

/// Second pass of logsumexp: log Σ exp(x − shift) + shift, shift = the max of the range,
/// or 0 when that is infinite (x − max would be inf − inf = NaN; this way all −inf gives
/// −inf and a +inf gives +inf).
template <typename T>
struct SumExpOp {
  using Acc = T;
  using Context = T;
  const T* max;  // keep_shape layout
  T* out;
  __device__ Acc identity() const { return T(0); }
  __device__ Context context(int64_t o) const {
    const T m = max[o];
    return isfinite(m) ? m : T(0);
  }
  __device__ Acc add(Acc acc, T v, int64_t, Context shift) const {
    if constexpr (std::is_same_v<T, float>)
      return acc + expf(v - shift);
    else
      return acc + ::exp(v - shift);
  }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ void write(int64_t o, Acc acc) const {
    if constexpr (std::is_same_v<T, float>)
      out[o] = logf(acc) + context(o);
    else
      out[o] = ::log(acc) + context(o);
  }
};

/// amax / amin over any dims.
template <typename T, bool IsMax>
struct ExtremumOp {
  using Acc = T;
  using Context = int;
  T* out;
  __device__ Acc identity() const { return extremum_identity<IsMax, T>(); }
  __device__ Context context(int64_t) const { return 0; }
  __device__ Acc add(Acc acc, T v, int64_t, Context) const { return beats<IsMax>(v, acc) ? v : acc; }
  __device__ Acc combine(Acc a, Acc b) const { return beats<IsMax>(b, a) ? b : a; }
  __device__ void write(int64_t o, Acc acc) const { out[o] = acc; }
};

/// max / min with indices and argmax / argmin: one reduced dim, so a position is the
/// index along it. Each thread visits its positions in increasing order and replaces
/// its best only when strictly beaten; combine breaks ties (equal values, or two NaNs)
/// by the smaller index. Together: the first index wins, as on the CPU. Starting from
/// {identity, 0} is right too: if nothing beats the identity, every element equals it.
template <typename T, bool IsMax>
struct ArgExtremumOp {
  using Acc = ValueIndex<T>;
  using Context = int;
  T* values;  // null for argmax / argmin
  int64_t* indices;
  __device__ Acc identity() const { return {extremum_identity<IsMax, T>(), 0}; }
  __device__ Context context(int64_t) const { return 0; }
  __device__ Acc add(Acc acc, T v, int64_t position, Context) const {
    return beats<IsMax>(v, acc.value) ? Acc{v, position} : acc;
  }
  __device__ Acc combine(Acc a, Acc b) const {
    if (beats<IsMax>(b.value, a.value)) return b;
    if (beats<IsMax>(a.value, b.value)) return a;
    return b.index < a.index ? b : a;
  }
  __device__ void write(int64_t o, Acc acc) const {
    if (values) values[o] = acc.value;
    indices[o] = acc.index;
  }
};

// ---- kernels -------------------------------------------------------------------------

/// Row mode. Block (lanes, per_block): threadIdx.y picks one of per_block outputs,
/// the `lanes` threads along x read positions [begin, end) of its range with stride
/// lanes, where blockIdx.y picks the piece [split·chunk, split·chunk + chunk).
/// lanes is a power of two; past 32 an output has lanes / 32 whole warps.
/// Writes outputs (splits == 1) or partial[o · splits + split].
template <typename T, typename Op>
__global__ void __launch_bounds__(kThreads, kBlocksPerSM)
    reduce_rows_kernel(const T* __restrict__ x, DimIndexer kept, DimIndexer reduced, int64_t outputs, int64_t count,
                       int64_t chunk, Op op, typename Op::Acc* partial) {
  using Acc = typename Op::Acc;
  __shared__ Acc warp_results[kThreads / 32];
  const int lanes = blockDim.x, lane = threadIdx.x;
  const int64_t splits = gridDim.y, split = blockIdx.y;
  const int64_t begin = split * chunk, end = begin + chunk < count ? begin + chunk : count;
  // The loop condition depends on blockIdx only: every thread of the block runs the
  // same iterations, as the shuffles and __syncthreads below need.
  for (int64_t group = blockIdx.x; group * blockDim.y < outputs; group += gridDim.x) {
    const int64_t o = group * blockDim.y + threadIdx.y;
    const bool valid = o < outputs;
    Acc acc = op.identity();
    int64_t in_base = 0, out = 0;
    if (valid) {
      kept.both(o, in_base, out);
      const auto ctx = op.context(out);
      const T* row = x + in_base;
      int64_t r = begin + lane;
      // Four independent loads in flight per thread, added in position order.
      for (; r + 3 * lanes < end; r += 4 * lanes) {
        const T v0 = row[reduced.input(r)], v1 = row[reduced.input(r + lanes)];
        const T v2 = row[reduced.input(r + 2 * lanes)], v3 = row[reduced.input(r + 3 * lanes)];
        acc = op.add(acc, v0, r, ctx);
        acc = op.add(acc, v1, r + lanes, ctx);
        acc = op.add(acc, v2, r + 2 * lanes, ctx);
        acc = op.add(acc, v3, r + 3 * lanes, ctx);
      }
      for (; r < end; r += lanes) acc = op.add(acc, row[reduced.input(r)], r, ctx);
    }
    acc = group_combine(op, acc, lanes < 32 ? lanes : 32);
    if (lanes > 32) {  // uniform over the block
      const int warps = lanes / 32, first = threadIdx.y * warps;  // this output's warps
      __syncthreads();  // the previous iteration has read warp_results
      if (lane % 32 == 0) warp_results[first + lane / 32] = acc;
      __syncthreads();
      if (lane == 0)
        for (int w = 1; w < warps; ++w) acc = op.combine(acc, warp_results[first + w]);
    }
    if (lane == 0 && valid) {
      if (splits == 1)
        op.write(out, acc);
      else
        partial[o * splits + split] = acc;
    }
  }
}

/// Column mode. The kept inner dim (stride 1 in the input, `inner` long, output stride
/// inner_out_stride) runs along threadIdx.x in tiles of blockDim.x; `outer` maps the
/// other kept dims. threadIdx.y splits the positions of this block's piece of the range
/// (blockIdx.y, as in row mode); shared memory combines them. Output o = outer · inner + j.
template <typename T, typename Op>
__global__ void __launch_bounds__(kThreads, kBlocksPerSM)
    reduce_columns_kernel(const T* __restrict__ x, DimIndexer outer, int64_t outer_count, int64_t inner,
                          int64_t inner_out_stride, DimIndexer reduced, int64_t count, int64_t chunk, Op op,
                          typename Op::Acc* partial) {
  using Acc = typename Op::Acc;
  __shared__ Acc shared[kThreads];
  const int tx = threadIdx.x, ty = threadIdx.y, width = blockDim.x, height = blockDim.y;
  const int64_t splits = gridDim.y, split = blockIdx.y;
  const int64_t begin = split * chunk, end = begin + chunk < count ? begin + chunk : count;
  const int64_t tiles = (inner + width - 1) / width;
  for (int64_t unit = blockIdx.x; unit < outer_count * tiles; unit += gridDim.x) {
    const int64_t o_outer = unit / tiles, j = (unit - o_outer * tiles) * width + tx;
    const bool valid = j < inner;
    int64_t in_base = 0, out_base = 0;
    outer.both(o_outer, in_base, out_base);
    const int64_t out = out_base + j * inner_out_stride;
    Acc acc = op.identity();
    if (valid) {
      const auto ctx = op.context(out);
      const T* column = x + in_base + j;
      int64_t r = begin + ty;
      for (; r + 3 * height < end; r += 4 * height) {
        const T v0 = column[reduced.input(r)], v1 = column[reduced.input(r + height)];
        const T v2 = column[reduced.input(r + 2 * height)], v3 = column[reduced.input(r + 3 * height)];
        acc = op.add(acc, v0, r, ctx);
        acc = op.add(acc, v1, r + height, ctx);
        acc = op.add(acc, v2, r + 2 * height, ctx);
        acc = op.add(acc, v3, r + 3 * height, ctx);
      }
      for (; r < end; r += height) acc = op.add(acc, column[reduced.input(r)], r, ctx);
    }
    shared[ty * width + tx] = acc;
    __syncthreads();
    for (int half = height / 2; half > 0; half /= 2) {  // height is a power of two
      if (ty < half) shared[ty * width + tx] = op.combine(shared[ty * width + tx], shared[(ty + half) * width + tx]);
      __syncthreads();
    }
    if (ty == 0 && valid) {
      if (splits == 1)
        op.write(out, shared[tx]);
      else
        partial[(o_outer * inner + j) * splits + split] = shared[tx];
    }
    __syncthreads();  // shared is overwritten by the next unit
  }
}

/// Second pass after a split: output o = combine of partial[o · splits .. + splits), one
/// warp per output (lanes stride over the splits); `kept` gives the output's offset.
/// With splits == 0 it writes the identity (a reduction over an empty range).
template <typename Op>
__global__ void combine_partials_kernel(const typename Op::Acc* __restrict__ partial, int64_t splits, DimIndexer kept,
                                        int64_t outputs, Op op) {
  using Acc = typename Op::Acc;
  for (int64_t group = blockIdx.x; group * blockDim.y < outputs; group += gridDim.x) {
    const int64_t o = group * blockDim.y + threadIdx.y;
    const bool valid = o < outputs;
    Acc acc = op.identity();
    if (valid)
      for (int64_t s = threadIdx.x; s < splits; s += 32) acc = op.combine(acc, partial[o * splits + s]);
    acc = group_combine(op, acc, 32);
    if (threadIdx.x == 0 && valid) {
      int64_t in = 0, out = 0;
      kept.both(o, in, out);
      op.write(out, acc);
    }
  }
}

unsigned grid_for(int64_t blocks) { return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, 1 << 20)); }

/// Runs `op` over the plan's input (elements of type T): the kernel its layout asks for,
/// split over blocks when the outputs are too few, then the combining pass if split.
template <typename T, typename Op>
void run_reduce(const ReducePlan& plan, const Op& op, const char* op_name) {
  using Acc = typename Op::Acc;
  if (plan.outputs == 0) return;
  const int64_t outputs = plan.outputs, count = plan.count;
  dim3 block(32, kThreads / 32);
  if (count == 0) {  // every output is the identity; outputs sit at 0..outputs-1
    DimIndexer dense;
    dense.sizes[0] = outputs;
    dense.out_strides[0] = 1;
    combine_partials_kernel<Op><<<grid_for(ceil_div(outputs, block.y)), block, 0, stream()>>>(nullptr, 0, dense,
                                                                                               outputs, op);
    FOCUS_CUDA_CHECK_LAUNCH("combine_partials_kernel");
    return;
  }
  const T* x = static_cast<const T*>(plan.input.data_ptr());
  const DimIndexer kept = make_indexer(plan.kept, op_name), reduced = make_indexer(plan.reduced, op_name);
  const int64_t target = target_blocks();
  int64_t blocks = 0, splits = 1, per_thread_min = 0;
  if (plan.rows) {
    // Up to a warp per output; wider (a whole block) when the outputs are too few to
    // fill the GPU and each lane still gets 16 elements.
    int lanes = pow2_at_least(count, 32);
    while (lanes < kThreads && lanes * 16 <= count && ceil_div(outputs, kThreads / lanes) < target) lanes *= 2;
    block = dim3(lanes, kThreads / lanes);
    per_thread_min = lanes;
  } else {
    // As many columns as there are (up to a block), and rows for the rest of the block,
    // but no more rows than positions.
    const int64_t inner = plan.kept.back().size;
    const int height = std::min(kThreads / pow2_at_least(inner, 32), pow2_at_least(count, kThreads));
    const int width = std::min(kThreads / height, pow2_at_least(inner, kThreads));
    block = dim3(width, height);
    per_thread_min = height;
  }
  blocks = plan.rows ? ceil_div(outputs, block.y)
                     : (outputs / plan.kept.back().size) * ceil_div(plan.kept.back().size, block.x);
  // Split the range when the blocks are too few, keeping ≥ 32 elements per thread and piece.
  if (blocks < target) splits = std::clamp<int64_t>(std::min(ceil_div(target, blocks), count / (per_thread_min * 32)),
                                                    1, kMaxSplits);
  int64_t chunk = ceil_div(count, splits);
  if (splits > 1) {
    chunk = ceil_div(chunk, 128) * 128;  // pieces start on aligned positions
    splits = ceil_div(count, chunk);
  }
  Tensor workspace;
  Acc* partial = nullptr;
  if (splits > 1) {
    const int64_t bytes = outputs * splits * static_cast<int64_t>(sizeof(Acc));
    workspace = empty({ceil_div(bytes, 8)}, TensorOptions(kInt64).with_device(plan.input.device()));
    partial = static_cast<Acc*>(workspace.data_ptr());
  }
  const dim3 grid(grid_for(blocks), static_cast<unsigned>(splits));
  if (plan.rows) {
    reduce_rows_kernel<T, Op><<<grid, block, 0, stream()>>>(x, kept, reduced, outputs, count, chunk, op, partial);
    FOCUS_CUDA_CHECK_LAUNCH("reduce_rows_kernel");
  } else {
    std::vector<PlanDim> outer_dims(plan.kept.begin(), plan.kept.end() - 1);
    const PlanDim& inner = plan.kept.back();
    reduce_columns_kernel<T, Op><<<grid, block, 0, stream()>>>(x, make_indexer(outer_dims, op_name),
                                                              outputs / inner.size, inner.size, inner.out_stride,
                                                              reduced, count, chunk, op, partial);
    FOCUS_CUDA_CHECK_LAUNCH("reduce_columns_kernel");
  }
  if (splits > 1) {
    const dim3 combine_block(32, kThreads / 32);
    combine_partials_kernel<Op><<<grid_for(ceil_div(outputs, combine_block.y)), combine_block, 0, stream()>>>(
        partial, splits, kept, outputs, op);
    FOCUS_CUDA_CHECK_LAUNCH("combine_partials_kernel");
  }
}

Tensor new_output(const Shape& shape, DType dtype, const Tensor& like) {
  return empty(shape, TensorOptions(dtype).with_device(like.device()));
}

/// Σ x over the plan, divided by count for mean. Int64 and bool sum to int64; their mean is float32.
Tensor sum_or_mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool mean, const char* op) {
  const ReducePlan plan = plan_reduce(x, dims, keepdim, op);
  const DType out_dtype = is_floating(x.dtype()) ? x.dtype() : (mean ? kFloat32 : kInt64);
  Tensor out = new_output(plan.out_shape, out_dtype, x);
  const double divisor = mean ? static_cast<double>(plan.count) : 1.0;
  dispatch_all(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>)
      run_reduce<T>(plan, SumOp<T, T>{out.data<T>(), divisor}, op);
    else if (mean)
      run_reduce<T>(plan, SumOp<T, float>{out.data<float>(), divisor}, op);
    else
      run_reduce<T>(plan, SumOp<T, int64_t>{out.data<int64_t>(), divisor}, op);
  });
  return out;
}

template <bool IsMax>
Tensor extremum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, const char* op) {
  const ReducePlan plan = plan_reduce(x, dims, keepdim, op);
  Tensor out = new_output(plan.out_shape, x.dtype(), x);
  dispatch_all(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    run_reduce<T>(plan, ExtremumOp<T, IsMax>{out.data<T>()}, op);
  });
  return out;
}

template <bool IsMax>
std::pair<Tensor, Tensor> arg_extremum(const Tensor& x, int64_t dim, bool keepdim, bool want_values, const char* op) {
  const ReducePlan plan = plan_reduce(x, {dim}, keepdim, op);
  Tensor values = want_values ? new_output(plan.out_shape, x.dtype(), x) : Tensor();
  Tensor indices = new_output(plan.out_shape, kInt64, x);
  dispatch_all(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    run_reduce<T>(plan, ArgExtremumOp<T, IsMax>{want_values ? values.data<T>() : nullptr, indices.data<int64_t>()},
                  op);
  });
  return {values, indices};
}

}  // namespace

// kernels:: (tensor/cpu/reduce.cpp) has checked dims, correction and empty ranges.

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_or_mean(x, dims, keepdim, /*mean=*/false, "sum");
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_or_mean(x, dims, keepdim, /*mean=*/true, "mean");
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  const ReducePlan plan = plan_reduce(x, dims, keepdim, "var");
  Tensor out = new_output(plan.out_shape, x.dtype(), x);
  dispatch_floating(x.dtype(), "var", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Two passes: the mean, then Σ (x − mean)², which has none of the cancellation of
    // Σx² − (Σx)²/n when the mean is large against the spread.
    Tensor mean = new_output(plan.keep_shape, x.dtype(), x);
    run_reduce<T>(plan, SumOp<T, T>{mean.data<T>(), static_cast<double>(plan.count)}, "var");
    const double divisor = static_cast<double>(std::max<int64_t>(plan.count - correction, 0));
    run_reduce<T>(plan, SquaredDeviationOp<T>{mean.data<T>(), out.data<T>(), divisor}, "var");
  });
  return out;
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum<true>(x, dims, keepdim, "amax");
}

Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum<false>(x, dims, keepdim, "amin");
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extremum<true>(x, dim, keepdim, /*want_values=*/true, "max");
}

std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extremum<false>(x, dim, keepdim, /*want_values=*/true, "min");
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extremum<true>(x, dim, keepdim, /*want_values=*/false, "argmax").second;
}

Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extremum<false>(x, dim, keepdim, /*want_values=*/false, "argmin").second;
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const ReducePlan plan = plan_reduce(x, dims, keepdim, "logsumexp");
  Tensor out = new_output(plan.out_shape, x.dtype(), x);
  dispatch_floating(x.dtype(), "logsumexp", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (plan.count == 0) {  // log of an empty sum
      kernels::fill(out, -std::numeric_limits<double>::infinity());
      return;
    }
    Tensor max = new_output(plan.keep_shape, x.dtype(), x);
    run_reduce<T>(plan, ExtremumOp<T, true>{max.data<T>()}, "logsumexp");
    run_reduce<T>(plan, SumExpOp<T>{max.data<T>(), out.data<T>()}, "logsumexp");
  });
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  // kernels::sum_to has checked that `shape` broadcasts to x's. When it differs, the
  // dims below are not empty (empty would mean all dims).
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && x.shape()[d] != 1)) dims.push_back(d);
  // keepdim leaves the leading dims as 1s; the contiguous result views as `shape` for free.
  return views::reshape_view(sum(x, dims, /*keepdim=*/true), shape);
}

}  // namespace focus::cuda
