#pragma once
// A Node is one recorded op in the graph: it knows how to turn gradients with
// respect to its outputs into gradients with respect to its inputs. Each
// differentiable op defines one Node subclass in autograd/ops/<op>.cpp.
#include <memory>
#include <string>
#include <vector>

#include "autograd/saved_versions.h"
#include "tensor/tensor.h"

namespace focus {

class Node;

/// Where a gradient flows next: input number `input_nr` of `node`. A null node
/// means that input needs no gradient.
struct Edge {
  std::shared_ptr<Node> node;
  uint32_t input_nr = 0;
  bool valid() const { return node != nullptr; }
};

/// Shape, dtype and device of one output, so the engine can supply zeros for an
/// output nobody used and check the shapes of gradients.
struct OutputMeta {
  Shape shape;
  DType dtype = kFloat32;
  Device device = kCPU;
};

class Node {
 public:
  virtual ~Node() = default;

  /// Gradients with respect to each input (same order as the inputs given to
  /// connect()), from the gradients with respect to each output. Return an
  /// undefined Tensor for inputs that need no gradient (see needs_input_grad).
  virtual std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) = 0;
  /// The op's name as shown in errors and graph dumps, e.g. "SoftmaxBackward".
  virtual std::string name() const = 0;
  /// Whether backward() may receive an undefined Tensor for an output that got no gradient
  /// (nothing downstream used it). By default the engine passes zeros of the output's shape
  /// instead, so backward code never checks; a node whose unused output is large (attention
  /// weights, [B, H, L, S]) says true and skips that output's share rather than add zeros.
  virtual bool accepts_undefined_grads() const { return false; }

  /// True when input i takes part in the graph: skip computing its gradient otherwise.
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  const std::vector<OutputMeta>& outputs() const { return outputs_; }

  // ---- used by connect() and the engine ----
  void set_next_edges(std::vector<Edge> edges) { next_edges_ = std::move(edges); }
  uint32_t add_output(const Tensor& t) {
    outputs_.push_back({t.shape(), t.dtype(), t.device()});
    return static_cast<uint32_t>(outputs_.size() - 1);
  }
  /// Non-leaf outputs that asked for retain_grad(): the engine stores their gradient.
  void retain_output(uint32_t output_nr, const std::shared_ptr<TensorImpl>& impl);
  const std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>>& retained_outputs() const {
    return retained_;
  }
  /// Drops the edges (and so the graph behind them) after a backward without retain_graph.
  void release() {
    next_edges_.clear();
    released_ = true;
  }
  bool released() const { return released_; }
  /// Throws, naming this node and the tensor, when a tensor it saved was modified in place since
  /// save(): the engine calls it before backward(), which would otherwise use the new values.
  void check_saved_versions() const { saved_versions_.check(*this); }

 protected:
  /// What a node keeps for backward: the same data, cut from the graph (saving a node's own output
  /// with its grad_fn would make a reference cycle), its version noted for check_saved_versions().
  /// Call it in the subclass's constructor, `x_(save(x, "x"))`; `name` (a literal) labels the
  /// tensor in the error. An undefined tensor is kept as it is.
  Tensor save(const Tensor& t, const char* name = nullptr) {
    Tensor kept = t.defined() ? t.detach() : t;
    saved_versions_.note(kept, name);
    return kept;
  }

 private:
  SavedVersions saved_versions_;
  std::vector<Edge> next_edges_;
  std::vector<OutputMeta> outputs_;
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained_;
  bool released_ = false;
};

/// The node at a leaf that requires grad: adds the incoming gradient into .grad,
/// then runs the leaf's post-accumulate-grad hooks (autograd/hooks.h).
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override;
  std::string name() const override { return "AccumulateGrad"; }
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

/// True when grad mode is on and any of the tensors requires grad: only then do ops record a node.
bool any_requires_grad(std::initializer_list<Tensor> tensors);
bool any_requires_grad(const std::vector<Tensor>& tensors);

/// Records `node` as the producer of `outputs`, with one edge per input. Inputs
/// that do not require grad get a null edge. Call only when any_requires_grad().
void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
             const std::vector<Tensor>& outputs);

}  // namespace focus
