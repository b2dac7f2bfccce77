// softmax_cross_entropy: log-softmax and NLL fused (tensor/cpu/cross_entropy.cpp),
// unreduced; nn::functional::cross_entropy adds PyTorch's reductions on top.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

class CrossEntropyBackward : public Node {
 public:
  CrossEntropyBackward(Tensor logits, Tensor target, Tensor weight, Tensor logsumexp, int64_t ignore_index,
                       double label_smoothing)
      : logits_(save(logits, "logits")),
        target_(save(target, "target")),
        weight_(save(weight, "weight")),
        logsumexp_(std::move(logsumexp)),
        ignore_index_(ignore_index),
        label_smoothing_(label_smoothing) {}
  std::string name() const override { return "CrossEntropyBackward"; }

  // forward, per position (n, d...) with p = softmax(z) over the C classes and target t:
  //   loss = (1 − ε)·w_t·(−log p_t) + (ε/C)·Σ_c w_c·(−log p_c)          z (N, C, d...), loss (N, d...)
  // since ∂(−log p_k)/∂z_c = p_c − [c = k]:
  //   dz = dloss·((1 − ε)·w_t·(p − onehot_t) + (ε/C)·(W·p − w)),  W = Σ_c w_c
  // which without weights is dloss·(p − ((1 − ε)·onehot_t + ε/C)): softmax minus the smoothed one-hot.
  // Ignored positions get 0. The class weights are constants (no gradient, as in PyTorch).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::softmax_cross_entropy_backward(grad_outputs[0], logits_, target_, weight_, logsumexp_,
                                                    ignore_index_, label_smoothing_)};
  }

 private:
  Tensor logits_, target_, weight_, logsumexp_;
  int64_t ignore_index_;
  double label_smoothing_;
};

}  // namespace

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                             double label_smoothing) {
  auto [loss, logsumexp] = kernels::softmax_cross_entropy(logits, target, weight, ignore_index, label_smoothing);
  if (any_requires_grad({logits}))
    connect(std::make_shared<CrossEntropyBackward>(logits, target, weight, logsumexp, ignore_index, label_smoothing),
            {logits}, {loss});
  return loss;
}

}  // namespace focus
