// The training-run kit in one page: an MLP learns two spirals, and the kit keeps the run
// (runs/spirals: metrics.csv, last/best checkpoints, curves.png, summary.json; --resume, Ctrl-C).
#include <CLI/CLI.hpp>

#include "focus.h"

using namespace focus;

namespace {
// Two noisy spirals of n points each, one the other turned half a circle: points [2n, 2], labels [2n].
std::pair<Tensor, Tensor> make_spirals(int64_t n, Generator& gen) {
  Tensor t = arange(0, static_cast<double>(n)) / static_cast<double>(n);
  Tensor radius = (t * 5.0 + 0.5) / 5.0, angle = t * (3.5 * M_PI);
  Tensor points = cat({stack({radius * sin(angle), radius * cos(angle)}, 1),
                       stack({-radius * sin(angle), -radius * cos(angle)}, 1)}, 0);
  return {points + randn({2 * n, 2}, {}, &gen) * 0.05, cat({zeros({n}, kInt64), ones({n}, kInt64)}, 0)};
}

// The points in shuffled batches, a new order every epoch: what the kit's fit() iterates.
struct Batches {
  Tensor x, y;
  int64_t size;
  int64_t num_batches(int64_t) const { return (x.size(0) + size - 1) / size; }
  std::vector<std::pair<Tensor, Tensor>> epoch(int64_t epoch) const {
    Generator gen(1000 + static_cast<uint64_t>(epoch));  // seeded by the epoch: a resumed run sees the same order
    std::vector<std::pair<Tensor, Tensor>> batches;
    for (const Tensor& rows : split(randperm(x.size(0), &gen), size))
      batches.emplace_back(index_select(x, 0, rows), index_select(y, 0, rows));
    return batches;
  }
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"focus: an MLP learns two spirals, kept by the training-run kit"};
  training::RunOptions run{.out = "runs/spirals", .epochs = 30, .best_metric = "val_acc",
                           .better = training::Better::Higher,
                           .curves = {{"accuracy", "fraction", {{"train", "train_acc"}, {"validation", "val_acc"}}}}};
  app.add_option("--epochs", run.epochs, "epochs in all")->check(CLI::PositiveNumber);
  app.add_option("--out", run.out, "run folder");
  app.add_option("--resume", run.resume, "continue the run in this folder");
  app.add_flag("--overwrite", run.overwrite, "start afresh in a folder that holds a run");
  CLI11_PARSE(app, argc, argv);

  Generator gen(0);
  auto [train_x, train_y] = make_spirals(400, gen);
  const auto validation = make_spirals(200, gen);  // not a structured binding: the lambdas capture them
  const Tensor val_x = validation.first, val_y = validation.second;
  nn::Sequential model(std::make_shared<nn::Linear>(2, 64), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(64, 64), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(64, 2));
  optim::Adam optimizer(optim::groups_of(model), optim::AdamOptions{.lr = 1e-2});
  try {
    training::TrainingRun kit(run, model, optimizer);
    int status = kit.fit(
        Batches{train_x, train_y, 32},
        [&](const std::pair<Tensor, Tensor>& batch) {  // one step: forward, loss, backward, update
          optimizer.zero_grad();
          Tensor logits = model.forward(batch.first);
          Tensor loss = nn::functional::cross_entropy(logits, batch.second);
          loss.backward();
          optimizer.step();
          const double n = batch.first.size(0), correct = training::count_correct(logits, batch.second);
          return training::StepReport{batch.first.size(0), {{"loss", loss.item<double>()}, {"acc%", correct / n}}};
        },
        [&](int64_t) {  // validation after each epoch
          NoGradGuard no_grad;
          Tensor logits = model.forward(val_x);
          const double accuracy = static_cast<double>(training::count_correct(logits, val_y)) / val_x.size(0);
          return training::Validation{{{"val_loss", nn::functional::cross_entropy(logits, val_y).item<double>()},
                                       {"val_acc%", accuracy}}};
        });
    if (status == 0) kit.write_summary({});  // else stopped by Ctrl-C: --resume continues
    return status != 0 ? status : kit.state().best_metric > 0.9 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
