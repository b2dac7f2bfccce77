// Softmax cross-entropy, fused: log-softmax and the negative log-likelihood of
// the target class in one pass over each row of logits, and the backward pass
// (softmax − smoothed one-hot) in one more, without materialising log-probs.
//
// logits [N, C, d...] are viewed as (N, C, inner) with inner = ∏d: the classes of
// one position are `inner` apart (1 for the usual [N, C]). Per position, with
// lse = log Σ_c exp(z_c) computed as max + log Σ exp(z − max) (never overflows,
// so logits of ±1000 are fine) and ε the label smoothing:
//   loss = (1 − ε)·w_t·(lse − z_t) + (ε/C)·Σ_c w_c·(lse − z_c)        (w ≡ 1 without weights)
// which is PyTorch's definition; ignored positions have loss 0. exp is cpu::exp_of, which
// vectorises for float32 (the exps are most of the work).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tensor/cpu/lanes.h"
#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"
#include "tensor/parallel.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

constexpr int64_t kGrain = 16384;  // logits per thread below which positions stay serial

Tensor dense(const Tensor& t) { return !t.defined() || t.is_contiguous() ? t : contiguous_copy(t); }

/// (N, C, inner) of logits [N, C, d...].
struct ClassLayout {
  int64_t outer = 1, classes = 1, inner = 1;
  int64_t positions() const { return outer * inner; }
};

ClassLayout check_inputs(const Tensor& logits, const Tensor& target, const Tensor& weight, double label_smoothing,
                         const char* op) {
  check_defined(logits, op);
  check_defined(target, op);
  if (!is_floating(logits.dtype()))
    throw std::invalid_argument(
        fmt::format("{}: logits must be float32 or float64, got {}", op, dtype_name(logits.dtype())));
  if (logits.dim() < 2)
    throw std::invalid_argument(
        fmt::format("{}: logits must have shape [N, C, ...], got {}", op, shape_str(logits.shape())));
  if (target.dtype() != kInt64)
    throw std::invalid_argument(
        fmt::format("{}: target must hold int64 class indices, got {}", op, dtype_name(target.dtype())));
  Shape expected{logits.size(0)};
  expected.insert(expected.end(), logits.shape().begin() + 2, logits.shape().end());
  if (target.shape() != expected)
    throw std::invalid_argument(fmt::format("{}: target of shape {} does not match logits of shape {} (expected {})",
                                            op, shape_str(target.shape()), shape_str(logits.shape()),
                                            shape_str(expected)));
  const DimSplit split = split_at_dim(logits.shape(), 1);  // [N, C, d...] as (N, C, inner)
  const ClassLayout l{split.outer, split.size, split.inner};
  if (weight.defined()) {
    if (weight.shape() != Shape{l.classes} || weight.dtype() != logits.dtype())
      throw std::invalid_argument(fmt::format("{}: weight must be a {} tensor of shape [{}], got {} of shape {}", op,
                                              dtype_name(logits.dtype()), l.classes, dtype_name(weight.dtype()),
                                              shape_str(weight.shape())));
  }
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw std::invalid_argument(fmt::format("{}: label_smoothing must be in [0, 1], got {}", op, label_smoothing));
  return l;
}

// Every target is a class index or ignore_index; checked serially before any
// parallel work so the error names the first bad value.
void check_targets(const Tensor& target, int64_t classes, int64_t ignore_index, const char* op) {
  const int64_t* t = target.data<int64_t>();
  for (int64_t i = 0, n = target.numel(); i < n; ++i)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= classes))
      throw std::out_of_range(
          fmt::format("{}: target {} is out of range for {} classes (expected 0 to {}, or {} to ignore)", op, t[i],
                      classes, classes - 1, ignore_index));
}

/// Runs body(begin, end) over position ranges, in parallel when there are many logits.
template <typename Body>
void for_positions(const ClassLayout& l, Body body) {
  parallel_for(0, l.positions(), std::max<int64_t>(1, kGrain / std::max<int64_t>(l.classes, 1)), body);
}

}  // namespace

std::pair<Tensor, Tensor> softmax_cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                                int64_t ignore_index, double label_smoothing) {
  const char* op = "cross_entropy";
  const ClassLayout l = check_inputs(logits, target, weight, label_smoothing, op);
  // On the GPU, targets are checked inside the kernel (tensor/cuda/index_errors.cuh).
  FOCUS_DISPATCH(common_device(op, logits, target, weight),
                      softmax_cross_entropy(logits, target, weight, ignore_index, label_smoothing));
  Tensor z = dense(logits), t = dense(target), w = dense(weight);
  check_targets(t, l.classes, ignore_index, op);
  const TensorOptions options = TensorOptions(logits.dtype()).with_device(logits.device());
  // lse is kept in float64: rounded to float32, lse ≈ 1000 would be off by up to 3·10⁻⁵,
  // and so would every softmax probability the backward pass derives from it.
  Tensor loss = empty(target.shape(), options),
         lse = empty(target.shape(), TensorOptions(kFloat64).with_device(logits.device()));
  if (l.positions() == 0) return {loss, lse};
  if (l.classes == 0)
    throw std::invalid_argument(fmt::format("{}: logits of shape {} have no classes", op, shape_str(logits.shape())));

  cpu::dispatch_floating(logits.dtype(), op, [&]<typename T>() {
    const T* pz = z.data<T>();
    const int64_t* pt = t.data<int64_t>();
    const T* pw = w.defined() ? w.data<T>() : nullptr;
    T* ploss = loss.data<T>();
    double* plse = lse.data<double>();
    const int64_t C = l.classes, inner = l.inner;
    const double smooth = label_smoothing / static_cast<double>(C);
    for_positions(l, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t n = p / inner, j = p % inner;
        const T* zr = pz + n * C * inner + j;  // class c at zr[c * inner]
        T max;
        double sum_exp;
        if (inner == 1) {
          max = cpu::lane_extremum<true>(zr, C);
          sum_exp = cpu::lane_sum<double>(zr, C, [max](T v) { return static_cast<double>(cpu::exp_of(v - max)); });
        } else {
          max = zr[0];
          for (int64_t c = 1; c < C; ++c) max = cpu::beats<true>(zr[c * inner], max) ? zr[c * inner] : max;
          sum_exp = 0;
          for (int64_t c = 0; c < C; ++c) sum_exp += static_cast<double>(cpu::exp_of(zr[c * inner] - max));
        }
        const double log_sum_exp = static_cast<double>(max) + std::log(sum_exp);
        plse[p] = log_sum_exp;
        const int64_t target_class = pt[p];
        if (target_class == ignore_index) {
          ploss[p] = T(0);
          continue;
        }
        const double w_t = pw ? static_cast<double>(pw[target_class]) : 1.0;
        double value = (1.0 - label_smoothing) * w_t * (log_sum_exp - static_cast<double>(zr[target_class * inner]));
        if (smooth > 0) {
          double total = 0;  // Σ_c w_c·(lse − z_c)
          for (int64_t c = 0; c < C; ++c)
            total += (pw ? static_cast<double>(pw[c]) : 1.0) * (log_sum_exp - static_cast<double>(zr[c * inner]));
          value += smooth * total;
        }
        ploss[p] = static_cast<T>(value);
      }
    });
  });
  return {loss, lse};
}

Tensor softmax_cross_entropy_backward(const Tensor& dloss, const Tensor& logits, const Tensor& target,
                                      const Tensor& weight, const Tensor& logsumexp, int64_t ignore_index,
                                      double label_smoothing) {
  const char* op = "cross_entropy_backward";
  const ClassLayout l = check_inputs(logits, target, weight, label_smoothing, op);
  if (dloss.shape() != target.shape() || logsumexp.shape() != target.shape())
    throw std::invalid_argument(fmt::format("{}: gradient of shape {} and log-sum-exp of shape {} for targets {}", op,
                                            shape_str(dloss.shape()), shape_str(logsumexp.shape()),
                                            shape_str(target.shape())));
  FOCUS_DISPATCH(common_device(op, dloss, logits, target, weight, logsumexp),
                      softmax_cross_entropy_backward(dloss, logits, target, weight, logsumexp, ignore_index,
                                                     label_smoothing));
  Tensor z = dense(logits), t = dense(target), w = dense(weight), g = dense(dloss), lse = dense(logsumexp);
  Tensor dz = empty_for_overwrite(logits.shape(), TensorOptions(logits.dtype()).with_device(logits.device()));
  if (dz.numel() == 0) return dz;

  cpu::dispatch_floating(logits.dtype(), op, [&]<typename T>() {
    const T* pz = z.data<T>();
    const int64_t* pt = t.data<int64_t>();
    const T* pw = w.defined() ? w.data<T>() : nullptr;
    const T* pg = g.data<T>();
    const double* plse = lse.data<double>();
    T* pdz = dz.data<T>();
    const int64_t C = l.classes, inner = l.inner;
    const double eps = label_smoothing, smooth = eps / static_cast<double>(C);
    double weight_total = static_cast<double>(C);  // W = Σ_c w_c
    if (pw) {
      weight_total = 0;
      for (int64_t c = 0; c < C; ++c) weight_total += static_cast<double>(pw[c]);
    }
    // forward: loss = (1 − ε)·w_t·(lse − z_t) + (ε/C)·Σ_k w_k·(lse − z_k), and ∂lse/∂z_c = p_c = softmax(z)_c
    // so dz_c = g·[(1 − ε)·w_t·(p_c − [c = t]) + (ε/C)·(W·p_c − w_c)]
    //         = g·((1 − ε)·w_t + ε·W/C)·p_c − g·(ε/C)·w_c − g·(1 − ε)·w_t·[c = t]     (zero where t is ignored)
    for_positions(l, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t n = p / inner, j = p % inner;
        const int64_t base = n * C * inner + j;
        const T* zr = pz + base;
        T* dr = pdz + base;
        const int64_t target_class = pt[p];
        if (target_class == ignore_index) {
          for (int64_t c = 0; c < C; ++c) dr[c * inner] = T(0);
          continue;
        }
        const double g_p = static_cast<double>(pg[p]);
        const double w_t = pw ? static_cast<double>(pw[target_class]) : 1.0;
        const T scale_p = static_cast<T>(g_p * ((1.0 - eps) * w_t + smooth * weight_total));
        // p_c = exp(z_c − lse) with lse as high + low parts in T: z_c − high is exact wherever
        // p_c is not negligible (z_c is then close to lse), so p keeps the double lse's accuracy.
        const T lse_high = static_cast<T>(plse[p]);
        const T lse_low = static_cast<T>(plse[p] - static_cast<double>(lse_high));
        if (inner == 1) {
          for (int64_t c = 0; c < C; ++c) dr[c] = scale_p * cpu::exp_of((zr[c] - lse_high) - lse_low);
        } else {
          for (int64_t c = 0; c < C; ++c) dr[c * inner] = scale_p * cpu::exp_of((zr[c * inner] - lse_high) - lse_low);
        }
        if (smooth > 0) {
          const T shift = static_cast<T>(g_p * smooth);
          for (int64_t c = 0; c < C; ++c) dr[c * inner] -= shift * (pw ? pw[c] : T(1));
        }
        dr[target_class * inner] -= static_cast<T>(g_p * (1.0 - eps) * w_t);
      }
    });
  });
  return dz;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
