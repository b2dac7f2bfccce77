// Backpropagation through scaled dot-product attention, on numbers small enough to follow by hand:
// 3 queries, 4 keys, d = 2, float64, and query 0 may not attend to key 3 (a mask). It prints the
// forward pass (Q, K, V, scores, weights, output), then, for the loss L = Σ O ⊙ R, every gradient
// three ways side by side:
//   by hand      the formulas of docs/attention-backprop.md, written out below with tensor ops;
//   autograd     dQ, dK, dV through the fused op focus::scaled_dot_product_attention; dO, dW, dZ from
//                retain_grad() on the same attention built step by step from primitive ops (the fused
//                op keeps W's and Z's gradients inside its node);
//   finite diff. central differences (L(x + h) − L(x − h)) / 2h, one element at a time;
// and checks that all three agree to 1e-9 (exit status 1 otherwise). It works one element of dL/dZ out
// aloud, and the masked one. In --out it draws W and dL/dW as heat maps (attention_weights.png,
// attention_grad.png), the four of W, dW, dZ and dQ side by side (attention_backward.png), and the
// autograd graph of the step-by-step attention with the gradient norm at each node
// (attention_graph.dot; attention_graph.png when Graphviz's `dot` is installed).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "autograd/gradient_norms.h"
#include "autograd/graphviz.h"
#include "datasets/pictures/heatmap.h"
#include "datasets/pictures/plot.h"
#include "focus.h"

using namespace focus;

namespace {

// ---- printing ---------------------------------------------------------------------------------

// One matrix as rows of fixed-width numbers.
std::vector<std::string> matrix_lines(const Tensor& m) {
  std::vector<std::string> lines;
  for (int64_t i = 0; i < m.size(0); ++i) {
    std::string line;
    for (int64_t j = 0; j < m.size(1); ++j) line += fmt::format("{:11.6f}", m.at({i, j}));
    lines.push_back(line);
  }
  return lines;
}

void print_matrix(const std::string& name, const Tensor& m) {
  fmt::print("{} {}\n", name, shape_str(m.shape()));
  for (const std::string& line : matrix_lines(m)) fmt::print("  {}\n", line);
}

// Three matrices beside each other under their column titles.
void print_side_by_side(const std::string& name, const std::vector<std::pair<std::string, Tensor>>& columns) {
  fmt::print("\n{}\n", name);
  const int width = static_cast<int>(columns[0].second.size(1)) * 11 + 4;
  std::string header = " ";
  for (const auto& [title, m] : columns) header += fmt::format(" {:<{}}", title, width);
  fmt::print("{}\n", header);
  std::vector<std::vector<std::string>> blocks;
  for (const auto& [title, m] : columns) blocks.push_back(matrix_lines(m));
  for (size_t i = 0; i < blocks[0].size(); ++i) {
    std::string line = " ";
    for (const auto& block : blocks) line += fmt::format(" {:<{}}", block[i], width);
    fmt::print("{}\n", line);
  }
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

// ---- finite differences -----------------------------------------------------------------------

// dL/dx by central differences: each element moved by ±h in turn, everything else held fixed.
Tensor finite_differences(const std::function<double(const Tensor&)>& loss, const Tensor& x, double h = 1e-5) {
  Tensor grad = zeros_like(x);
  for (int64_t i = 0; i < x.size(0); ++i)
    for (int64_t j = 0; j < x.size(1); ++j) {
      Tensor plus = x.clone(), minus = x.clone();
      plus.set({i, j}, x.at({i, j}) + h);
      minus.set({i, j}, x.at({i, j}) - h);
      grad.set({i, j}, (loss(plus) - loss(minus)) / (2 * h));
    }
  return grad;
}

std::vector<std::string> labels(const std::string& prefix, int64_t n) {
  std::vector<std::string> result;
  for (int64_t i = 0; i < n; ++i) result.push_back(prefix + std::to_string(i));
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Backprop through scaled dot-product attention, by hand, by autograd and by finite differences"};
  std::string out_dir = ".";
  app.add_option("--out", out_dir, "folder for attention_weights.png and attention_grad.png")->check(
      CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);

  // ---- the case: 3 queries and 4 keys of d = 2 features, values of 2 features ----
  const Tensor Q = tensor({1.0, 0.5, -0.3, 0.8, 0.6, -1.2}, {3, 2}, kFloat64);
  const Tensor K = tensor({0.9, -0.4, 0.2, 1.1, -0.7, 0.3, 0.5, 0.5}, {4, 2}, kFloat64);
  const Tensor V = tensor({1.0, 0.0, 0.0, 1.0, 0.5, -0.5, -1.0, 2.0}, {4, 2}, kFloat64);
  const Tensor R = tensor({1.0, -1.0, 0.5, 2.0, -1.5, 0.25}, {3, 2}, kFloat64);  // L = Σ O ⊙ R
  const double scale = 1.0 / std::sqrt(2.0);                                     // 1/√d
  // The mask, true where a query may attend (scaled_dot_product_attention's convention): query 0 may
  // not see key 3, as a causal or padding mask would hide it.
  const Tensor allowed = tensor({1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 4}, kFloat64).to(kBool);
  const Tensor hidden = logical_not(allowed);

  // ---- forward, one line per equation (nothing requires grad yet: no graph is recorded) ----
  const Tensor Z = matmul(Q, transpose(K, 0, 1)) * scale;  // Z = Q·Kᵀ/√d     [3, 4]
  const Tensor M = masked_fill(Z, hidden, -INFINITY);     // Z + M, M = −∞ where not allowed
  const Tensor W = softmax(M, 1);                         // W = softmax(Z + M) [3, 4], rows sum to 1
  const Tensor O = matmul(W, V);                          // O = W·V         [3, 2]
  const double loss = sum(O * R).item<double>();          // L = Σ O ⊙ R
  fmt::print("Forward: Z = Q·Kᵀ/√d, W = softmax(Z + M) row by row (M = −∞ where the mask forbids), O = W·V,\n"
             "L = Σ O ⊙ R (d = 2; query 0 may not attend to key 3)\n\n");
  print_matrix("Q (queries)", Q);
  print_matrix("K (keys)", K);
  print_matrix("V (values)", V);
  print_matrix("Z = Q·Kᵀ/√d (scores)", Z);
  print_matrix("Z + M (the masked score is −∞)", M);
  print_matrix("W = softmax(Z) (attention weights)", W);
  fmt::print("  (row 0: e^−∞ = 0, so W[0,3] = 0 exactly and the other three weights share the whole 1)\n");
  print_matrix("O = W·V (output)", O);
  print_matrix("R (the loss weights)", R);
  fmt::print("L = Σ O ⊙ R = {:.12f}\n", loss);

  // ---- 1. by hand: the chain rule, one step per line (docs/attention-backprop.md) ----
  const Tensor dO_hand = R;                                      // L = Σ O ⊙ R        ⇒ dO = R
  const Tensor dV_hand = matmul(transpose(W, 0, 1), dO_hand);    // O = W·V            ⇒ dV = Wᵀ·dO
  const Tensor dW_hand = matmul(dO_hand, transpose(V, 0, 1));    //                       dW = dO·Vᵀ
  const Tensor row_dot = sum(dW_hand * W, {1}, /*keepdim=*/true);  // W = softmax(Z) row by row, Jacobian
  const Tensor dZ_hand = W * (dW_hand - row_dot);                  // diag(w) − w·wᵀ ⇒ dZ = W ⊙ (dW − rowsum(dW ⊙ W))
  const Tensor dQ_hand = matmul(dZ_hand, K) * scale;             // Z = Q·Kᵀ/√d        ⇒ dQ = dZ·K/√d
  const Tensor dK_hand = matmul(transpose(dZ_hand, 0, 1), Q) * scale;  //                 dK = dZᵀ·Q/√d

  // ---- 2. autograd ----
  Tensor dQ_auto, dK_auto, dV_auto, dO_auto, dW_auto, dZ_auto;
  std::string graph;
  {
    // Through the fused op: one node whose backward is written out in
    // autograd/ops/scaled_dot_product_attention.cpp.
    Tensor q = Q.clone().requires_grad_(), k = K.clone().requires_grad_(), v = V.clone().requires_grad_();
    auto [output, weights] = scaled_dot_product_attention(q, k, v, allowed);
    sum(output * R).backward();
    dQ_auto = q.grad(), dK_auto = k.grad(), dV_auto = v.grad();
    // The same attention from primitive ops, on fresh leaves (gradients add up in .grad), keeping the
    // gradients of the intermediate tensors.
    Tensor q2 = Q.clone().requires_grad_(), k2 = K.clone().requires_grad_(), v2 = V.clone().requires_grad_();
    Tensor scores = matmul(q2, transpose(k2, 0, 1)) * scale;
    scores.retain_grad();
    Tensor attention = softmax(masked_fill(scores, hidden, -INFINITY), 1);
    attention.retain_grad();
    Tensor out = matmul(attention, v2);
    out.retain_grad();
    Tensor step_by_step_loss = sum(out * R);
    // The graph backward walks, from the loss down to Q, K and V, with the norm of the gradient that
    // reached each node (kept with retain_graph to be drawn after the backward).
    GradientNorms norms;
    step_by_step_loss.backward({}, /*retain_graph=*/true);
    DotOptions names;
    names.leaf_names = {{"Q", q2}, {"K", k2}, {"V", v2}};
    names.gradient_norms = &norms;
    graph = to_dot(step_by_step_loss, names);
    dO_auto = out.grad(), dW_auto = attention.grad(), dZ_auto = scores.grad();
  }

  // ---- 3. finite differences of L as a function of each tensor, the others held fixed ----
  auto loss_of_output = [&](const Tensor& o) { return sum(o * R).item<double>(); };
  auto loss_of_weights = [&](const Tensor& w) { return loss_of_output(matmul(w, V)); };
  auto loss_of_scores = [&](const Tensor& s) { return loss_of_weights(softmax(masked_fill(s, hidden, -INFINITY), 1)); };
  auto loss_of = [&](const Tensor& q, const Tensor& k, const Tensor& v) {
    return loss_of_output(scaled_dot_product_attention(q, k, v, allowed).first);
  };
  const Tensor dO_fd = finite_differences(loss_of_output, O);
  const Tensor dW_fd = finite_differences(loss_of_weights, W);
  const Tensor dZ_fd = finite_differences(loss_of_scores, Z);
  const Tensor dQ_fd = finite_differences([&](const Tensor& q) { return loss_of(q, K, V); }, Q);
  const Tensor dK_fd = finite_differences([&](const Tensor& k) { return loss_of(Q, k, V); }, K);
  const Tensor dV_fd = finite_differences([&](const Tensor& v) { return loss_of(Q, K, v); }, V);

  fmt::print("\nBackward: each gradient by hand, by autograd and by finite differences (h = 1e-5)\n");
  fmt::print("(autograd: dQ, dK, dV through the fused op; dO, dW, dZ by retain_grad() on the same attention\n"
             " built from primitive ops, since the fused op keeps them inside its node)\n");
  struct Row {
    const char* name;
    Tensor hand, autograd, numeric;
  };
  const std::vector<Row> rows = {
      {"dL/dO = R", dO_hand, dO_auto, dO_fd},
      {"dL/dW = dO·Vᵀ", dW_hand, dW_auto, dW_fd},
      {"dL/dZ = W ⊙ (dW − rowsum(dW ⊙ W))", dZ_hand, dZ_auto, dZ_fd},
      {"dL/dQ = dZ·K/√d", dQ_hand, dQ_auto, dQ_fd},
      {"dL/dK = dZᵀ·Q/√d", dK_hand, dK_auto, dK_fd},
      {"dL/dV = Wᵀ·dO", dV_hand, dV_auto, dV_fd},
  };
  double worst = 0;
  for (const Row& row : rows) {
    print_side_by_side(row.name, {{"by hand", row.hand}, {"autograd", row.autograd}, {"finite diff.", row.numeric}});
    worst = std::max({worst, max_abs_diff(row.hand, row.autograd), max_abs_diff(row.hand, row.numeric),
                      max_abs_diff(row.autograd, row.numeric)});
  }

  // ---- one element of dZ, worked out aloud ----
  auto w = [&](int64_t i, int64_t j) { return W.at({i, j}); };
  auto dw = [&](int64_t i, int64_t j) { return dW_hand.at({i, j}); };
  const int64_t i = 1, j = 2;
  std::string terms;
  double row_sum = 0;
  for (int64_t k = 0; k < 4; ++k) {
    const std::string factor = dw(i, k) < 0 ? fmt::format("({:.4f})", dw(i, k)) : fmt::format("{:.4f}", dw(i, k));
    terms += fmt::format("{}{:.4f}·{}", k ? " + " : "", w(i, k), factor);
    row_sum += w(i, k) * dw(i, k);
  }
  fmt::print("\nOne element, dZ[{0},{1}] = W[{0},{1}] · (dW[{0},{1}] − Σ_k W[{0},k]·dW[{0},k]):\n", i, j);
  fmt::print("  Σ_k W[{},k]·dW[{},k] = {} = {:.6f}\n", i, i, terms, row_sum);
  fmt::print("  dZ[{},{}] = {:.6f} · ({:.6f} − {:.6f}) = {:.6f}   (autograd: {:.6f})\n", i, j, w(i, j), dw(i, j), row_sum,
             w(i, j) * (dw(i, j) - row_sum), dZ_auto.at({i, j}));
  fmt::print("The masked one, dZ[0,3] = W[0,3] · (dW[0,3] − …) = 0 · ({:.6f} − …) = {:.6f}: a key the mask hides\n"
             "gets no gradient, and passes none on to Q[0] or K[3] (autograd: {:.6f}, finite differences: {:.6f})\n",
             dw(0, 3), dZ_hand.at({0, 3}) + 0.0, dZ_auto.at({0, 3}) + 0.0, dZ_fd.at({0, 3}) + 0.0);  // + 0.0: −0 → 0

  // ---- heat maps and the graph ----
  const std::filesystem::path out(out_dir);
  pictures::MatrixPlotOptions options;
  options.row_axis = "query";
  options.col_axis = "key";
  pictures::Image weights_map = pictures::matrix_plot(W, labels("q", 3), labels("k", 4), "attention weights W", options);
  pictures::Image grad_map = pictures::matrix_plot(dW_hand, labels("q", 3), labels("k", 4), "gradient dL/dW", options);
  weights_map.save_png(out / "attention_weights.png");
  grad_map.save_png(out / "attention_grad.png");
  pictures::Image scores_map = pictures::matrix_plot(dZ_hand, labels("q", 3), labels("k", 4), "gradient dL/dZ", options);
  pictures::MatrixPlotOptions feature_options = options;
  feature_options.col_axis = "feature";
  pictures::Image query_map = pictures::matrix_plot(dQ_hand, labels("q", 3), labels("f", 2), "gradient dL/dQ", feature_options);
  pictures::grid({weights_map, grad_map, scores_map, query_map}, 2, 8).save_png(out / "attention_backward.png");
  {
    std::ofstream dot_file(out / "attention_graph.dot");
    dot_file << graph;
  }
  const std::filesystem::path graph_png = out / "attention_graph.png";
  const bool drawn = std::system("command -v dot > /dev/null 2>&1") == 0 &&
                     std::system(fmt::format("dot -Tpng '{}' -o '{}'", (out / "attention_graph.dot").string(),
                                             graph_png.string())
                                     .c_str()) == 0;
  fmt::print("\nwrote {}, {}, {} and {}{}\n", (out / "attention_weights.png").string(),
             (out / "attention_grad.png").string(), (out / "attention_backward.png").string(),
             (out / "attention_graph.dot").string(),
             drawn ? fmt::format(" ({})", graph_png.string()) : " (install graphviz to draw it: dot -Tpng)");

  const bool agree = worst < 1e-9;
  fmt::print("{}: max difference {:.2e}\n",
             agree ? "all three agree to 1e-9" : "DISAGREEMENT beyond 1e-9", worst);
  return agree ? 0 : 1;
}
