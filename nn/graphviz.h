#pragma once
// to_dot for models: the autograd graph of a loss, its leaves named by the model's parameters and
// its ops grouped by the module whose parameters they read.
//
//   Tensor loss = criterion(model(x), y);
//   write_file("graph.dot", nn::to_dot(loss, model));   // dot -Tpng graph.dot -o graph.png
#include <string>

#include "autograd/graphviz.h"
#include "nn/module.h"

namespace focus::nn {

/// focus::to_dot with options.leaf_names set to model.named_parameters().
std::string to_dot(const Tensor& root, const Module& model, DotOptions options = {});

}  // namespace focus::nn
