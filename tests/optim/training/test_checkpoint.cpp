// A training checkpoint resumes a run exactly: 4 steps straight equal 2 steps,
// save, load into fresh objects, 2 more steps — bit for bit.
#include <catch2/catch.hpp>

#include <filesystem>

#include "focus.h"
#include "optim/adam.h"
#include "optim/training/checkpoint.h"
#include "optim/scheduler.h"

using namespace focus;
using namespace focus::optim;
using namespace focus::training;
namespace fs = std::filesystem;

namespace {

// A two-layer perceptron whose hidden units are randomly dropped with the run's generator,
// so the random state matters to the result.
struct Net : nn::Module {
  Tensor w1, b1, w2;
  explicit Net(Generator& gen) {
    w1 = register_parameter("fc1_weight", randn({4, 8}, {}, &gen) * 0.5);
    b1 = register_parameter("fc1_bias", zeros({8}));
    w2 = register_parameter("fc2_weight", randn({8, 3}, {}, &gen) * 0.5);
  }
  std::string type_name() const override { return "Net"; }
  Tensor forward(const Tensor& x, Generator& gen) {
    Tensor keep = kernels::bernoulli({x.size(0), 8}, 0.8, gen).to(kFloat32);
    return matmul(relu(matmul(x, w1) + b1) * keep, w2);
  }
};

struct Run {
  Generator gen{123};
  Net net{gen};
  Adam adam{{{net.parameters()}}, AdamOptions{0.01}};
  CosineAnnealingLR schedule{adam, 10};
  Tensor x, y;
  Run() {
    Generator data(9);
    x = randn({16, 4}, {}, &data);
    y = randint(0, 3, {16}, kInt64, &data);
  }
  void step() {
    adam.zero_grad();
    Tensor logits = net.forward(x, gen);
    Tensor loss = -mean(gather(log_softmax(logits, 1), 1, y.unsqueeze(1)));
    loss.backward();
    adam.step();
    schedule.step();
  }
};

}  // namespace

TEST_CASE("resume continues bitwise-identically", "[checkpoint]") {
  fs::path dir = fs::temp_directory_path() / ("focus-ckpt-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "last.safetensors").string();

  Run straight;
  for (int i = 0; i < 4; ++i) straight.step();

  Run first;
  first.step();
  first.step();
  TrainingState state;
  state.epoch = 2;
  state.global_step = 2;
  state.best_metric = 0.25;
  state.metadata["model"] = "Net(4, 8, 3)";
  save_checkpoint(path, first.net, first.adam, &first.schedule, &first.gen, state);

  Run resumed;  // fresh objects with different random draws consumed
  resumed.gen.normal();
  TrainingState loaded = load_checkpoint(path, resumed.net, resumed.adam, &resumed.schedule, &resumed.gen);
  REQUIRE(loaded.epoch == 2);
  REQUIRE(loaded.global_step == 2);
  REQUIRE(loaded.best_metric == 0.25);
  REQUIRE(loaded.metadata.at("model") == "Net(4, 8, 3)");
  resumed.step();
  resumed.step();

  auto expected = straight.net.named_parameters();
  auto got = resumed.net.named_parameters();
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(expected[i].first);
    REQUIRE(got[i].second.to_vector<float>() == expected[i].second.to_vector<float>());  // exact, not approximate
  }
  REQUIRE(resumed.adam.param_groups()[0].lr == straight.adam.param_groups()[0].lr);
}

TEST_CASE("a checkpoint with a missing scheduler or of another format is refused clearly", "[checkpoint]") {
  fs::path dir = fs::temp_directory_path() / ("focus-ckpt2-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "c.safetensors").string();
  Run run;
  save_checkpoint(path, run.net, run.adam, nullptr, nullptr, {});
  Run other;
  REQUIRE_THROWS_WITH(load_checkpoint(path, other.net, other.adam, &other.schedule, nullptr),
                      Catch::Contains(path) && Catch::Contains("no scheduler state"));
  nn::save(run.net, path);  // a plain weights file, not a training checkpoint
  REQUIRE_THROWS_WITH(load_checkpoint(path, other.net, other.adam, nullptr, nullptr),
                      Catch::Contains("not a training checkpoint"));
}
