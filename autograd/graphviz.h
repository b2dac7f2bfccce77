#pragma once
#include <string>

#include "tensor/tensor.h"

namespace focus {

/// The autograd graph behind `root` in Graphviz DOT: one box per op (its name
/// and output shapes), one ellipse per leaf that requires grad (its shape).
/// Render with `dot -Tpng graph.dot -o graph.png`.
std::string to_dot(const Tensor& root);

}  // namespace focus
