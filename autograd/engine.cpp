#include "autograd/engine.h"

#include <fmt/format.h>

#include <stdexcept>
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "autograd/grad_mode.h"
#include "autograd/gradient_norms.h"
#include "autograd/hooks.h"
#include "autograd/node.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

// Gradients arriving at one node, one slot per output.
using GradBuffer = std::vector<Tensor>;

// sqrt(Σ_k ‖g_k‖²) over a node's defined output gradients, for a GradientNorms recorder.
double gradient_norm(const GradBuffer& grads) {
  double squares = 0;
  for (const Tensor& g : grads)
    if (g.defined() && g.numel() > 0) {
      const Tensor g64 = kernels::contiguous_copy(g, kFloat64);
      squares += kernels::sum(kernels::mul(g64, g64), {}, false).to(kCPU).item<double>();
    }
  return std::sqrt(squares);
}

void accumulate(Tensor& slot, const Tensor& grad) {
  if (!slot.defined())
    slot = grad;
  else
    slot = kernels::add(slot, grad);  // out of place: `grad` may be shared with another edge
}

// What a backward returned, checked against the inputs its node recorded, so that a wrong gradient
// is blamed on the node that produced it (as PyTorch's validate_outputs does), not on the node that
// receives it. The engine does not reduce broadcast gradients (each op sums its own, kernels::sum_to),
// so the shape must match exactly. A floating gradient of another precision is converted to the
// input's dtype by the caller (mixed-precision graphs); an integer or bool one is a bug.
void check_input_grads(const Node& node, const std::vector<Tensor>& input_grads) {
  const std::vector<Edge>& edges = node.next_edges();
  if (input_grads.size() != edges.size())
    throw std::logic_error(fmt::format("function {} returned an incorrect number of gradients (expected {}, got {})",
                                       node.name(), edges.size(), input_grads.size()));
  for (size_t i = 0; i < edges.size(); ++i) {
    const Tensor& grad = input_grads[i];
    if (!edges[i].valid() || !grad.defined()) continue;
    const OutputMeta& input = edges[i].node->outputs()[edges[i].input_nr];
    if (grad.shape() != input.shape)
      throw std::logic_error(fmt::format(
          "function {} returned an invalid gradient for input {}: shape {}, but that input has shape {} "
          "(it goes to {})",
          node.name(), i, shape_str(grad.shape()), shape_str(input.shape), edges[i].node->name()));
    if (grad.device() != input.device)
      throw std::logic_error(fmt::format(
          "function {} returned an invalid gradient for input {}: on {}, but that input is on {} (shape {})",
          node.name(), i, grad.device().str(), input.device.str(), shape_str(input.shape)));
    if (!is_floating(grad.dtype()))
      throw std::logic_error(fmt::format(
          "function {} returned an invalid gradient for input {}: dtype {}, but gradients are floating point "
          "(that input is {}, shape {})",
          node.name(), i, dtype_name(grad.dtype()), dtype_name(input.dtype), shape_str(input.shape)));
  }
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph) {
  NoGradGuard no_grad;  // backward formulas are computed without recording a graph
  autograd::BackwardCallbackScope callbacks;  // what hooks queue with autograd::queue_callback

  // 1. Seed: one (node, output slot, gradient) per root.
  std::unordered_map<Node*, GradBuffer> buffers;
  std::vector<std::shared_ptr<Node>> seeds;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    if (!root.requires_grad())
      throw std::invalid_argument(
          "backward: tensor does not require grad and has no grad_fn (did you call requires_grad_() on the inputs?)");
    Tensor grad = i < grad_roots.size() ? grad_roots[i] : Tensor();
    if (!grad.defined()) {
      if (root.numel() != 1)
        throw std::invalid_argument(fmt::format(
            "backward: gradient can be implied only for a scalar output, got shape {}; pass a gradient",
            shape_str(root.shape())));
      grad = ones(root.shape(), TensorOptions(root.dtype()).with_device(root.device()));
    } else if (grad.shape() != root.shape()) {
      throw std::invalid_argument(fmt::format("backward: gradient of shape {} given for a tensor of shape {}",
                                              shape_str(grad.shape()), shape_str(root.shape())));
    }
    std::shared_ptr<Node> node = root.grad_fn();
    uint32_t slot = root.impl().output_nr;
    if (!node) {  // a leaf: its accumulator is the whole graph
      auto acc = std::make_shared<AccumulateGrad>(root.impl_ptr());
      acc->add_output(root);
      node = acc;
      slot = 0;
    }
    if (node->released())
      throw std::runtime_error(fmt::format(
          "backward: the graph behind {} was already freed by an earlier backward; pass retain_graph = true to "
          "the first backward to go through it twice",
          node->name()));
    GradBuffer& buffer = buffers[node.get()];
    buffer.resize(node->outputs().size());
    accumulate(buffer[slot], grad);
    seeds.push_back(node);
  }

  // 2. Count, for every reachable node, how many edges point at it (iterative DFS).
  std::unordered_map<Node*, int> dependencies;
  std::unordered_map<Node*, std::shared_ptr<Node>> keep_alive;
  std::vector<Node*> stack;
  for (auto& seed : seeds) {
    if (keep_alive.emplace(seed.get(), seed).second) stack.push_back(seed.get());
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (node->released())
      throw std::runtime_error(fmt::format(
          "backward: the graph through {} was already freed by an earlier backward; pass retain_graph = true",
          node->name()));
    for (const Edge& edge : node->next_edges()) {
      if (!edge.valid()) continue;
      ++dependencies[edge.node.get()];
      if (keep_alive.emplace(edge.node.get(), edge.node).second) stack.push_back(edge.node.get());
    }
  }

  // 3. Kahn's algorithm: run a node once all its consumers have delivered gradients.
  std::vector<Node*> ready;
  for (auto& seed : seeds)
    if (dependencies[seed.get()] == 0 &&
        std::find(ready.begin(), ready.end(), seed.get()) == ready.end())
      ready.push_back(seed.get());
  std::vector<Node*> visited;
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    visited.push_back(node);
    GradBuffer grads = std::move(buffers[node]);
    buffers.erase(node);
    grads.resize(node->outputs().size());

    bool any_defined = false;
    for (const Tensor& g : grads) any_defined = any_defined || g.defined();
    std::vector<Tensor> input_grads;
    if (any_defined) {
      // Zeros standing in for output k's gradient when nothing downstream produced one.
      auto zeros_for_output = [&](size_t k) {
        const OutputMeta& meta = node->outputs()[k];
        return zeros(meta.shape, TensorOptions(meta.dtype).with_device(meta.device));
      };
      // Gradients arriving here were checked where they were produced (check_input_grads, and the seeds above).
      if (!node->accepts_undefined_grads())
        for (size_t k = 0; k < grads.size(); ++k)
          if (!grads[k].defined()) grads[k] = zeros_for_output(k);
      for (const auto& [output_nr, weak] : node->retained_outputs()) {
        if (auto impl = weak.lock()) {
          Tensor g = grads[output_nr].defined() ? grads[output_nr].clone() : zeros_for_output(output_nr);
          impl->grad = impl->grad ? kernels::add(Tensor(impl->grad), g).impl_ptr() : g.impl_ptr();
        }
      }
      if (GradientNorms* norms = GradientNorms::active()) norms->record(node, gradient_norm(grads));
      node->check_saved_versions();
      input_grads = node->backward(grads);
      check_input_grads(*node, input_grads);
    }

    const auto& edges = node->next_edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& edge = edges[i];
      if (!edge.valid()) continue;
      if (!input_grads.empty() && input_grads[i].defined()) {
        GradBuffer& buffer = buffers[edge.node.get()];
        buffer.resize(edge.node->outputs().size());
        // Mixed-precision graphs: a gradient always has its tensor's dtype.
        DType wanted = edge.node->outputs()[edge.input_nr].dtype;
        const Tensor& g = input_grads[i];
        accumulate(buffer[edge.input_nr], g.dtype() == wanted ? g : kernels::contiguous_copy(g, wanted));
      }
      if (--dependencies[edge.node.get()] == 0) ready.push_back(edge.node.get());
    }
  }

  // 4. Free the graph: cutting the edges drops every node upstream of the roots.
  if (!retain_graph)
    for (Node* node : visited)
      if (!dynamic_cast<AccumulateGrad*>(node)) node->release();

  // 5. Callbacks queued during this backward (e.g. "wait for the gradient all-reduces").
  callbacks.run_callbacks();
}

}  // namespace focus
