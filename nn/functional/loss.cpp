#include "nn/functional/loss.h"

#include <fmt/format.h>

#include <stdexcept>
#include <vector>

#include "autograd/ops.h"

namespace focus::nn::functional {

namespace {

// Σ over non-ignored targets of weight[target] (1 each without weights): what PyTorch's
// mean divides by, so a batch with padding averages over its real targets only. A 0-d
// tensor computed where the targets live: reading the targets on the host would stall a
// GPU once per training step.
Tensor target_weight_total(const Tensor& target, const Tensor& weight, int64_t ignore_index, DType dtype) {
  NoGradGuard no_grad;  // bookkeeping on the targets: no graph
  const TensorOptions int_options = TensorOptions(kInt64).with_device(target.device());
  Tensor real = focus::ne(target, full({}, static_cast<double>(ignore_index), int_options));
  if (!weight.defined()) return focus::to_dtype(focus::sum(real), dtype);
  Tensor safe = focus::where(real, target, zeros({}, int_options));  // ignored targets read class 0, weighted 0
  Tensor picked = focus::reshape(focus::index_select(weight, 0, focus::reshape(safe, {safe.numel()})), safe.shape());
  return focus::to_dtype(
      focus::sum(focus::where(real, picked, zeros({}, TensorOptions(weight.dtype()).with_device(weight.device())))),
      dtype);
}

// `mean_denominator` (0-d, computed only for Reduction::Mean) replaces the element count.
Tensor reduce(const Tensor& losses, Reduction reduction, const Tensor& mean_denominator) {
  switch (reduction) {
    case Reduction::None: return losses;
    case Reduction::Sum: return focus::sum(losses);
    case Reduction::Mean: return focus::div(focus::sum(losses), mean_denominator);
  }
  return losses;
}

Tensor reduce(const Tensor& losses, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return losses;
    case Reduction::Sum: return focus::sum(losses);
    case Reduction::Mean: return focus::mean(losses);
  }
  return losses;
}

// An unbatched input [C] with a 0-d target is a batch of one: returns (input, target) with a
// batch dim added, or the arguments themselves.
std::pair<Tensor, Tensor> batched(const Tensor& input, const Tensor& target, const char* op) {
  check_defined(input, op);
  check_defined(target, op);
  if (input.dim() != 1) return {input, target};
  if (target.dim() != 0)
    throw std::invalid_argument(fmt::format("{}: unbatched input of shape {} needs a 0-d target, got shape {}", op,
                                            shape_str(input.shape()), shape_str(target.shape())));
  return {focus::unsqueeze(input, 0), focus::unsqueeze(target, 0)};
}

Tensor unbatched(const Tensor& loss, const Tensor& input, Reduction reduction) {
  return input.dim() == 1 && reduction == Reduction::None ? focus::squeeze(loss, 0) : loss;
}

}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& options) {
  auto [logits, labels] = batched(input, target, "cross_entropy");
  Tensor losses =
      focus::softmax_cross_entropy(logits, labels, options.weight(), options.ignore_index(), options.label_smoothing());
  const Tensor denominator = options.reduction() == Reduction::Mean
                                 ? target_weight_total(labels, options.weight(), options.ignore_index(), losses.dtype())
                                 : Tensor();
  return unbatched(reduce(losses, options.reduction(), denominator), input, options.reduction());
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options) {
  auto [log_probs, labels] = batched(input, target, "nll_loss");
  if (log_probs.dim() < 2 || !is_floating(log_probs.dtype()))
    throw std::invalid_argument(fmt::format("nll_loss: input must be float log-probabilities [N, C, ...], got {} {}",
                                            dtype_name(log_probs.dtype()), shape_str(log_probs.shape())));
  if (labels.dtype() != kInt64)
    throw std::invalid_argument(
        fmt::format("nll_loss: target must hold int64 class indices, got {}", dtype_name(labels.dtype())));
  Shape expected{log_probs.size(0)};
  expected.insert(expected.end(), log_probs.shape().begin() + 2, log_probs.shape().end());
  if (labels.shape() != expected)
    throw std::invalid_argument(
        fmt::format("nll_loss: target of shape {} does not match input of shape {} (expected {})",
                    shape_str(labels.shape()), shape_str(log_probs.shape()), shape_str(expected)));
  const int64_t classes = log_probs.size(1), ignore = options.ignore_index();
  const Tensor& weight = options.weight();
  if (weight.defined() && (weight.shape() != Shape{classes} || weight.dtype() != log_probs.dtype()))
    throw std::invalid_argument(fmt::format("nll_loss: weight must be a {} tensor of shape [{}], got {} of shape {}",
                                            dtype_name(log_probs.dtype()), classes, dtype_name(weight.dtype()),
                                            shape_str(weight.shape())));
  // On a GPU the targets are not read back (that would stall every step); gather checks them there.
  if (labels.device().is_cpu())
    for (int64_t t : labels.to_vector<int64_t>())
      if (t != ignore && (t < 0 || t >= classes))
        throw std::out_of_range(fmt::format("nll_loss: target {} is out of range for {} classes", t, classes));

  // Ignored targets are read at class 0 (any valid index) and then weighted by 0.
  const TensorOptions int_options = TensorOptions(kInt64).with_device(labels.device());
  const TensorOptions float_options = TensorOptions(log_probs.dtype()).with_device(log_probs.device());
  Tensor safe, position_weight;
  {
    NoGradGuard no_grad;  // which targets count and how much: masks and class weights, no gradient
    Tensor is_ignored = focus::eq(labels, full({}, static_cast<double>(ignore), int_options));
    safe = focus::where(is_ignored, zeros({}, int_options), labels);
    position_weight =
        weight.defined()
            ? focus::reshape(focus::index_select(weight, 0, focus::reshape(safe, {safe.numel()})), safe.shape())
            : ones(safe.shape(), float_options);
    position_weight = focus::where(is_ignored, zeros({}, float_options), position_weight);
  }

  Tensor picked = focus::squeeze(focus::gather(log_probs, 1, focus::unsqueeze(safe, 1)), 1);
  Tensor losses = focus::mul(focus::neg(picked), position_weight);
  const Tensor denominator =
      options.reduction() == Reduction::Mean ? target_weight_total(labels, weight, ignore, losses.dtype()) : Tensor();
  return unbatched(reduce(losses, options.reduction(), denominator), input, options.reduction());
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_defined(input, "mse_loss");
  check_defined(target, "mse_loss");
  if (input.shape() != target.shape())
    throw std::invalid_argument(fmt::format("mse_loss: input of shape {} and target of shape {} differ",
                                            shape_str(input.shape()), shape_str(target.shape())));
  Tensor diff = focus::sub(input, target);
  return reduce(focus::mul(diff, diff), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options) {
  Tensor losses = focus::sigmoid_cross_entropy(input, target, options.pos_weight());
  if (options.weight().defined()) {
    losses = focus::mul(losses, options.weight());
    if (losses.shape() != input.shape())
      throw std::invalid_argument(
          fmt::format("binary_cross_entropy_with_logits: weight of shape {} does not broadcast "
                      "to the input's shape {}",
                      shape_str(options.weight().shape()), shape_str(input.shape())));
  }
  return reduce(losses, options.reduction());
}

}  // namespace focus::nn::functional
