#include "autograd/graphviz.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "autograd/node.h"

namespace focus {

namespace {

// "encoder.lstm.weight_ih_l0" -> "encoder.lstm"; a top-level parameter has no module name.
std::string module_of(const std::string& parameter) {
  const size_t dot = parameter.rfind('.');
  return dot == std::string::npos ? "" : parameter.substr(0, dot);
}

// Text safe inside a DOT string.
std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The fill of a node whose gradient norm sits at `position` (0: the smallest of the graph, 1: the
// largest, on a log scale), from pale yellow to red.
std::string heat_colour(double position) {
  const double t = std::clamp(position, 0.0, 1.0);
  auto channel = [&](double from, double to) { return static_cast<int>(std::lround(from + t * (to - from))); };
  return fmt::format("#{:02x}{:02x}{:02x}", channel(255, 227), channel(255, 26), channel(204, 28));
}

std::string shapes_of(const Node& node) {
  std::string shapes;
  for (const OutputMeta& meta : node.outputs()) {
    if (!shapes.empty()) shapes += ' ';
    shapes += shape_str(meta.shape);
  }
  return shapes;
}

}  // namespace

std::string to_dot(const Tensor& root, const DotOptions& options) {
  std::string dot = "digraph autograd {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
                    "  edge [fontname=\"Helvetica\", fontsize=8];\n";
  std::unordered_map<const TensorImpl*, std::string> names;
  for (const auto& [name, tensor] : options.leaf_names)
    if (tensor.defined()) names.emplace(tensor.impl_ptr().get(), name);

  if (!root.grad_fn()) {
    auto named = names.find(root.impl_ptr().get());
    dot += fmt::format("  leaf [shape=ellipse, label=\"{} {}\"];\n}}\n",
                       named == names.end() ? "leaf" : escaped(named->second), shape_str(root.shape()));
    return dot;
  }

  // Walk the graph once (iteratively: graphs can be very deep), numbering the nodes.
  std::unordered_map<const Node*, int> ids;
  std::vector<const Node*> order, stack{root.grad_fn().get()};
  ids[root.grad_fn().get()] = 0;
  std::string edges;
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    order.push_back(node);
    for (const Edge& edge : node->next_edges()) {
      if (!edge.valid()) continue;
      auto [it, inserted] = ids.emplace(edge.node.get(), static_cast<int>(ids.size()));
      if (inserted) stack.push_back(edge.node.get());
      // The edge carries the input's value forward, and its gradient backward: its shape is the
      // producer's output shape.
      std::string label;
      if (options.edge_shapes) {
        const auto* leaf = dynamic_cast<const AccumulateGrad*>(edge.node.get());
        const auto& produced = edge.node->outputs();
        if (leaf)
          label = fmt::format(" [label=\"{}\"]", shape_str(leaf->leaf()->shape));
        else if (edge.input_nr < produced.size())
          label = fmt::format(" [label=\"{}\"]", shape_str(produced[edge.input_nr].shape));
      }
      edges += fmt::format("  n{} -> n{}{};\n", it->second, ids.at(node), label);
    }
  }

  // The range of the recorded norms in this graph, for the fill colours (log scale; zero norms sit at
  // the bottom).
  double low = 0, high = 0;
  bool any_norm = false;
  if (options.gradient_norms)
    for (const Node* node : order)
      if (options.gradient_norms->has(node) && options.gradient_norms->of(node) > 0) {
        const double log_norm = std::log10(options.gradient_norms->of(node));
        low = any_norm ? std::min(low, log_norm) : log_norm;
        high = any_norm ? std::max(high, log_norm) : log_norm;
        any_norm = true;
      }
  // ", style=filled, fillcolor=..." and the norm's line for a node backward reached.
  auto norm_of = [&](const Node* node, std::string& label_extra) -> std::string {
    if (!options.gradient_norms || !options.gradient_norms->has(node)) return "";
    const double norm = options.gradient_norms->of(node);
    label_extra = fmt::format("\\n|grad| {:.3g}", norm);
    const double position = norm > 0 && high > low ? (std::log10(norm) - low) / (high - low) : (norm > 0 ? 1.0 : 0.0);
    return fmt::format(", style=filled, fillcolor=\"{}\"", heat_colour(position));
  };

  // Each node's text, and the module it belongs to: a leaf's from its name, an op's when every named
  // parameter it reads directly belongs to one module.
  std::map<std::string, std::vector<std::string>> clusters;  // module -> node lines
  std::string loose;
  for (const Node* node : order) {
    const int id = ids.at(node);
    std::string line, module;
    if (auto* acc = dynamic_cast<const AccumulateGrad*>(node)) {
      auto named = names.find(acc->leaf().get());
      const std::string label = named == names.end() ? "leaf" : escaped(named->second);
      if (named != names.end()) module = module_of(named->second);
      std::string norm_text;
      std::string fill = norm_of(node, norm_text);
      if (fill.empty()) fill = ", style=filled, fillcolor=lightblue";
      line = fmt::format("n{} [shape=ellipse{}, label=\"{} {}{}\"];", id, fill, label, shape_str(acc->leaf()->shape),
                         norm_text);
    } else {
      std::set<std::string> modules;
      for (const Edge& edge : node->next_edges()) {
        auto* acc = edge.valid() ? dynamic_cast<const AccumulateGrad*>(edge.node.get()) : nullptr;
        if (!acc) continue;
        auto named = names.find(acc->leaf().get());
        if (named != names.end()) modules.insert(module_of(named->second));
      }
      if (modules.size() == 1) module = *modules.begin();
      std::string norm_text;
      const std::string fill = norm_of(node, norm_text);
      line = options.edge_shapes && node != root.grad_fn().get()
                 ? fmt::format("n{} [shape=box{}, label=\"{}{}\"];", id, fill, node->name(), norm_text)
                 : fmt::format("n{} [shape=box{}, label=\"{}\\n{}{}\"];", id, fill, node->name(), shapes_of(*node),
                               norm_text);
    }
    if (module.empty())
      loose += "  " + line + "\n";
    else
      clusters[module].push_back(line);
  }
  dot += loose;
  int cluster = 0;
  for (const auto& [module, lines] : clusters) {
    dot += fmt::format("  subgraph cluster_{} {{\n    label=\"{}\"; style=rounded; color=gray50; fontsize=10;\n",
                       cluster++, escaped(module));
    for (const std::string& line : lines) dot += "    " + line + "\n";
    dot += "  }\n";
  }
  dot += edges + "}\n";
  return dot;
}

}  // namespace focus
