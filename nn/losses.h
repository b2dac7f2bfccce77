#pragma once
// Loss modules, like torch.nn.CrossEntropyLoss: the options of the functional
// losses (nn/functional/loss.h) held in a Module, with class weights registered
// as buffers so they follow to(device) and appear in the state dict as PyTorch's do.
//
//   nn::CrossEntropyLoss criterion(nn::functional::CrossEntropyOptions().label_smoothing(0.1));
//   Tensor loss = criterion(logits, labels);
#include <string>

#include "nn/functional/loss.h"
#include "nn/module.h"

namespace focus::nn {

using functional::Reduction;

/// Softmax cross-entropy of logits [N, C, d...] against int64 class indices [N, d...].
class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(functional::CrossEntropyOptions options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "CrossEntropyLoss"; }
  std::string extra_repr() const override;
  functional::CrossEntropyOptions options;
};

/// Negative log-likelihood of log-probabilities [N, C, d...] at int64 class indices.
class NLLLoss : public Module {
 public:
  explicit NLLLoss(functional::NLLLossOptions options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "NLLLoss"; }
  functional::NLLLossOptions options;
};

/// Mean (or summed) squared error.
class MSELoss : public Module {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : reduction(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "MSELoss"; }
  Reduction reduction;
};

/// Binary cross-entropy on logits, elementwise, stable for any logits.
class BCEWithLogitsLoss : public Module {
 public:
  explicit BCEWithLogitsLoss(functional::BCEWithLogitsOptions options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "BCEWithLogitsLoss"; }
  functional::BCEWithLogitsOptions options;
};

}  // namespace focus::nn
