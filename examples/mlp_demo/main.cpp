// A two-layer perceptron learns to tell two interleaved spirals apart, written
// with nothing but tensors and autograd — the whole idea of training in a page.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "focus.h"

using namespace focus;

namespace {

// Two spirals of `n` points each, with a little noise: inputs [2n, 2], labels [2n].
std::pair<Tensor, Tensor> make_spirals(int64_t n, Generator& gen) {
  Tensor points = empty({2 * n, 2});
  Tensor labels = empty({2 * n}, kInt64);
  for (int64_t c = 0; c < 2; ++c) {
    for (int64_t i = 0; i < n; ++i) {
      double r = static_cast<double>(i) / n * 5.0 + 0.5;
      double angle = 1.75 * static_cast<double>(i) / n * 2 * M_PI + c * M_PI;
      int64_t row = c * n + i;
      points.set({row, 0}, r * std::sin(angle) / 5.0 + 0.05 * gen.normal());
      points.set({row, 1}, r * std::cos(angle) / 5.0 + 0.05 * gen.normal());
      labels.set({row}, static_cast<double>(c));
    }
  }
  return {points, labels};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"focus demo: an MLP learns two spirals (tensors + autograd only)"};
  int epochs = 300, hidden = 64, threads = 2;
  double lr = 0.5;
  uint64_t seed = 0;
  app.add_option("--epochs", epochs, "training epochs (full batch)")->check(CLI::PositiveNumber);
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "SGD learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "random seed");
  app.add_option("--threads", threads, "CPU threads")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);

  Generator gen(seed);
  auto [x, y] = make_spirals(500, gen);
  // Parameters: Kaiming-style scaled normal weights, zero biases.
  Tensor w1 = (randn({2, hidden}, {}, &gen) * std::sqrt(2.0 / 2)).detach().requires_grad_();
  Tensor b1 = zeros({hidden}).requires_grad_();
  Tensor w2 = (randn({hidden, hidden}, {}, &gen) * std::sqrt(2.0 / hidden)).detach().requires_grad_();
  Tensor b2 = zeros({hidden}).requires_grad_();
  Tensor w3 = (randn({hidden, 2}, {}, &gen) * std::sqrt(1.0 / hidden)).detach().requires_grad_();
  Tensor b3 = zeros({2}).requires_grad_();
  std::vector<Tensor> params{w1, b1, w2, b2, w3, b3};

  auto start = std::chrono::steady_clock::now();
  double accuracy = 0, loss_value = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    Tensor h = relu(matmul(x, w1) + b1);
    h = relu(matmul(h, w2) + b2);
    Tensor logits = matmul(h, w3) + b3;
    // Cross-entropy: mean over samples of -log p(correct class).
    Tensor loss = -mean(gather(log_softmax(logits, 1), 1, y.unsqueeze(1)));
    for (Tensor& p : params) p.set_grad({});
    loss.backward();
    {
      NoGradGuard no_grad;
      for (Tensor& p : params) p.copy_(p - p.grad() * lr);
      accuracy = mean(eq(argmax(logits, 1), y).to(kFloat32)).item<double>();
    }
    loss_value = loss.item<double>();
    if (epoch % 25 == 0 || epoch == 1)
      fmt::print("epoch {:4d}/{}  loss {:.4f}  accuracy {:6.2f}%\n", epoch, epochs, loss_value, 100 * accuracy);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("final: loss {:.4f}, training accuracy {:.2f}% in {:.2f} s\n", loss_value, 100 * accuracy, seconds);
  return accuracy > 0.9 ? 0 : 1;
}
