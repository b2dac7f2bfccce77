#include "nn/losses.h"

#include <fmt/format.h>

namespace focus::nn {

namespace {
const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::None: return "none";
    case Reduction::Mean: return "mean";
    case Reduction::Sum: return "sum";
  }
  return "?";
}
}  // namespace

// The weights are registered as buffers under PyTorch's names, and the options keep
// the same handles, so to(device) / to(dtype) / load_state_dict reach both.
CrossEntropyLoss::CrossEntropyLoss(functional::CrossEntropyOptions options) : options(std::move(options)) {
  if (this->options.weight().defined()) this->options.weight(register_buffer("weight", this->options.weight()));
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::cross_entropy(input, target, options);
}

std::string CrossEntropyLoss::extra_repr() const {
  return fmt::format("ignore_index={}, label_smoothing={}, reduction={}", options.ignore_index(),
                     options.label_smoothing(), reduction_name(options.reduction()));
}

NLLLoss::NLLLoss(functional::NLLLossOptions options) : options(std::move(options)) {
  if (this->options.weight().defined()) this->options.weight(register_buffer("weight", this->options.weight()));
}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::nll_loss(input, target, options);
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return functional::mse_loss(input, target, reduction);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(functional::BCEWithLogitsOptions options) : options(std::move(options)) {
  if (this->options.weight().defined()) this->options.weight(register_buffer("weight", this->options.weight()));
  if (this->options.pos_weight().defined())
    this->options.pos_weight(register_buffer("pos_weight", this->options.pos_weight()));
}

Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::binary_cross_entropy_with_logits(input, target, options);
}

}  // namespace focus::nn
