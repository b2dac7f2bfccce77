// End to end: a small MLP (Sequential of Linear/ReLU/Dropout) trained with plain
// SGD with momentum, written inline (optimizers are another module), learns four
// Gaussian blobs in 8-D to at least 95% accuracy on held-out points in well under
// a second.
#include <catch2/catch.hpp>
#include <chrono>

#include "focus.h"
#include "nn/functional/loss.h"
#include "nn/layers/activation.h"
#include "nn/layers/dropout.h"
#include "nn/layers/linear.h"
#include "nn/sequential.h"

using namespace focus;
namespace F = focus::nn::functional;

namespace {

constexpr int64_t kClasses = 4, kDims = 8;

struct Blobs {
  Tensor x, y;  // [N, 8] float32, [N] int64
};

// per_class points of each class: its centre plus N(0, 1) noise in every coordinate.
Blobs make_blobs(const Tensor& centres, int64_t per_class, Generator& gen) {
  Tensor noise = randn({kClasses * per_class, kDims}, kFloat32, &gen);
  std::vector<int64_t> labels(kClasses * per_class);
  for (int64_t i = 0; i < kClasses * per_class; ++i) labels[i] = i % kClasses;
  Tensor y = from_vector(labels, {kClasses * per_class});
  Tensor x = add(index_select(centres, 0, y), noise);
  return {x, y};
}

double accuracy(nn::Sequential& model, const Blobs& data) {
  NoGradGuard no_grad;
  model.eval();
  Tensor predicted = argmax(model(data.x), 1);
  model.train();
  std::vector<int64_t> p = predicted.to_vector<int64_t>(), y = data.y.to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < p.size(); ++i) correct += p[i] == y[i];
  return static_cast<double>(correct) / static_cast<double>(p.size());
}

double mean_loss(nn::Sequential& model, const Blobs& data) {
  NoGradGuard no_grad;
  model.eval();
  double loss = F::cross_entropy(model(data.x), data.y).item();
  model.train();
  return loss;
}

}  // namespace

TEST_CASE("an MLP learns four Gaussian blobs with SGD + momentum", "[mlp][end_to_end]") {
  const auto start = std::chrono::steady_clock::now();
  manual_seed(2024);
  Generator gen(7);
  // Centres N(0, 3²) per coordinate: typically 12 apart against unit noise, so nearly separable.
  Tensor centres = mul(randn({kClasses, kDims}, kFloat32, &gen), scalar_tensor(3.0));
  Blobs train = make_blobs(centres, 250, gen), test = make_blobs(centres, 250, gen);

  nn::Sequential model(std::make_shared<nn::Linear>(kDims, 32), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Dropout>(0.1), std::make_shared<nn::Linear>(32, 32),
                       std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(32, kClasses));
  const double initial_loss = mean_loss(model, train);

  // SGD with momentum (PyTorch's form): v ← μ·v + g, p ← p − lr·v.
  const double lr = 0.05, momentum = 0.9;
  std::vector<Tensor> params = model.parameters(), velocity;
  for (const Tensor& p : params) velocity.push_back(zeros_like(p));
  const int64_t n = train.x.size(0), batch = 50;
  for (int epoch = 0; epoch < 20; ++epoch) {
    Tensor order = randperm(n, &gen);
    for (int64_t begin = 0; begin < n; begin += batch) {
      Tensor rows = order.slice(0, begin, std::min(n, begin + batch));
      Tensor loss = F::cross_entropy(model(index_select(train.x, 0, rows)), index_select(train.y, 0, rows));
      model.zero_grad();
      loss.backward();
      NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i) {
        velocity[i].copy_(add(mul(velocity[i], scalar_tensor(momentum)), params[i].grad()));
        params[i].copy_(sub(params[i], mul(velocity[i], scalar_tensor(lr))));
      }
    }
  }

  const double final_loss = mean_loss(model, train), test_accuracy = accuracy(model, test);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("loss " << initial_loss << " -> " << final_loss << ", held-out accuracy " << test_accuracy << ", " << seconds
               << " s");
  CHECK(final_loss < initial_loss / 10);  // from ≈ ln 4 (chance) to well below it
  CHECK(test_accuracy >= 0.95);
  CHECK(seconds < 10.0);
}
