#pragma once
// Loss functions (focus::nn::functional), with PyTorch's arguments and defaults.
//
//   Tensor loss = F::cross_entropy(logits, labels);                                  // mean over the batch
//   Tensor loss = F::cross_entropy(logits, labels, F::CrossEntropyOptions().ignore_index(0).label_smoothing(0.1));
#include <cstdint>
#include <utility>

#include "tensor/tensor.h"

namespace focus::nn::functional {

/// How per-element losses are combined: kept as they are, averaged, or summed.
enum class Reduction { None, Mean, Sum };

/// Options of cross_entropy (PyTorch's names and defaults). Chain the setters.
class CrossEntropyOptions {
 public:
  /// Per-class weights [C] (a rescaling of each class's loss); undefined = all 1.
  CrossEntropyOptions& weight(Tensor w) { weight_ = std::move(w); return *this; }
  /// Targets equal to this contribute neither loss nor gradient, nor count in the mean.
  CrossEntropyOptions& ignore_index(int64_t index) { ignore_index_ = index; return *this; }
  /// ε in [0, 1]: the target becomes (1 − ε)·one_hot + ε/C (Szegedy et al. 2016).
  CrossEntropyOptions& label_smoothing(double epsilon) { label_smoothing_ = epsilon; return *this; }
  CrossEntropyOptions& reduction(Reduction r) { reduction_ = r; return *this; }

  const Tensor& weight() const { return weight_; }
  int64_t ignore_index() const { return ignore_index_; }
  double label_smoothing() const { return label_smoothing_; }
  Reduction reduction() const { return reduction_; }

 private:
  Tensor weight_;
  int64_t ignore_index_ = -100;
  double label_smoothing_ = 0.0;
  Reduction reduction_ = Reduction::Mean;
};

/// Options of nll_loss: weight, ignore_index and reduction as for cross_entropy.
class NLLLossOptions {
 public:
  NLLLossOptions& weight(Tensor w) { weight_ = std::move(w); return *this; }
  NLLLossOptions& ignore_index(int64_t index) { ignore_index_ = index; return *this; }
  NLLLossOptions& reduction(Reduction r) { reduction_ = r; return *this; }

  const Tensor& weight() const { return weight_; }
  int64_t ignore_index() const { return ignore_index_; }
  Reduction reduction() const { return reduction_; }

 private:
  Tensor weight_;
  int64_t ignore_index_ = -100;
  Reduction reduction_ = Reduction::Mean;
};

/// Options of binary_cross_entropy_with_logits.
class BCEWithLogitsOptions {
 public:
  /// A weight per element, broadcast to the input's shape.
  BCEWithLogitsOptions& weight(Tensor w) { weight_ = std::move(w); return *this; }
  /// Weight of the positive term, broadcast to the input (e.g. [C] for C independent labels):
  /// > 1 raises recall, < 1 precision.
  BCEWithLogitsOptions& pos_weight(Tensor w) { pos_weight_ = std::move(w); return *this; }
  BCEWithLogitsOptions& reduction(Reduction r) { reduction_ = r; return *this; }

  const Tensor& weight() const { return weight_; }
  const Tensor& pos_weight() const { return pos_weight_; }
  Reduction reduction() const { return reduction_; }

 private:
  Tensor weight_, pos_weight_;
  Reduction reduction_ = Reduction::Mean;
};

/// Softmax cross-entropy of logits [N, C] or [N, C, d...] (or unbatched [C]) against int64
/// class indices [N] or [N, d...] (or []), fused: one pass for log-softmax and the target's
/// log-likelihood, and a backward of softmax − (smoothed) one-hot. Stable for any logits.
/// Mean divides by the number of non-ignored targets (by Σ weight[target] with weights),
/// like PyTorch (so it is NaN when every target is ignored). A target outside [0, C) that
/// is not ignore_index throws, naming the value and C.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& options = {});

/// Negative log-likelihood of log-probabilities [N, C] or [N, C, d...] (e.g. from
/// log_softmax) at the int64 targets: −weight[t]·input[n, t]. Reductions as cross_entropy.
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options = {});

/// (input − target)², reduced. Shapes must be equal.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

/// Binary cross-entropy of sigmoid(input) against targets in [0, 1] (same shape), computed
/// from the logits in the stable form max(x, 0) − x·y + log(1 + e^(−|x|)).
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options = {});

}  // namespace focus::nn::functional
