#include "nn/graphviz.h"

namespace focus::nn {

std::string to_dot(const Tensor& root, const Module& model, DotOptions options) {
  for (auto& named : model.named_parameters()) options.leaf_names.push_back(std::move(named));
  return focus::to_dot(root, options);
}

}  // namespace focus::nn
