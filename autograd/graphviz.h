#pragma once
// The autograd graph as a picture: to_dot writes Graphviz DOT, `dot -Tpng graph.dot -o graph.png`
// draws it. Reading it from the loss at the bottom up is reading backward's order: every box is a
// node whose backward runs once the boxes above it have handed it their gradients.
#include <string>
#include <utility>
#include <vector>

#include "autograd/gradient_norms.h"
#include "tensor/tensor.h"

namespace focus {

/// How to_dot labels and groups the graph.
struct DotOptions {
  /// Names of leaf tensors, usually a model's named_parameters() (nn::to_dot passes them): a leaf
  /// is drawn with its name ("encoder.lstm.bias_hh_l0 [512]") instead of "leaf [512]", and the
  /// leaves and ops that read the parameters of one module ("encoder.lstm.*") are drawn inside a box
  /// labelled with that module's name.
  std::vector<std::pair<std::string, Tensor>> leaf_names;
  /// Label every edge with the shape of the tensor it carries (backward sends a gradient of that
  /// shape the other way).
  bool edge_shapes = true;
  /// Norms recorded during a backward through this graph (autograd/gradient_norms.h; backward with
  /// retain_graph so the graph is still there): each node shows the norm of the gradient that reached
  /// it, and is filled from pale yellow (the smallest, on a log scale) to red (the largest), so
  /// vanishing and exploding gradients stand out.
  const GradientNorms* gradient_norms = nullptr;
};

/// The autograd graph behind `root` in Graphviz DOT: one box per op (its backward's name, and its
/// outputs' shapes when edges carry none), one ellipse per leaf that requires grad.
std::string to_dot(const Tensor& root, const DotOptions& options = {});

}  // namespace focus
