// to_dot: the autograd graph in Graphviz DOT, with parameter names, module groups and edge shapes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>

#include "focus.h"
#include "autograd/gradient_norms.h"
#include "autograd/node.h"
#include "nn/graphviz.h"

using namespace focus;
using Catch::Contains;

namespace {
// How many times `needle` occurs in `text`.
int64_t count(const std::string& text, const std::string& needle) {
  int64_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A two-layer model whose biases have the same shape: unnamed, they could not be told apart.
struct TwoLayers : nn::Module {
  TwoLayers() {
    first = register_module("first", std::make_shared<nn::Linear>(3, 4));
    second = register_module("second", std::make_shared<nn::Linear>(4, 4));
  }
  Tensor forward(const Tensor& x) { return (*second)(relu((*first)(x))); }
  std::shared_ptr<nn::Linear> first, second;
};
}  // namespace

TEST_CASE("to_dot draws ops and leaves, with shapes on the edges", "[autograd][graphviz]") {
  Tensor w = ones({3, 2}).requires_grad_();
  Tensor x = ones({4, 3});
  Tensor loss = sum(relu(matmul(x, w)));
  const std::string dot = to_dot(loss);
  REQUIRE(dot.rfind("digraph", 0) == 0);
  CHECK(dot.find("MatmulBackward") != std::string::npos);
  CHECK(dot.find("ReluBackward") != std::string::npos);
  CHECK(dot.find("leaf [3, 2]") != std::string::npos);
  // Edges carry shapes: [4, 2] flows from the matmul into the relu, [3, 2] from the leaf.
  CHECK(dot.find("[label=\"[4, 2]\"]") != std::string::npos);
  CHECK(dot.find("[label=\"[3, 2]\"]") != std::string::npos);
  // The root shows its own output shape (nothing flows out of it).
  CHECK(std::regex_search(dot, std::regex("SumBackward[^\"]*\\\\n\\[\\]")));
  // Without edge shapes, every op shows its outputs' shapes instead.
  DotOptions plain;
  plain.edge_shapes = false;
  const std::string without = to_dot(loss, plain);
  CHECK(without.find("[label=\"[4, 2]\"]") == std::string::npos);
  CHECK(std::regex_search(without, std::regex("MatmulBackward\\\\n\\[4, 2\\]")));
  CHECK(to_dot(w).find("leaf [3, 2]") != std::string::npos);  // a leaf alone
}

TEST_CASE("nn::to_dot names the leaves by parameter and groups ops by module", "[autograd][graphviz]") {
  TwoLayers model;
  Tensor loss = sum(model.forward(randn({5, 3})));
  const std::string dot = nn::to_dot(loss, model);
  // Both biases are [4]; their names tell them apart.
  CHECK(dot.find("first.bias [4]") != std::string::npos);
  CHECK(dot.find("second.bias [4]") != std::string::npos);
  CHECK(dot.find("first.weight [4, 3]") != std::string::npos);
  CHECK(dot.find("leaf [") == std::string::npos);  // every leaf is a named parameter
  // One box per module holding its parameters and the ops that read them.
  CHECK(count(dot, "subgraph cluster_") == 2);
  CHECK(dot.find("label=\"first\"") != std::string::npos);
  CHECK(dot.find("label=\"second\"") != std::string::npos);
  const size_t first_box = dot.find("label=\"first\""), second_box = dot.find("label=\"second\"");
  const std::string first_cluster = dot.substr(first_box, second_box - first_box);
  CHECK(first_cluster.find("first.weight") != std::string::npos);
  CHECK(first_cluster.find("first.bias") != std::string::npos);
  CHECK(first_cluster.find("Backward") != std::string::npos);   // the linear op itself
  CHECK(first_cluster.find("second.") == std::string::npos);
  // The relu between the layers reads no parameter: it stays outside the boxes.
  const size_t relu = dot.find("ReluBackward");
  REQUIRE(relu != std::string::npos);
  CHECK(relu < dot.find("subgraph cluster_"));
  // Names with quotes stay valid DOT.
  DotOptions odd;
  Tensor p = ones({2}).requires_grad_();
  odd.leaf_names = {{"a\"b", p}};
  CHECK(to_dot(sum(p * p), odd).find("a\\\"b [2]") != std::string::npos);
}

TEST_CASE("to_dot shows the gradient norm that reached each node, coloured on a log scale",
          "[autograd][graphviz]") {
  // loss = Σ (w ⊙ w) · 1e-3: the root gets 1, the product node ones [3] (norm √3), and w gets
  // 2·1e-3·w — a gradient a thousand times smaller, drawn at the pale end.
  Tensor w = tensor({1.0, 2.0, 2.0}, {3}, kFloat64).requires_grad_();
  Tensor loss = sum((w * w) * 1e-3);
  GradientNorms norms;
  loss.backward({}, /*retain_graph=*/true);
  REQUIRE(norms.has(loss.grad_fn().get()));
  CHECK(norms.of(loss.grad_fn().get()) == Approx(1.0));
  const Node* scaled = loss.grad_fn()->next_edges()[0].node.get();
  CHECK(norms.of(scaled) == Approx(std::sqrt(3.0)));
  CHECK(norms.size() >= 4);  // sum, two products, the leaf

  DotOptions options;
  options.leaf_names = {{"w", w}};
  options.gradient_norms = &norms;
  const std::string dot = to_dot(loss, options);
  CHECK(dot.find("|grad| 1\\n") == std::string::npos);  // labels use DOT's \n, not a raw newline
  CHECK(dot.find("SumBackward\\n[]\\n|grad| 1\"") != std::string::npos);
  CHECK(dot.find("|grad| 1.73") != std::string::npos);
  CHECK(dot.find("w [3]\\n|grad| 0.006") != std::string::npos);  // ‖2·1e-3·(1, 2, 2)‖ = 0.006
  // The largest norm is the reddest, the smallest the palest.
  CHECK(dot.find("fillcolor=\"#ffffcc\"") != std::string::npos);
  CHECK(dot.find("fillcolor=\"#e31a1c\"") != std::string::npos);
  // Only one recorder at a time on a thread.
  CHECK_THROWS_WITH(GradientNorms(), Contains("already recording"));
}
