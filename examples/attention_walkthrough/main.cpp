// Backpropagation through scaled dot-product attention, on numbers small enough to follow by hand:
// 3 queries, 4 keys, d = 2, float64. It prints the forward pass (Q, K, V, scores, weights, output),
// then, for the loss L = Σ O ⊙ R, every gradient three ways side by side:
//   by hand      the formulas of docs/attention-backprop.md, written out below with tensor ops;
//   autograd     dQ, dK, dV through the fused op focus::scaled_dot_product_attention; dO, dW, dZ from
//                retain_grad() on the same attention built step by step from primitive ops (the fused
//                op keeps W's and Z's gradients inside its node);
//   finite diff. central differences (L(x + h) − L(x − h)) / 2h, one element at a time;
// and checks that all three agree to 1e-9 (exit status 1 otherwise). It also draws W and dL/dW as heat
// maps, attention_weights.png and attention_grad.png, in --out.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "focus.h"
#include "datasets/pictures/heatmap.h"
#include "datasets/pictures/plot.h"

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

  // ---- forward, one line per equation (nothing requires grad yet: no graph is recorded) ----
  const Tensor Z = matmul(Q, transpose(K, 0, 1)) * scale;  // Z = Q·Kᵀ/√d     [3, 4]
  const Tensor W = softmax(Z, 1);                         // W = softmax(Z)  [3, 4], rows sum to 1
  const Tensor O = matmul(W, V);                          // O = W·V         [3, 2]
  const double loss = sum(O * R).item<double>();          // L = Σ O ⊙ R
  fmt::print("Forward: Z = Q·Kᵀ/√d, W = softmax(Z) row by row, O = W·V, L = Σ O ⊙ R (d = 2)\n\n");
  print_matrix("Q (queries)", Q);
  print_matrix("K (keys)", K);
  print_matrix("V (values)", V);
  print_matrix("Z = Q·Kᵀ/√d (scores)", Z);
  print_matrix("W = softmax(Z) (attention weights)", W);
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
  const Tensor dK_hand = matmul(transpose(dZ_hand, 0, 1), Q) * scale;  //                 dK = dSᵀ·Q/√d

  // ---- 2. autograd ----
  Tensor dQ_auto, dK_auto, dV_auto, dO_auto, dW_auto, dZ_auto;
  {
    // Through the fused op: one node whose backward is written out in
    // autograd/ops/scaled_dot_product_attention.cpp.
    Tensor q = Q.clone().requires_grad_(), k = K.clone().requires_grad_(), v = V.clone().requires_grad_();
    auto [output, weights] = scaled_dot_product_attention(q, k, v);
    sum(output * R).backward();
    dQ_auto = q.grad(), dK_auto = k.grad(), dV_auto = v.grad();
    // The same attention from primitive ops, on fresh leaves (gradients add up in .grad), keeping the
    // gradients of the intermediate tensors.
    Tensor q2 = Q.clone().requires_grad_(), k2 = K.clone().requires_grad_(), v2 = V.clone().requires_grad_();
    Tensor scores = matmul(q2, transpose(k2, 0, 1)) * scale;
    scores.retain_grad();
    Tensor attention = softmax(scores, 1);
    attention.retain_grad();
    Tensor out = matmul(attention, v2);
    out.retain_grad();
    sum(out * R).backward();
    dO_auto = out.grad(), dW_auto = attention.grad(), dZ_auto = scores.grad();
  }

  // ---- 3. finite differences of L as a function of each tensor, the others held fixed ----
  auto loss_of_output = [&](const Tensor& o) { return sum(o * R).item<double>(); };
  auto loss_of_weights = [&](const Tensor& w) { return loss_of_output(matmul(w, V)); };
  auto loss_of_scores = [&](const Tensor& s) { return loss_of_weights(softmax(s, 1)); };
  auto loss_of = [&](const Tensor& q, const Tensor& k, const Tensor& v) {
    return loss_of_output(scaled_dot_product_attention(q, k, v).first);
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
      {"dL/dK = dSᵀ·Q/√d", dK_hand, dK_auto, dK_fd},
      {"dL/dV = Wᵀ·dO", dV_hand, dV_auto, dV_fd},
  };
  double worst = 0;
  for (const Row& row : rows) {
    print_side_by_side(row.name, {{"by hand", row.hand}, {"autograd", row.autograd}, {"finite diff.", row.numeric}});
    worst = std::max({worst, max_abs_diff(row.hand, row.autograd), max_abs_diff(row.hand, row.numeric),
                      max_abs_diff(row.autograd, row.numeric)});
  }

  // ---- heat maps ----
  const std::filesystem::path out(out_dir);
  pictures::MatrixPlotOptions options;
  options.row_axis = "query";
  options.col_axis = "key";
  pictures::matrix_plot(W, labels("q", 3), labels("k", 4), "attention weights W", options)
      .save_png(out / "attention_weights.png");
  pictures::matrix_plot(dW_hand, labels("q", 3), labels("k", 4), "gradient dL/dW", options)
      .save_png(out / "attention_grad.png");
  fmt::print("\nwrote {} and {}\n", (out / "attention_weights.png").string(), (out / "attention_grad.png").string());

  const bool agree = worst < 1e-9;
  fmt::print("{}: max difference {:.2e}\n",
             agree ? "all three agree to 1e-9" : "DISAGREEMENT beyond 1e-9", worst);
  return agree ? 0 : 1;
}
