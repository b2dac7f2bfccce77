// Extending focus from a project of your own: the op squareplus (squareplus.cpp, its own Node and
// backward) and the layer RMSNorm (rms_norm.cpp, from ops), each gradchecked, then a small network
// of both learns two spirals, is saved, loaded back and drawn. Exit status 0 only if all of it works.
#include <focus.h>
#include <nn/graphviz.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "rms_norm.h"
#include "squareplus.h"

using namespace focus;

namespace {

// The network: Linear → squareplus → Linear → RMSNorm → squareplus → Linear, on 2-D points, 2 classes.
// (RMSNorm right after the first layer would divide out the distance from the centre, which is half
// of what tells the spirals apart.)
struct SpiralNet : nn::Module {
  SpiralNet() {
    first = register_module("first", std::make_shared<nn::Linear>(2, 64));
    second = register_module("second", std::make_shared<nn::Linear>(64, 64));
    norm = register_module("norm", std::make_shared<my::RMSNorm>(64));
    out = register_module("out", std::make_shared<nn::Linear>(64, 2));
  }
  // b = 0.05: a corner as sharp as the features are small (with b = 4 the activation is nearly a
  // straight line over |x| < 1, and the network nearly linear: it cannot wind around the spirals).
  Tensor forward(const Tensor& x) {
    Tensor h = my::squareplus((*first)(x), 0.05);
    h = my::squareplus((*norm)((*second)(h)), 0.05);
    return (*out)(h);
  }
  std::shared_ptr<nn::Linear> first, second, out;
  std::shared_ptr<my::RMSNorm> norm;
};

// Two noisy spirals of n points each: points [2n, 2], labels [2n].
std::pair<Tensor, Tensor> spirals(int64_t n, Generator& gen) {
  Tensor t = arange(0, static_cast<double>(n)) / static_cast<double>(n);
  Tensor radius = t + 0.1, angle = t * (3.5 * M_PI);
  Tensor points = cat({stack({radius * sin(angle), radius * cos(angle)}, 1),
                       stack({-radius * sin(angle), -radius * cos(angle)}, 1)}, 0);
  return {points + randn({2 * n, 2}, {}, &gen) * 0.03, cat({zeros({n}, kInt64), ones({n}, kInt64)}, 0)};
}

bool report(const char* what, bool ok) {
  std::printf("%-64s %s\n", what, ok ? "ok" : "FAILED");
  return ok;
}

}  // namespace

int main() {
  bool ok = true;
  manual_seed(0);

  // 1. The op: its backward against central differences, and against autograd's chain through the
  //    same formula written with ops (their difference is 0, so its gradient must be too).
  Tensor x = randn({4, 3}, kFloat64).requires_grad_();
  ok &= report("squareplus: backward = finite differences",
               static_cast<bool>(gradcheck([](const std::vector<Tensor>& in) { return my::squareplus(in[0]); }, {x})));
  ok &= report("squareplus: backward = autograd through (x + sqrt(x^2 + 4)) / 2",
               static_cast<bool>(gradcheck(
                   [](const std::vector<Tensor>& in) {
                     return my::squareplus(in[0]) - (in[0] + sqrt(in[0] * in[0] + 4.0)) * 0.5;
                   },
                   {x})));
  // Overwriting what the node saved between forward and backward is caught, naming the node.
  {
    Tensor y = my::squareplus(x);
    y.detach().fill_(0.0);  // the same memory as y
    bool caught = false;
    try {
      sum(y).backward();
    } catch (const std::exception& e) {
      caught = std::string(e.what()).find("SquareplusBackward") != std::string::npos;
    }
    ok &= report("squareplus: an in-place change of its saved output is an error", caught);
  }

  // 2. The layer: input and weight gradients, in float64 (nn::gradcheck gives the layer back as it was).
  my::RMSNorm norm(5);
  Tensor h = randn({3, 5}, kFloat64).requires_grad_();
  ok &= report("RMSNorm: input and weight gradients = finite differences",
               static_cast<bool>(nn::gradcheck(norm, [&](const std::vector<Tensor>& in) { return norm(in[0]); }, {h})));

  // 3. Train on two spirals: full-batch Adam, 400 steps.
  Generator gen(1);
  auto [points, labels] = spirals(200, gen);
  SpiralNet model;
  optim::Adam adam(optim::groups_of(model), optim::AdamOptions{.lr = 1e-2});
  double loss = 0;
  for (int step = 0; step < 400; ++step) {
    adam.zero_grad();
    Tensor l = nn::functional::cross_entropy(model.forward(points), labels);
    l.backward();
    adam.step();
    loss = l.item<double>();
  }
  const double accuracy =
      static_cast<double>(training::count_correct(model.forward(points), labels)) / static_cast<double>(points.size(0));
  std::printf("trained: loss %.4f, accuracy %.1f%%\n", loss, 100 * accuracy);
  ok &= report("the network learns the spirals (accuracy > 95%)", accuracy > 0.95);

  // 4. Save, load into a fresh network, same outputs; the graph with parameter names.
  const std::filesystem::path file = std::filesystem::temp_directory_path() / "extend_focus.safetensors";
  nn::save(model, file.string());
  SpiralNet loaded;
  nn::load(loaded, file.string());
  ok &= report("saved and loaded: the same outputs",
               max(abs(loaded.forward(points) - model.forward(points)).flatten(), 0).first.item<double>() == 0.0);
  std::filesystem::remove(file);
  std::ofstream("extend_focus_graph.dot") << nn::to_dot(sum(model.forward(points)), model);
  std::printf("wrote extend_focus_graph.dot (dot -Tpng extend_focus_graph.dot -o graph.png)\n");
  return ok ? 0 : 1;
}
