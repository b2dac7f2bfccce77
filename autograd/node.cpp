#include "autograd/node.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/grad_mode.h"
#include "autograd/hooks.h"
#include "tensor/kernels.h"

namespace focus {

void Node::retain_output(uint32_t output_nr, const std::shared_ptr<TensorImpl>& impl) {
  for (const auto& [nr, weak] : retained_)
    if (nr == output_nr && weak.lock() == impl) return;
  retained_.emplace_back(output_nr, impl);
}

namespace {

// Whether a gradient arriving at a leaf can become its .grad as it is (PyTorch does the same): a
// contiguous tensor covering all of its own storage, which only the engine's buffer holds. Then no
// other tensor, gradient or user's, can see it or change it.
bool owned_by_engine_alone(const Tensor& grad) {
  const TensorImpl& impl = grad.impl();
  return grad.impl_ptr().use_count() == 1 && impl.storage && impl.storage.use_count() == 1 && impl.offset == 0 &&
         grad.is_contiguous() && !impl.grad_fn &&
         static_cast<size_t>(grad.numel()) * element_size(grad.dtype()) == impl.storage->nbytes();
}

}  // namespace

std::vector<Tensor> AccumulateGrad::backward(const std::vector<Tensor>& grad_outputs) {
  const Tensor& incoming = grad_outputs[0];
  if (leaf_->grad) {
    kernels::add_(Tensor(leaf_->grad), incoming);
  } else if (owned_by_engine_alone(incoming)) {
    leaf_->grad = incoming.impl_ptr();  // no copy: nothing else holds it
  } else {
    // A fresh copy: the incoming tensor may alias another gradient or a user's tensor.
    leaf_->grad = kernels::contiguous_copy(incoming).impl_ptr();
  }
  // The engine summed every path's gradient before running this node, so the
  // hooks see this backward's whole contribution, once.
  run_post_accumulate_grad_hooks(leaf_);
  return {};
}

bool any_requires_grad(std::initializer_list<Tensor> tensors) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : tensors)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& tensors) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : tensors)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
Edge edge_to(const Tensor& input) {
  if (!input.defined() || !input.requires_grad()) return {};
  TensorImpl& impl = input.impl();
  if (impl.grad_fn) return {impl.grad_fn, impl.output_nr};
  // A leaf: all its uses share one AccumulateGrad so their gradients add up.
  std::shared_ptr<Node> acc = impl.grad_accumulator.lock();
  if (!acc) {
    auto fresh = std::make_shared<AccumulateGrad>(input.impl_ptr());
    fresh->add_output(input);
    impl.grad_accumulator = fresh;
    acc = fresh;
  }
  return {acc, 0};
}
}  // namespace

void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
             const std::vector<Tensor>& outputs) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& input : inputs) edges.push_back(edge_to(input));
  node->set_next_edges(std::move(edges));
  for (const Tensor& output : outputs) {
    if (!output.defined()) continue;
    TensorImpl& impl = output.impl();
    impl.output_nr = node->add_output(output);
    impl.grad_fn = node;
    impl.requires_grad = true;
  }
}

}  // namespace focus
