// A training checkpoint resumes a run exactly: 4 steps straight equal 2 steps,
// save, load into fresh objects, 2 more steps — bit for bit.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <tuple>

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

TEST_CASE("a checkpoint damaged in any part changes nothing, and its error names the field", "[checkpoint]") {
  const fs::path dir = fs::temp_directory_path() / ("focus-ckpt3-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string good = (dir / "good.safetensors").string();
  Run saved;
  for (int i = 0; i < 3; ++i) saved.step();
  save_checkpoint(good, saved.net, saved.adam, &saved.schedule, &saved.gen, {2, 3, 0.5, {}});
  const nn::SafetensorsContent content = nn::load_safetensors(good);

  // Each damage: a metadata key and its new text, and what the error must say.
  const std::vector<std::tuple<std::string, std::string, std::string>> damages{
      {"optimizer/type", "SGD", "saved by SGD"},
      {"optimizer/group.0.lr", "fast", "'group.0.lr' is \"fast\", not a finite number"},
      {"optimizer/group.0.lr", "nan", "'group.0.lr' is \"nan\", not a finite number"},
      {"optimizer/state.0.step", "9223372036854775807", "'state.0.step' is \"9223372036854775807\", not a count"},
      {"optimizer/state.0.step", "-1", "'state.0.step' is \"-1\", not a count"},
      {"optimizer/state.7.step", "3", "(its parameter index)' is \"7\""},
      {"scheduler/last_epoch", "x", "'last_epoch' is \"x\", not an integer"},
      {"scheduler/base_lr.0", "1e999", "'base_lr.0' is \"1e999\", not a number"},
      {"rng_state", "garbage", "malformed state text"},
      {"epoch", "-4", "malformed epoch/step/metric values"},
  };
  for (const auto& [key, text, message] : damages) {
    nn::Metadata metadata = content.metadata;
    REQUIRE(metadata.count(key) + (key == "optimizer/state.7.step") > 0);
    metadata[key] = text;
    const std::string damaged = (dir / "damaged.safetensors").string();
    nn::save_safetensors(damaged, content.tensors, metadata);

    Run target;  // fresh: its weights, optimizer, schedule and generator differ from the checkpoint's
    target.step();
    const std::string weights_before = fmt::format("{}", target.net.w1.to_vector<float>());
    const auto optimizer_before = target.adam.state_dict().values;
    const double lr_before = target.adam.param_groups()[0].lr;
    const std::string generator_before = target.gen.state();
    INFO(key << " = " << text);
    REQUIRE_THROWS_WITH(load_checkpoint(damaged, target.net, target.adam, &target.schedule, &target.gen),
                        Catch::Contains(damaged) && Catch::Contains(message));
    CHECK(fmt::format("{}", target.net.w1.to_vector<float>()) == weights_before);
    CHECK(target.adam.state_dict().values == optimizer_before);
    CHECK(target.adam.param_groups()[0].lr == lr_before);
    CHECK(target.gen.state() == generator_before);
  }
  // The undamaged checkpoint still loads.
  Run resumed;
  CHECK(load_checkpoint(good, resumed.net, resumed.adam, &resumed.schedule, &resumed.gen).global_step == 3);
  fs::remove_all(dir);
}
