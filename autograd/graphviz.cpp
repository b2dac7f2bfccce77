#include "autograd/graphviz.h"

#include <fmt/format.h>

#include <unordered_map>

#include "autograd/node.h"

namespace focus {

std::string to_dot(const Tensor& root) {
  std::string dot = "digraph autograd {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
  if (!root.grad_fn()) {
    dot += fmt::format("  leaf [shape=ellipse, label=\"leaf {}\"];\n}}\n", shape_str(root.shape()));
    return dot;
  }
  std::unordered_map<const Node*, int> ids;
  std::vector<const Node*> stack{root.grad_fn().get()};
  ids[root.grad_fn().get()] = 0;
  while (!stack.empty()) {  // iterative walk: graphs can be very deep
    const Node* node = stack.back();
    stack.pop_back();
    int id = ids[node];
    if (auto* acc = dynamic_cast<const AccumulateGrad*>(node)) {
      dot += fmt::format("  n{} [shape=ellipse, style=filled, fillcolor=lightblue, label=\"leaf {}\"];\n", id,
                         shape_str(acc->leaf()->shape));
    } else {
      std::string shapes;
      for (const OutputMeta& meta : node->outputs()) {
        if (!shapes.empty()) shapes += ' ';
        shapes += shape_str(meta.shape);
      }
      dot += fmt::format("  n{} [shape=box, label=\"{}\\n{}\"];\n", id, node->name(), shapes);
    }
    for (const Edge& edge : node->next_edges()) {
      if (!edge.valid()) continue;
      auto [it, inserted] = ids.emplace(edge.node.get(), static_cast<int>(ids.size()));
      if (inserted) stack.push_back(edge.node.get());
      dot += fmt::format("  n{} -> n{};\n", it->second, id);
    }
  }
  dot += "}\n";
  return dot;
}

}  // namespace focus
