// Reductions: sum, mean, var, amax/amin, max/min with indices, argmax/argmin,
// logsumexp and sum_to.
//
// All of them run on one loop engine. It drops size-1 dims, orders the rest by
// the input's strides (memory order, whatever view the input is) and merges
// neighbours that step through memory as one dim. Any reduction then takes one
// of two shapes, decided by the innermost (stride-1) dim:
//
//   row mode     the innermost dim is reduced: every output reduces contiguous
//                rows (mean over the channels of (B, T, C), a full sum, the
//                spatial dims of NCHW for BatchNorm, with N as extra rows);
//   column mode  the innermost dim is kept: each reduced index adds a contiguous
//                slice of the input into a block of accumulators (a bias
//                gradient: (B*T, C) summed over B*T), so no inner loop strides.
//
// An input whose innermost dim is not stride 1 (a step slice, a fully broadcast
// view) is copied to contiguous first, once. Work is split over outputs when
// there are enough of them; otherwise each output's reduced range is split
// among threads and the partial results are combined in order, so results are
// deterministic for a given thread count.
//
// Accuracy: floating sums accumulate in double (float32 inputs included) in 16
// interleaved lanes; var is two-pass (mean, then squared deviations) in double.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "tensor/cpu/lanes.h"
#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

using cpu::beats;
using cpu::extremum_identity;
using cpu::lane_extremum;
using cpu::lane_sum;

constexpr int64_t kGrain = 32768;        // input elements per thread below which a loop stays serial
constexpr int64_t kColumnBlock = 8192;   // accumulators per column block: 64 KiB of doubles, stays in L2

int available_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

/// Sums accumulate in double for floating inputs and in int64 for int64 and bool.
template <typename T>
using sum_acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// ---- the plan: which dims, which output shape ----------------------------------

struct ReductionPlan {
  std::vector<bool> mask;  // per input dim: reduced?
  Shape keep_shape;        // input shape with reduced dims set to 1 (the output's memory layout)
  Shape out_shape;         // keep_shape, or without the reduced dims when !keepdim
  int64_t count = 1;       // input elements reduced into each output
};

ReductionPlan plan_reduction(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, const char* op) {
  check_defined(x, op);
  ReductionPlan plan;
  plan.mask = reduced_dims_mask(x.shape(), dims, op);
  for (int64_t d = 0; d < x.dim(); ++d) {
    int64_t size = x.shape()[d];
    if (plan.mask[d]) {
      plan.count *= size;
      plan.keep_shape.push_back(1);
      if (keepdim) plan.out_shape.push_back(1);
    } else {
      plan.keep_shape.push_back(size);
      plan.out_shape.push_back(size);
    }
  }
  return plan;
}

/// Max, min and their indices have no value for an empty range.
void check_nonempty(const Tensor& x, const ReductionPlan& plan, const char* op) {
  if (plan.count == 0 && shape_numel(plan.keep_shape) > 0)
    throw std::invalid_argument(
        fmt::format("{}: cannot reduce over a zero-size dim of a tensor of shape {}", op, shape_str(x.shape())));
}

// ---- the loop engine -----------------------------------------------------------

struct LoopDim {
  int64_t size;
  int64_t in_stride;   // elements, in the input
  int64_t out_stride;  // elements, in the contiguous output (0 for reduced dims)
  bool reduced;
};

/// Walks a list of dims in row-major order, tracking the input and output offsets.
class Odometer {
 public:
  Odometer(const std::vector<LoopDim>& dims, int64_t linear) : dims_(dims), index_(dims.size(), 0) {
    for (size_t k = dims.size(); k-- > 0;) {
      index_[k] = linear % dims[k].size;
      linear /= dims[k].size;
      in += index_[k] * dims[k].in_stride;
      out += index_[k] * dims[k].out_stride;
    }
  }
  void next() {
    for (size_t k = dims_.size(); k-- > 0;) {
      const LoopDim& d = dims_[k];
      in += d.in_stride;
      out += d.out_stride;
      if (++index_[k] < d.size) return;
      in -= d.in_stride * d.size;
      out -= d.out_stride * d.size;
      index_[k] = 0;
    }
  }
  int64_t in = 0, out = 0;

 private:
  const std::vector<LoopDim>& dims_;
  Shape index_;
};

struct ReduceLoop {
  LoopDim inner;                  // innermost dim, stride 1 in the input
  std::vector<LoopDim> outer;     // kept dims other than `inner`, memory order
  std::vector<LoopDim> reduced;   // reduced dims other than `inner`, memory order
  int64_t outer_count = 1, reduced_count = 1;
};

/// The loop for reducing `x` by `plan`; nullopt when x's innermost dim is not stride 1.
std::optional<ReduceLoop> plan_loop(const Tensor& x, const ReductionPlan& plan) {
  Shape out_strides = contiguous_strides(plan.keep_shape);
  std::vector<LoopDim> dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (x.shape()[d] == 1) continue;
    dims.push_back({x.shape()[d], x.strides()[d], plan.mask[d] ? 0 : out_strides[d], static_cast<bool>(plan.mask[d])});
  }
  // Memory order, largest stride outermost; broadcast (stride-0) dims go outermost
  // of all, where looping over them costs nothing.
  auto order = [](const LoopDim& d) { return d.in_stride == 0 ? std::numeric_limits<int64_t>::max() : d.in_stride; };
  std::stable_sort(dims.begin(), dims.end(), [&](const LoopDim& a, const LoopDim& b) { return order(a) > order(b); });
  std::vector<LoopDim> merged;
  for (const LoopDim& d : dims) {
    if (!merged.empty()) {
      LoopDim& m = merged.back();
      if (m.reduced == d.reduced && m.in_stride == d.in_stride * d.size && m.out_stride == d.out_stride * d.size) {
        m.size *= d.size;
        m.in_stride = d.in_stride;
        m.out_stride = d.out_stride;
        continue;
      }
    }
    merged.push_back(d);
  }
  if (merged.empty()) merged.push_back({1, 1, 0, true});  // one element: a row of length 1

  ReduceLoop loop;
  loop.inner = merged.back();
  merged.pop_back();
  if (loop.inner.in_stride != 1) return std::nullopt;
  for (const LoopDim& d : merged) {
    if (d.reduced) {
      loop.reduced.push_back(d);
      loop.reduced_count *= d.size;
    } else {
      loop.outer.push_back(d);
      loop.outer_count *= d.size;
    }
  }
  return loop;
}

// An Op says what a reduction computes; the engine says in which order. Each has:
//   Acc identity()                          the empty reduction
//   Acc row(p, n, index, out, acc)          acc combined with p[0..n) (contiguous); `index`: position
//                                           of p[0] in the reduced range; `out`: offset of its output
//   void cols(acc, p, n, rows, row_stride, index, out, out_stride)
//                                           acc[j] combined with p[r * row_stride + j] for r < rows,
//                                           j < n: row r is at reduced position index + r and
//                                           column j belongs to output out + j * out_stride
//   Acc combine(a, b)                       a from earlier positions than b
//   void write(out, acc)                    stores one result

template <typename T, typename Op>
void row_reduce(const T* x, const ReduceLoop& loop, const Op& op) {
  using Acc = typename Op::Acc;
  const int64_t n = loop.inner.size, rows = loop.reduced_count;
  // Reduces units [u0, u1) of one output: unit u is piece u % pieces of row u / pieces.
  auto reduce_units = [&](int64_t in_base, int64_t out, int64_t u0, int64_t u1, int64_t pieces) {
    Acc acc = op.identity();
    const int64_t piece_len = (n + pieces - 1) / pieces;
    Odometer row(loop.reduced, u0 / pieces);
    for (int64_t u = u0; u < u1; ++u) {
      int64_t piece = u % pieces;
      if (u != u0 && piece == 0) row.next();
      int64_t b = piece * piece_len, e = std::min(n, b + piece_len);
      if (b < e) acc = op.row(x + in_base + row.in + b, e - b, (u / pieces) * n + b, out, acc);
    }
    return acc;
  };

  const int threads = available_threads();
  const int64_t per_output = rows * n;
  if (threads > 1 && loop.outer_count < threads && loop.outer_count * per_output >= 2 * kGrain) {
    // Few, long reductions (a full sum): split each one among the threads. Rows
    // are cut into pieces too when there are not enough of them to go round.
    int64_t pieces =
        rows >= 4 * threads ? 1 : std::clamp<int64_t>(4 * threads / rows, 1, std::max<int64_t>(1, n / 1024));
    int64_t units = rows * pieces;
    auto partial = std::make_unique<Acc[]>(threads);  // not a vector: vector<bool> packs bits, and threads write here
    Odometer output(loop.outer, 0);
    for (int64_t o = 0; o < loop.outer_count; ++o, output.next()) {
      parallel_for(0, threads, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p)
          partial[p] = reduce_units(output.in, output.out, units * p / threads, units * (p + 1) / threads, pieces);
      });
      Acc acc = partial[0];
      for (int p = 1; p < threads; ++p) acc = op.combine(acc, partial[p]);
      op.write(output.out, acc);
    }
    return;
  }
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(per_output, 1));
  parallel_for(0, loop.outer_count, grain, [&](int64_t b, int64_t e) {
    Odometer output(loop.outer, b);
    for (int64_t o = b; o < e; ++o, output.next())
      op.write(output.out, reduce_units(output.in, output.out, 0, rows, 1));
  });
}

template <typename T, typename Op>
void column_reduce(const T* x, const ReduceLoop& loop, const Op& op) {
  using Acc = typename Op::Acc;
  const int64_t n = loop.inner.size, rows = loop.reduced_count, os = loop.inner.out_stride;
  // Rows come in runs along the innermost reduced dim (evenly spaced, so an op can
  // take several at once); the other reduced dims are stepped by an odometer.
  std::vector<LoopDim> run_outer = loop.reduced;
  LoopDim run{1, 0, 0, true};
  if (!run_outer.empty()) {
    run = run_outer.back();
    run_outer.pop_back();
  }
  // Adds reduced rows [r0, r1) of columns [j0, j1) of one outer position into acc.
  auto accumulate = [&](Acc* acc, int64_t in_base, int64_t out, int64_t j0, int64_t j1, int64_t r0, int64_t r1) {
    Odometer runs(run_outer, r0 / run.size);
    for (int64_t r = r0; r < r1; runs.next()) {
      int64_t first = r % run.size, count = std::min(run.size - first, r1 - r);
      op.cols(acc, x + in_base + runs.in + first * run.in_stride + j0, j1 - j0, count, run.in_stride, r,
              out + j0 * os, os);
      r += count;
    }
  };

  const int threads = available_threads();
  const int64_t blocks = (n + kColumnBlock - 1) / kColumnBlock;
  const int64_t units = loop.outer_count * blocks;
  if (threads > 1 && units < threads && loop.outer_count * n * rows >= 2 * kGrain) {
    // Too few column blocks to go round (a bias gradient with few channels): split
    // the rows, each thread accumulating its own partial row.
    // (Plain arrays, not vectors: a std::vector<bool> has no data() and packs bits.)
    std::vector<std::unique_ptr<Acc[]>> partial(threads);
    for (auto& row : partial) row = std::make_unique<Acc[]>(n);
    Odometer output(loop.outer, 0);
    for (int64_t o = 0; o < loop.outer_count; ++o, output.next()) {
      parallel_for(0, threads, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          std::fill(partial[p].get(), partial[p].get() + n, op.identity());
          accumulate(partial[p].get(), output.in, output.out, 0, n, rows * p / threads, rows * (p + 1) / threads);
        }
      });
      for (int64_t j = 0; j < n; ++j) {
        Acc acc = partial[0][j];
        for (int p = 1; p < threads; ++p) acc = op.combine(acc, partial[p][j]);
        op.write(output.out + j * os, acc);
      }
    }
    return;
  }
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(rows * std::min(n, kColumnBlock), 1));
  parallel_for(0, units, grain, [&](int64_t b, int64_t e) {
    auto acc = std::make_unique<Acc[]>(std::min(n, kColumnBlock));
    Odometer output(loop.outer, b / blocks);
    for (int64_t u = b; u < e; ++u) {
      if (u != b && u % blocks == 0) output.next();
      int64_t j0 = (u % blocks) * kColumnBlock, j1 = std::min(n, j0 + kColumnBlock);
      std::fill(acc.get(), acc.get() + (j1 - j0), op.identity());
      accumulate(acc.get(), output.in, output.out, j0, j1, 0, rows);
      for (int64_t j = j0; j < j1; ++j) op.write(output.out + j * os, acc[j - j0]);
    }
  });
}

/// Runs `op` over x as `plan` says. Outputs are addressed by their offset in the
/// contiguous keep_shape layout (the same offsets as in out_shape).
template <typename T, typename Op>
void reduce_loop(const Tensor& x, const ReductionPlan& plan, const Op& op) {
  const int64_t outputs = shape_numel(plan.keep_shape);
  if (outputs == 0) return;
  if (plan.count == 0) {  // reducing an empty range: every output is the identity
    for (int64_t o = 0; o < outputs; ++o) op.write(o, op.identity());
    return;
  }
  Tensor input = x;
  std::optional<ReduceLoop> loop = plan_loop(input, plan);
  if (!loop) {
    input = contiguous_copy(x);
    loop = plan_loop(input, plan);
  }
  const T* data = input.template data<T>();
  if (loop->inner.reduced)
    row_reduce<T>(data, *loop, op);
  else
    column_reduce<T>(data, *loop, op);
}

// ---- ops -----------------------------------------------------------------------

/// sum (divisor 1) and mean (divisor = count).
template <typename T, typename A, typename Out>
struct SumOp {
  using Acc = A;
  Out* out;
  double divisor;
  Acc identity() const { return Acc(0); }
  Acc row(const T* p, int64_t n, int64_t, int64_t, Acc acc) const {
    return acc + lane_sum<Acc>(p, n, [](T v) { return static_cast<Acc>(v); });
  }
  void cols(Acc* acc, const T* p, int64_t n, int64_t rows, int64_t rs, int64_t, int64_t, int64_t) const {
    // Four rows per sweep: a quarter of the loads and stores of the accumulators.
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
      const T *p0 = p + r * rs, *p1 = p0 + rs, *p2 = p1 + rs, *p3 = p2 + rs;
      for (int64_t j = 0; j < n; ++j)
        acc[j] += (static_cast<Acc>(p0[j]) + static_cast<Acc>(p1[j])) +
                  (static_cast<Acc>(p2[j]) + static_cast<Acc>(p3[j]));
    }
    for (; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) acc[j] += static_cast<Acc>(p[r * rs + j]);
  }
  Acc combine(Acc a, Acc b) const { return a + b; }
  void write(int64_t o, Acc acc) const {
    if constexpr (std::is_floating_point_v<Out>)
      out[o] = static_cast<Out>(static_cast<double>(acc) / divisor);
    else
      out[o] = static_cast<Out>(acc);
  }
};

/// Second pass of var: Σ (x - mean)² in double, with each output's mean from the first pass.
template <typename T>
struct SquaredDeviationOp {
  using Acc = double;
  const double* mean;  // keep_shape layout, like the output
  T* out;
  double divisor;      // count - correction
  Acc identity() const { return 0.0; }
  Acc row(const T* p, int64_t n, int64_t, int64_t o, Acc acc) const {
    const double mu = mean[o];
    return acc + lane_sum<double>(p, n, [mu](T v) {
             double d = static_cast<double>(v) - mu;
             return d * d;
           });
  }
  void cols(Acc* acc, const T* p, int64_t n, int64_t rows, int64_t rs, int64_t, int64_t o, int64_t os) const {
    const double* mu = mean + o;
    for (int64_t r = 0; r < rows; ++r, p += rs) {
      if (os == 1) {
        for (int64_t j = 0; j < n; ++j) {
          double d = static_cast<double>(p[j]) - mu[j];
          acc[j] += d * d;
        }
      } else {
        for (int64_t j = 0; j < n; ++j) {
          double d = static_cast<double>(p[j]) - mu[j * os];
          acc[j] += d * d;
        }
      }
    }
  }
  Acc combine(Acc a, Acc b) const { return a + b; }
  void write(int64_t o, Acc acc) const { out[o] = static_cast<T>(acc / divisor); }
};

/// Second pass of logsumexp: log Σ exp(x - shift) + shift, shift = the finite max of the range.
template <typename T>
struct SumExpOp {
  using Acc = double;
  const T* shift;  // keep_shape layout
  T* out;
  Acc identity() const { return 0.0; }
  Acc row(const T* p, int64_t n, int64_t, int64_t o, Acc acc) const {
    const T s = shift[o];
    return acc + lane_sum<double>(p, n, [s](T v) FOCUS_LAMBDA_INLINE {
             return static_cast<double>(cpu::exp_of(v - s));
           });
  }
  void cols(Acc* acc, const T* p, int64_t n, int64_t rows, int64_t rs, int64_t, int64_t o, int64_t os) const {
    const T* s = shift + o;
    for (int64_t r = 0; r < rows; ++r, p += rs) {
      if (os == 1) {  // the usual case, kept apart so that it vectorises without gathers
        for (int64_t j = 0; j < n; ++j) acc[j] += static_cast<double>(cpu::exp_of(p[j] - s[j]));
      } else {
        for (int64_t j = 0; j < n; ++j) acc[j] += static_cast<double>(cpu::exp_of(p[j] - s[j * os]));
      }
    }
  }
  Acc combine(Acc a, Acc b) const { return a + b; }
  void write(int64_t o, Acc acc) const { out[o] = static_cast<T>(std::log(acc) + static_cast<double>(shift[o])); }
};

/// amax / amin: values only, over any dims.
template <typename T, bool IsMax>
struct ExtremumOp {
  using Acc = T;
  T* out;
  Acc identity() const { return extremum_identity<IsMax, T>(); }
  Acc row(const T* p, int64_t n, int64_t, int64_t, Acc acc) const {
    T m = lane_extremum<IsMax>(p, n);
    return beats<IsMax>(m, acc) ? m : acc;
  }
  void cols(Acc* acc, const T* p, int64_t n, int64_t rows, int64_t rs, int64_t, int64_t, int64_t) const {
    for (int64_t r = 0; r < rows; ++r, p += rs)
      for (int64_t j = 0; j < n; ++j) acc[j] = beats<IsMax>(p[j], acc[j]) ? p[j] : acc[j];
  }
  Acc combine(Acc a, Acc b) const { return beats<IsMax>(b, a) ? b : a; }
  void write(int64_t o, Acc acc) const { out[o] = acc; }
};

template <typename T>
struct ValueIndex {
  T value;
  int64_t index;
};

/// max / min with indices, argmax / argmin: one reduced dim, so a position in the
/// reduced range is the index along that dim. The first index wins ties: a later
/// position replaces the running best only when it is strictly better. (Starting
/// from {identity, 0} is right too: if nothing beats the identity, every element
/// equals it and index 0 is the first of them.)
template <typename T, bool IsMax>
struct ArgExtremumOp {
  using Acc = ValueIndex<T>;
  T* values;         // may be null (argmax)
  int64_t* indices;
  Acc identity() const { return {extremum_identity<IsMax, T>(), 0}; }
  Acc row(const T* p, int64_t n, int64_t index, int64_t, Acc acc) const {
    // Two vectorisable passes beat one branchy pass: find the best value, then its first position.
    T m = lane_extremum<IsMax>(p, n);
    if (!beats<IsMax>(m, acc.value)) return acc;
    int64_t i = 0;
    if constexpr (std::is_floating_point_v<T>) {
      if (m != m) {
        while (p[i] == p[i]) ++i;
        return {m, index + i};
      }
    }
    while (p[i] != m) ++i;
    return {m, index + i};
  }
  void cols(Acc* acc, const T* p, int64_t n, int64_t rows, int64_t rs, int64_t index, int64_t, int64_t) const {
    for (int64_t r = 0; r < rows; ++r, p += rs)
      for (int64_t j = 0; j < n; ++j)
        if (beats<IsMax>(p[j], acc[j].value)) acc[j] = {p[j], index + r};
  }
  Acc combine(Acc a, Acc b) const { return beats<IsMax>(b.value, a.value) ? b : a; }
  void write(int64_t o, Acc acc) const {
    if (values) values[o] = acc.value;
    indices[o] = acc.index;
  }
};

// ---- shared bodies of the public functions ---------------------------------------

Tensor new_output(const Shape& shape, DType dtype, const Tensor& like) {
  return empty(shape, TensorOptions(dtype).with_device(like.device()));
}

template <bool IsMax>
Tensor extremum(const Tensor& x, const ReductionPlan& plan, const char* op) {
  Tensor out = new_output(plan.out_shape, x.dtype(), x);
  cpu::dispatch_all(x.dtype(), op, [&]<typename T>() {
    reduce_loop<T>(x, plan, ExtremumOp<T, IsMax>{out.data<T>()});
  });
  return out;
}

/// Values (when wanted) and indices of the max (min) along one dim.
template <bool IsMax>
std::pair<Tensor, Tensor> arg_extremum(const Tensor& x, const ReductionPlan& plan, bool want_values, const char* op) {
  Tensor values = want_values ? new_output(plan.out_shape, x.dtype(), x) : Tensor();
  Tensor indices = new_output(plan.out_shape, kInt64, x);
  cpu::dispatch_all(x.dtype(), op, [&]<typename T>() {
    reduce_loop<T>(x, plan, ArgExtremumOp<T, IsMax>{want_values ? values.data<T>() : nullptr, indices.data<int64_t>()});
  });
  return {values, indices};
}

/// Σ x over the plan, divided by `divisor`: sum (1) and mean (count). Integer and
/// bool inputs sum to int64, and their mean is float32 (true division, as in div).
Tensor sum_or_mean(const Tensor& x, const ReductionPlan& plan, bool mean, const char* op) {
  DType out_dtype = is_floating(x.dtype()) ? x.dtype() : (mean ? kFloat32 : kInt64);
  Tensor out = new_output(plan.out_shape, out_dtype, x);
  double divisor = mean ? static_cast<double>(plan.count) : 1.0;
  cpu::dispatch_all(x.dtype(), op, [&]<typename T>() {
    using Acc = sum_acc_t<T>;
    if constexpr (std::is_floating_point_v<T>)
      reduce_loop<T>(x, plan, SumOp<T, Acc, T>{out.data<T>(), divisor});
    else if (mean)
      reduce_loop<T>(x, plan, SumOp<T, Acc, float>{out.data<float>(), divisor});
    else
      reduce_loop<T>(x, plan, SumOp<T, Acc, int64_t>{out.data<int64_t>(), divisor});
  });
  return out;
}

}  // namespace

// ---- public kernels --------------------------------------------------------------

std::vector<bool> reduced_dims_mask(const Shape& shape, const std::vector<int64_t>& dims, const char* op) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  std::vector<bool> mask(ndim, dims.empty());
  std::vector<bool> seen(std::max<int64_t>(ndim, 1), false);
  for (int64_t dim : dims) {
    // A 0-d tensor accepts dim 0 and -1, like PyTorch: there is nothing to reduce.
    int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
    if (dim < lo || dim > hi)
      throw std::out_of_range(fmt::format("{}: dim {} is out of range for a tensor of shape {} (expected {} to {})", op,
                                          dim, shape_str(shape), lo, hi));
    int64_t d = dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
    if (seen[d])
      throw std::invalid_argument(fmt::format("{}: dim {} appears more than once in dims [{}] (tensor of shape {})",
                                              op, d, fmt::join(dims, ", "), shape_str(shape)));
    seen[d] = true;
    if (d < ndim) mask[d] = true;
  }
  return mask;
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, dims, keepdim, "sum");
  FOCUS_DISPATCH(x.device(), sum(x, dims, keepdim));
  return sum_or_mean(x, plan, /*mean=*/false, "sum");
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, dims, keepdim, "mean");
  FOCUS_DISPATCH(x.device(), mean(x, dims, keepdim));
  return sum_or_mean(x, plan, /*mean=*/true, "mean");
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, dims, keepdim, "var");
  if (correction < 0) throw std::invalid_argument(fmt::format("var: correction must be >= 0, got {}", correction));
  FOCUS_DISPATCH(x.device(), var(x, dims, correction, keepdim));
  Tensor out = new_output(plan.out_shape, x.dtype(), x);
  cpu::dispatch_floating(x.dtype(), "var", [&]<typename T>() {
    // Two passes, both in double: the mean, then Σ (x - mean)², which has none of
    // the cancellation of Σx² - (Σx)²/n when the mean is large against the spread.
    Tensor mean = new_output(plan.keep_shape, kFloat64, x);
    reduce_loop<T>(x, plan, SumOp<T, double, double>{mean.data<double>(), static_cast<double>(plan.count)});
    // Fewer elements than the correction: 0/0 or x/0, NaN or inf, as in PyTorch.
    double divisor = static_cast<double>(std::max<int64_t>(plan.count - correction, 0));
    reduce_loop<T>(x, plan, SquaredDeviationOp<T>{mean.data<double>(), out.data<T>(), divisor});
  });
  return out;
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, dims, keepdim, "amax");
  check_nonempty(x, plan, "amax");
  FOCUS_DISPATCH(x.device(), amax(x, dims, keepdim));
  return extremum<true>(x, plan, "amax");
}

Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, dims, keepdim, "amin");
  check_nonempty(x, plan, "amin");
  FOCUS_DISPATCH(x.device(), amin(x, dims, keepdim));
  return extremum<false>(x, plan, "amin");
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, {dim}, keepdim, "max");
  check_nonempty(x, plan, "max");
  FOCUS_DISPATCH(x.device(), max(x, dim, keepdim));
  return arg_extremum<true>(x, plan, /*want_values=*/true, "max");
}

std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, {dim}, keepdim, "min");
  check_nonempty(x, plan, "min");
  FOCUS_DISPATCH(x.device(), min(x, dim, keepdim));
  return arg_extremum<false>(x, plan, /*want_values=*/true, "min");
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, {dim}, keepdim, "argmax");
  check_nonempty(x, plan, "argmax");
  FOCUS_DISPATCH(x.device(), argmax(x, dim, keepdim));
  return arg_extremum<true>(x, plan, /*want_values=*/false, "argmax").second;
}

Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, {dim}, keepdim, "argmin");
  check_nonempty(x, plan, "argmin");
  FOCUS_DISPATCH(x.device(), argmin(x, dim, keepdim));
  return arg_extremum<false>(x, plan, /*want_values=*/false, "argmin").second;
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  ReductionPlan plan = plan_reduction(x, dims, keepdim, "logsumexp");
  FOCUS_DISPATCH(x.device(), logsumexp(x, dims, keepdim));
  Tensor out = new_output(plan.out_shape, x.dtype(), x);
  cpu::dispatch_floating(x.dtype(), "logsumexp", [&]<typename T>() {
    if (plan.count == 0) {  // log of an empty sum
      fill(out, -std::numeric_limits<double>::infinity());
      return;
    }
    // Shifting by the max keeps every exp in (0, 1]. An infinite max would turn
    // x - max into inf - inf = NaN, so it shifts by 0 instead: all -inf gives
    // log(0) = -inf and a +inf gives +inf, as they should.
    Tensor shift = new_output(plan.keep_shape, x.dtype(), x);
    reduce_loop<T>(x, plan, ExtremumOp<T, true>{shift.data<T>()});
    T* s = shift.data<T>();
    for (int64_t o = 0, n = shift.numel(); o < n; ++o)
      if (!std::isfinite(s[o])) s[o] = T(0);
    reduce_loop<T>(x, plan, SumExpOp<T>{s, out.data<T>()});
  });
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined(x, "sum_to");
  if (x.shape() == shape) return x;  // nothing was broadcast: the same tensor, no copy
  // `shape` must broadcast to x's: fewer or equal dims, each equal to x's or 1.
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  bool broadcastable = lead >= 0;
  std::vector<int64_t> dims;
  for (int64_t d = 0; broadcastable && d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);  // a leading dim the target lacks
    } else if (shape[d - lead] != x.shape()[d]) {
      if (shape[d - lead] == 1)
        dims.push_back(d);
      else
        broadcastable = false;
    }
  }
  if (!broadcastable)
    throw std::invalid_argument(fmt::format("sum_to: a tensor of shape {} cannot be summed to shape {}",
                                            shape_str(x.shape()), shape_str(shape)));
  FOCUS_DISPATCH(x.device(), sum_to(x, shape));
  // keepdim leaves the leading dims as 1s; the contiguous result views as `shape` for free.
  return views::reshape_view(sum(x, dims, /*keepdim=*/true), shape);
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
