// The training-run kit on a tiny regression: the run folder, resuming, stopping on a signal,
// best and last checkpoints, metrics.csv, curves.png and summary.json.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>

#include "../../datasets/temp_directory.h"
#include "focus.h"
#include "optim/training/training_run.h"
#include "nn/json.h"

using namespace focus;
using namespace focus::training;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

// Eight batches of y = x·w_true + 0.5 for a linear model to learn.
struct Batches {
  std::vector<std::pair<Tensor, Tensor>> batches;
  explicit Batches(uint64_t seed) {
    Generator gen(seed);
    Tensor w_true = from_vector(std::vector<float>{1.5f, -2.0f, 0.5f}, {3, 1});
    for (int i = 0; i < 8; ++i) {
      Tensor x = randn({16, 3}, {}, &gen);
      batches.emplace_back(x, matmul(x, w_true) + 0.5);
    }
  }
  int64_t num_batches(int64_t) const { return static_cast<int64_t>(batches.size()); }
  const std::vector<std::pair<Tensor, Tensor>>& epoch(int64_t) const { return batches; }
};

// A model, its optimizer and a run over `options`, with a step that can raise a signal once.
struct Fixture {
  nn::Linear model{3, 1};
  optim::SGD optimizer{optim::groups_of(model), optim::SGDOptions{0.05}};
  Batches data{7};
  int raise_at_step = -1;  // global step at which the step function raises `signal_to_raise`
  int signal_to_raise = SIGINT;

  Fixture() { manual_seed(3); }

  double validation_loss() {
    NoGradGuard no_grad;
    double total = 0;
    for (const auto& [x, y] : data.batches) total += mean(pow(model(x) - y, 2.0)).item<double>();
    return total / static_cast<double>(data.batches.size());
  }

  int fit(TrainingRun& run) {
    return run.fit(
        data,
        [&](const std::pair<Tensor, Tensor>& batch) {
          optimizer.zero_grad();
          Tensor loss = mean(pow(model(batch.first) - batch.second, 2.0));
          loss.backward();
          optimizer.step();
          if (run.state().global_step + 1 == raise_at_step) std::raise(signal_to_raise);
          return StepReport{16, {{"loss", loss.item<double>()}}};
        },
        [&](int64_t) { return Validation{{{"val_loss", validation_loss()}}, ""}; });
  }
};

RunOptions options_for(const fs::path& out, int64_t epochs) {
  RunOptions options;
  options.out = out;
  options.epochs = epochs;
  options.curves = {{"loss", "mean squared error", {{"train", "train_loss"}, {"validation", "val_loss"}}}};
  return options;
}

}  // namespace

TEST_CASE("a training run learns and leaves metrics, checkpoints, curves and a summary", "[training_run]") {
  testing::TempDirectory dir("run-fresh");
  Fixture f;
  const double before = f.validation_loss();
  TrainingRun run(options_for(dir / "run", 3), f.model, f.optimizer);
  REQUIRE(f.fit(run) == 0);
  REQUIRE(f.validation_loss() < 0.1 * before);  // it learned
  REQUIRE(run.state().epoch == 3);
  REQUIRE(run.state().global_step == 24);

  MetricsLog log(dir / "run" / "metrics.csv");
  REQUIRE(log.columns() == std::vector<std::string>{"epoch", "train_loss", "val_loss", "lr", "seconds"});
  REQUIRE(log.column("epoch") == std::vector<double>{1, 2, 3});
  const std::vector<double> val = log.column("val_loss");
  REQUIRE(val[2] < val[0]);
  for (const char* name : {"last.safetensors", "best.safetensors", "curves.png"}) REQUIRE(fs::exists(dir / "run" / name));
  // The curves are a real PNG.
  REQUIRE(testing::read_file(dir / "run" / "curves.png").substr(1, 3) == "PNG");

  run.write_summary({{"test_loss", "0.0125"}, {"device", "cpu"}});
  const std::string summary = testing::read_file(dir / "run" / "summary.json");
  REQUIRE_THAT(summary, Contains("\"test_loss\": 0.0125") && Contains("\"device\": \"cpu\"") &&
                            Contains("\"epochs\": 3") && Contains("\"best_validation_metric_name\": \"val_loss\"") &&
                            Contains("\"config_"));
  REQUIRE(nn::json::parse(summary).is_object());
}

TEST_CASE("a second run into the same folder is refused unless asked to overwrite", "[training_run]") {
  testing::TempDirectory dir("run-twice");
  {
    Fixture f;
    TrainingRun run(options_for(dir / "run", 1), f.model, f.optimizer);
    REQUIRE(f.fit(run) == 0);
  }
  const std::string first_metrics = testing::read_file(dir / "run" / "metrics.csv");
  Fixture f;
  REQUIRE_THROWS_WITH(TrainingRun(options_for(dir / "run", 2), f.model, f.optimizer),
                      Contains("already holds a training run") && Contains("--resume") && Contains("--overwrite"));
  REQUIRE(testing::read_file(dir / "run" / "metrics.csv") == first_metrics);  // untouched

  RunOptions again = options_for(dir / "run", 2);
  again.overwrite = true;
  TrainingRun run(again, f.model, f.optimizer);
  REQUIRE(f.fit(run) == 0);
  // The old rows are gone, not duplicated.
  REQUIRE(MetricsLog(dir / "run" / "metrics.csv").column("epoch") == std::vector<double>{1, 2});
}

TEST_CASE("Ctrl-C mid-epoch saves last.safetensors, resuming trains that epoch again", "[training_run]") {
  testing::TempDirectory dir("run-interrupt");
  struct sigaction before {};
  sigaction(SIGINT, nullptr, &before);
  {
    Fixture f;
    f.raise_at_step = 11;  // the third step of the second epoch
    TrainingRun run(options_for(dir / "run", 3), f.model, f.optimizer);
    REQUIRE(f.fit(run) == 130);
    REQUIRE(run.state().epoch == 1);
    REQUIRE(run.state().global_step == 11);
  }
  struct sigaction after {};
  sigaction(SIGINT, nullptr, &after);
  REQUIRE(after.sa_handler == before.sa_handler);  // the previous handler is back

  REQUIRE(MetricsLog(dir / "run" / "metrics.csv").rows() == 1);
  Fixture f;
  RunOptions resume = options_for("", 3);
  resume.resume = dir / "run";  // the folder: its last.safetensors
  TrainingRun run(resume, f.model, f.optimizer);
  REQUIRE(run.resumed());
  REQUIRE(run.folder() == dir / "run");
  REQUIRE(run.state().epoch == 1);
  REQUIRE(run.state().global_step == 11);
  REQUIRE(f.fit(run) == 0);
  REQUIRE(run.state().global_step == 11 + 16);
  REQUIRE(MetricsLog(dir / "run" / "metrics.csv").column("epoch") == std::vector<double>{1, 2, 3});

  // Resuming a finished run says what to do instead.
  Fixture g;
  RunOptions finished = options_for("", 3);
  finished.resume = dir / "run";
  REQUIRE_THROWS_WITH(TrainingRun(finished, g.model, g.optimizer), Contains("already trained 3 epoch(s)"));
}

TEST_CASE("SIGTERM mid-epoch stops cleanly too, with its own exit status", "[training_run]") {
  testing::TempDirectory dir("run-sigterm");
  Fixture f;
  f.raise_at_step = 5;
  f.signal_to_raise = SIGTERM;
  TrainingRun run(options_for(dir / "run", 2), f.model, f.optimizer);
  REQUIRE(f.fit(run) == 143);
  REQUIRE(run.state().epoch == 0);
  REQUIRE(fs::exists(dir / "run" / "last.safetensors"));
  REQUIRE_FALSE(fs::exists(dir / "run" / "metrics.csv"));  // no epoch finished, no row

  Fixture g;
  RunOptions resume = options_for("", 2);
  resume.resume = dir / "run" / "last.safetensors";
  TrainingRun resumed(resume, g.model, g.optimizer);
  REQUIRE(resumed.state().global_step == 5);
  REQUIRE(g.fit(resumed) == 0);
  REQUIRE(MetricsLog(dir / "run" / "metrics.csv").column("epoch") == std::vector<double>{1, 2});
}

TEST_CASE("best.safetensors follows the chosen metric in the chosen direction", "[training_run]") {
  testing::TempDirectory dir("run-best");
  Fixture f;
  RunOptions options = options_for(dir / "run", 4);
  options.best_metric = "val_score";
  options.better = Better::Higher;
  TrainingRun run(options, f.model, f.optimizer);
  const std::vector<double> scores{0.2, 0.9, 0.5, 0.7};
  REQUIRE(run.fit(
              f.data,
              [&](const std::pair<Tensor, Tensor>&) { return StepReport{1, {{"loss", 1.0}}}; },
              [&](int64_t epoch) { return Validation{{{"val_score%", scores[static_cast<size_t>(epoch)]}}, ""}; }) == 0);
  Fixture g;
  TrainingState best = load_checkpoint((dir / "run" / "best.safetensors").string(), g.model, g.optimizer, nullptr, nullptr);
  REQUIRE(best.epoch == 2);
  REQUIRE(best.best_metric == Approx(0.9));
  // The '%' only changes the display: the column holds the fraction.
  REQUIRE(MetricsLog(dir / "run" / "metrics.csv").column("val_score") == std::vector<double>{0.2, 0.9, 0.5, 0.7});

  // Resuming from best.safetensors (epoch 2) drops the later rows before training on.
  Fixture h;
  RunOptions resume = options_for("", 3);
  resume.resume = dir / "run" / "best.safetensors";
  resume.best_metric = "val_score";
  TrainingRun again(resume, h.model, h.optimizer);
  REQUIRE(MetricsLog(dir / "run" / "metrics.csv").column("epoch") == std::vector<double>{1, 2});
}

TEST_CASE("a damaged metrics.csv stops a resume before anything is written", "[training_run]") {
  testing::TempDirectory dir("run-corrupt");
  {
    Fixture f;
    TrainingRun run(options_for(dir / "run", 1), f.model, f.optimizer);
    REQUIRE(f.fit(run) == 0);
  }
  { std::ofstream(dir / "run" / "metrics.csv", std::ios::app) << "2,0.5,oops,0.05,1\n"; }
  const std::string checkpoint = testing::read_file(dir / "run" / "last.safetensors");
  Fixture f;
  RunOptions resume = options_for("", 2);
  resume.resume = dir / "run";
  REQUIRE_THROWS_WITH(TrainingRun(resume, f.model, f.optimizer),
                      Contains("metrics.csv line 3") && Contains("'oops' is not a number"));
  REQUIRE(testing::read_file(dir / "run" / "last.safetensors") == checkpoint);
}

TEST_CASE("a diverging run stops with the step and the largest gradient named, and keeps its best checkpoint",
          "[training_run]") {
  testing::TempDirectory tmp("training-run");
  Fixture f;
  // Epoch 1 trains normally and saves best.safetensors; in epoch 2 the learning rate explodes.
  {
    TrainingRun run(options_for(tmp / "run", 1), f.model, f.optimizer);
    REQUIRE(f.fit(run) == 0);
  }
  const std::string best_before = testing::read_file(tmp / "run" / "best.safetensors");
  const std::string metrics_before = testing::read_file(tmp / "run" / "metrics.csv");
  f.optimizer.param_groups()[0].lr = 1e30;
  RunOptions resume = options_for(tmp / "run", 2);
  resume.resume = tmp / "run";
  TrainingRun run(resume, f.model, f.optimizer);
  for (optim::ParamGroup& group : f.optimizer.param_groups()) group.lr = 1e30;  // after the checkpoint's rate
  try {
    f.fit(run);
    FAIL("the run did not stop");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(message.find("training diverged: loss is") != std::string::npos);
    CHECK(message.find("at epoch 2, step ") != std::string::npos);
    CHECK((message.find("the largest gradient is weight's") != std::string::npos ||
           message.find("the largest gradient is bias's") != std::string::npos));
    CHECK(message.find("Nothing was saved over best.safetensors") != std::string::npos);
  }
  CHECK(testing::read_file(tmp / "run" / "best.safetensors") == best_before);
  CHECK(testing::read_file(tmp / "run" / "metrics.csv") == metrics_before);
}
