#pragma once
// Where gradients vanish or explode, node by node: while a GradientNorms lives, backward records the
// norm of the gradient arriving at each node of the graph, and to_dot prints and colours it.
//
//   GradientNorms norms;
//   loss.backward({}, /*retain_graph=*/true);    // keep the graph to draw it afterwards
//   DotOptions options;
//   options.gradient_norms = &norms;
//   write_file("graph.dot", nn::to_dot(loss, model, options));
#include <cstddef>
#include <unordered_map>

namespace focus {

class Node;

/// The L2 norm of the gradient that reached each node in the backward passes run while this object
/// lives (the gradients of all the node's outputs together: sqrt(Σ_k ‖dy_k‖²)), by node. A node
/// reached by several backward passes keeps the last one's. One at a time per thread; recording
/// reads every gradient once (a GPU waits for it), so it is for looking, not for training runs.
class GradientNorms {
 public:
  GradientNorms();
  ~GradientNorms();
  GradientNorms(const GradientNorms&) = delete;
  GradientNorms& operator=(const GradientNorms&) = delete;

  /// Whether backward reached `node` with a gradient while recording.
  bool has(const Node* node) const { return norms_.count(node) != 0; }
  /// Its gradient's norm (0 when it has none).
  double of(const Node* node) const;
  size_t size() const { return norms_.size(); }

  /// The recorder of this thread's backward passes, or null (the engine asks before each node).
  static GradientNorms* active();
  /// Called by the engine with a node's norm.
  void record(const Node* node, double norm) { norms_[node] = norm; }

 private:
  std::unordered_map<const Node*, double> norms_;
  GradientNorms* previous_;
};

}  // namespace focus
