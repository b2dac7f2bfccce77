// softmax, log_softmax and their backward passes, along any dim.
//
// Rows along `dim` are independent, so the (contiguous) input is viewed as
// (outer, size, inner) with `dim` in the middle:
//   inner == 1  `dim` is the last dim (attention scores, classifier logits): each
//               row is contiguous and takes three plain loops — max, exp and sum,
//               scale. Parallel over rows.
//   inner > 1   an earlier dim (channels of NCHW, dim 0 of a matrix): each
//               (size, inner) block is processed a column block at a time, with
//               running vectors of max and sum across the columns, so the loops
//               stay contiguous without a transposed copy. Parallel over blocks.
// Numerically stable: exp(x - max) is never above 1. A non-contiguous input is
// copied to contiguous once; outputs are always contiguous.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "tensor/cpu/lanes.h"
#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

constexpr int64_t kGrain = 16384;       // elements per thread below which a loop stays serial
// Columns per block in the inner > 1 path. Wide blocks read long contiguous
// pieces of each row, which measured faster than narrow cache-sized ones.
constexpr int64_t kColumnBlock = 2048;

/// (outer, size, inner) around `dim`: the row layout of a contiguous tensor.
DimSplit row_layout(const Tensor& x, int64_t dim, const char* op) {
  reduced_dims_mask(x.shape(), {dim}, op);  // checks dim, naming op and shape
  return split_at_dim(x.shape(), normalize_dim(dim, x.dim(), op));
}

/// x itself when contiguous, else a contiguous copy.
Tensor dense(const Tensor& x) { return x.is_contiguous() ? x : contiguous_copy(x); }

/// Runs body(o, j0, j1) over every (outer index, column block) pair, in parallel
/// when large; blocks are narrowed when there are too few to go round the threads.
template <typename Body>
void for_each_block(const DimSplit& l, Body body) {
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t width =
      std::clamp<int64_t>((l.outer * l.inner / threads + 15) / 16 * 16, std::min<int64_t>(64, l.inner), kColumnBlock);
  const int64_t blocks = (l.inner + width - 1) / width;
  const int64_t work_per_unit = l.size * std::min(l.inner, width);
  parallel_for(0, l.outer * blocks, std::max<int64_t>(1, kGrain / std::max<int64_t>(work_per_unit, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t u = b; u < e; ++u) {
                   int64_t o = u / blocks, j0 = (u % blocks) * width;
                   body(o, j0, std::min(l.inner, j0 + width));
                 }
               });
}

/// Runs body(o) over every row of a last-dim layout, in parallel when large.
template <typename Body>
void for_each_row(const DimSplit& l, Body body) {
  parallel_for(0, l.outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(l.size, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) body(o);
  });
}

// ---- forward ---------------------------------------------------------------------

// Log is a template parameter so that no loop below tests it: a branch inside a
// loop over float arithmetic keeps GCC from vectorising it.
template <typename T, bool Log>
void softmax_forward(const T* x, T* y, const DimSplit& l) {
  const int64_t n = l.size;
  if (l.inner == 1) {
    for_each_row(l, [&](int64_t o) {
      const T* xr = x + o * n;
      T* yr = y + o * n;
      const T max = cpu::lane_extremum<true>(xr, n);
      if constexpr (Log) {
        double sum = cpu::lane_sum<double>(xr, n, [max](T v) FOCUS_LAMBDA_INLINE {
          return static_cast<double>(cpu::exp_of(v - max));
        });
        // (x - max) - log Σ, in this order: max + log Σ would round away log Σ when |max| is large.
        const T log_sum = static_cast<T>(std::log(sum));
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - max) - log_sum;
      } else {
        for (int64_t i = 0; i < n; ++i) yr[i] = cpu::exp_of(xr[i] - max);
        const T scale = static_cast<T>(1.0 / cpu::lane_sum<double>(yr, n, [](T v) { return static_cast<double>(v); }));
        for (int64_t i = 0; i < n; ++i) yr[i] *= scale;
      }
    });
    return;
  }
  const int64_t inner = l.inner;
  for_each_block(l, [&](int64_t o, int64_t j0, int64_t j1) {
    const int64_t w = j1 - j0;
    const T* xb = x + o * n * inner + j0;
    T* yb = y + o * n * inner + j0;
    T max[kColumnBlock];
    double sum[kColumnBlock];
    std::fill(max, max + w, cpu::extremum_identity<true, T>());
    std::fill(sum, sum + w, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) max[j] = cpu::beats<true>(xb[i * inner + j], max[j]) ? xb[i * inner + j] : max[j];
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) {
        T e = cpu::exp_of(xb[i * inner + j] - max[j]);
        if constexpr (!Log) yb[i * inner + j] = e;
        sum[j] += static_cast<double>(e);
      }
    if constexpr (Log) {
      T log_sum[kColumnBlock];
      for (int64_t j = 0; j < w; ++j) log_sum[j] = static_cast<T>(std::log(sum[j]));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < w; ++j) yb[i * inner + j] = (xb[i * inner + j] - max[j]) - log_sum[j];
    } else {
      T scale[kColumnBlock];
      for (int64_t j = 0; j < w; ++j) scale[j] = static_cast<T>(1.0 / sum[j]);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < w; ++j) yb[i * inner + j] *= scale[j];
    }
  });
}

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log, const char* op) {
  check_defined(x, op);
  DimSplit layout = row_layout(x, dim, op);
  if (log)
    FOCUS_DISPATCH(x.device(), log_softmax(x, dim));
  else
    FOCUS_DISPATCH(x.device(), softmax(x, dim));
  Tensor input = dense(x);
  Tensor out = empty_for_overwrite(x.shape(), TensorOptions(x.dtype()).with_device(x.device()));
  cpu::dispatch_floating(x.dtype(), op, [&]<typename T>() {
    if (out.numel() == 0) return;
    if (log)
      softmax_forward<T, true>(input.data<T>(), out.data<T>(), layout);
    else
      softmax_forward<T, false>(input.data<T>(), out.data<T>(), layout);
  });
  return out;
}

// ---- backward --------------------------------------------------------------------

// Both backward passes have the form dx = a(y, dy) - b(y) * Σ c(y, dy) along the row:
//   softmax:      dx = y * (dy - Σ dy*y) = y*dy - y * Σ dy*y
//   log_softmax:  dx = dy - exp(y) * Σ dy
template <typename T, bool Log>
void softmax_backward_rows(const T* y, const T* dy, T* dx, const DimSplit& l) {
  const int64_t n = l.size, inner = l.inner;
  if (inner == 1) {
    for_each_row(l, [&](int64_t o) {
      const T* yr = y + o * n;
      const T* gr = dy + o * n;
      T* dr = dx + o * n;
      if constexpr (Log) {
        const T total = static_cast<T>(cpu::lane_sum<double>(gr, n, [](T v) { return static_cast<double>(v); }));
        for (int64_t i = 0; i < n; ++i) dr[i] = gr[i] - cpu::exp_of(yr[i]) * total;
      } else {
        // Σ dy*y in double lanes, as lane_sum does for one array.
        double lanes[cpu::kLanes] = {};
        int64_t i = 0;
        for (; i + cpu::kLanes <= n; i += cpu::kLanes)
          for (int64_t k = 0; k < cpu::kLanes; ++k)
            lanes[k] += static_cast<double>(gr[i + k]) * static_cast<double>(yr[i + k]);
        for (; i < n; ++i) lanes[0] += static_cast<double>(gr[i]) * static_cast<double>(yr[i]);
        double dot = 0;
        for (double v : lanes) dot += v;
        const T d = static_cast<T>(dot);
        for (int64_t k = 0; k < n; ++k) dr[k] = yr[k] * (gr[k] - d);
      }
    });
    return;
  }
  for_each_block(l, [&](int64_t o, int64_t j0, int64_t j1) {
    const int64_t w = j1 - j0, base = o * n * inner + j0;
    const T* yb = y + base;
    const T* gb = dy + base;
    T* db = dx + base;
    double acc[kColumnBlock];
    std::fill(acc, acc + w, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t k = i * inner + j;
        if constexpr (Log)
          acc[j] += static_cast<double>(gb[k]);
        else
          acc[j] += static_cast<double>(gb[k]) * static_cast<double>(yb[k]);
      }
    T total[kColumnBlock];
    for (int64_t j = 0; j < w; ++j) total[j] = static_cast<T>(acc[j]);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t k = i * inner + j;
        if constexpr (Log)
          db[k] = gb[k] - cpu::exp_of(yb[k]) * total[j];
        else
          db[k] = yb[k] * (gb[k] - total[j]);
      }
  });
}

Tensor softmax_backward_impl(const Tensor& y, const Tensor& dy, int64_t dim, bool log, const char* op) {
  check_defined(y, op);
  check_defined(dy, op);
  check_same_device(y, dy, op);
  if (y.shape() != dy.shape())
    throw std::invalid_argument(fmt::format("{}: output of shape {} and gradient of shape {} differ", op,
                                            shape_str(y.shape()), shape_str(dy.shape())));
  if (y.dtype() != dy.dtype())
    throw std::invalid_argument(fmt::format("{}: output is {} but gradient is {}", op, dtype_name(y.dtype()),
                                            dtype_name(dy.dtype())));
  DimSplit layout = row_layout(y, dim, op);
  if (log)
    FOCUS_DISPATCH(common_device(op, y, dy), log_softmax_backward(y, dy, dim));
  else
    FOCUS_DISPATCH(common_device(op, y, dy), softmax_backward(y, dy, dim));
  Tensor yc = dense(y), gc = dense(dy);
  Tensor dx = empty_for_overwrite(y.shape(), TensorOptions(y.dtype()).with_device(y.device()));
  cpu::dispatch_floating(y.dtype(), op, [&]<typename T>() {
    if (dx.numel() == 0) return;
    if (log)
      softmax_backward_rows<T, true>(yc.data<T>(), gc.data<T>(), dx.data<T>(), layout);
    else
      softmax_backward_rows<T, false>(yc.data<T>(), gc.data<T>(), dx.data<T>(), layout);
  });
  return dx;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, /*log=*/false, "softmax"); }

Tensor softmax_into(const Tensor& x, int64_t dim, const Tensor& out) {
  const char* op = "softmax_into";
  check_defined(x, op);
  check_defined(out, op);
  if (!x.device().is_cpu() || !out.device().is_cpu())
    throw std::invalid_argument(fmt::format("{}: expected CPU tensors, got {} and {} (on a GPU use softmax)", op,
                                            x.device().str(), out.device().str()));
  FOCUS_DISPATCH_TO_CPU_VARIANT(softmax_into(x, dim, out));
  if (out.shape() != x.shape() || out.dtype() != x.dtype() || !out.is_contiguous())
    throw std::invalid_argument(fmt::format("{}: expected out to be a contiguous {} tensor of shape {}, got {} {}{}",
                                            op, dtype_name(x.dtype()), shape_str(x.shape()), dtype_name(out.dtype()),
                                            shape_str(out.shape()), out.is_contiguous() ? "" : " (not contiguous)"));
  DimSplit layout = row_layout(x, dim, op);
  // In place is safe: each element is read before it is written, and the row's max and sum before any.
  const Tensor input = dense(x);
  cpu::dispatch_floating(x.dtype(), op, [&]<typename T>() {
    if (out.numel() > 0) softmax_forward<T, false>(input.data<T>(), out.data<T>(), layout);
  });
  return out;
}

Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, /*log=*/true, "log_softmax"); }

Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim) {
  return softmax_backward_impl(y, dy, dim, /*log=*/false, "softmax_backward");
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim) {
  return softmax_backward_impl(y, dy, dim, /*log=*/true, "log_softmax_backward");
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
