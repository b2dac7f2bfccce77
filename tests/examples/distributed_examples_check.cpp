// Both examples as data-parallel jobs of two ranks under mpirun, run as a user would: one run
// folder written by rank 0 (one progress bar, one set of files), resuming on the same number of
// ranks and refusing another, SIGTERM stopping both ranks at the same step with a checkpoint, and
// the training curve of 2 ranks x B matching one process x 2B.
//
// Data: a generated CIFAR-format folder (tests/examples/generated_cifar.h) and the translator's
// synthetic dates, so these run anywhere in seconds.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "../datasets/temp_directory.h"
#include "../run_command.h"
#include "generated_cifar.h"
#include "nn/json.h"
#include "optim/training/metrics_log.h"

namespace fs = std::filesystem;
using focus::testing::read_file;
using focus::testing::TempDirectory;

namespace {

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// mpirun as root, in a container (no single-copy transport), two ranks of one thread on any core
// count; a job still running after 240 s is ended (a hang fails the test instead of CI).
std::string mpirun(int ranks) {
  return fmt::format(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none "
      "OMP_NUM_THREADS=1 {} -np {} --oversubscribe --bind-to none --timeout 240",
      MPIEXEC, ranks);
}

focus::testing::CommandResult run(const std::string& command) {
  focus::testing::CommandResult result = focus::testing::run_command(command + " 2>&1");
  INFO(command);
  INFO(result.output);
  return result;
}

// How often `needle` occurs in `text`.
int64_t occurrences(const std::string& text, const std::string& needle) {
  int64_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

std::vector<double> column(const fs::path& run_folder, const std::string& name) {
  return focus::training::MetricsLog(run_folder / "metrics.csv").column(name);
}

std::string summary_field(const fs::path& run_folder, const std::string& key) {
  const focus::nn::json::Value summary = focus::nn::json::parse(read_file(run_folder / "summary.json"));
  const focus::nn::json::Value& value = summary.object().at(key);
  return value.is_string() ? value.string() : std::to_string(value.integer());
}

}  // namespace

TEST_CASE("cifar10_attention on 2 ranks: one run folder, resume on 2 ranks, refused on 1", "[examples][distributed]") {
  TempDirectory tmp;
  const fs::path data = tmp / "cifar";
  focus::testing::write_generated_cifar(data, 100);
  // 200 training images (the attention recipe holds none out), 2 ranks x 16 per step: 6 steps an
  // epoch (drop_last).
  const std::string program = fmt::format("{} --data {} --limit 200 --test-limit 50 --batch-size 16 --threads 1",
                                          quoted(CIFAR10_EXE), quoted(data));
  const fs::path out = tmp / "run";

  auto first = run(fmt::format("{} {} --epochs 1 --out {}", mpirun(2), program, quoted(out)));
  REQUIRE(first.status == 0);
  CHECK(occurrences(first.output, "2 ranks x 16 images = 32 images per step") == 1);
  CHECK(occurrences(first.output, "epoch 1/1: train") == 1);  // rank 0's bar only
  CHECK(occurrences(first.output, "test accuracy") == 1);
  for (const char* file : {"metrics.csv", "last.safetensors", "best.safetensors", "curves.png", "summary.json",
                           "confusion_matrix.png", "attention_maps.png"})
    CHECK(fs::exists(out / file));
  CHECK(column(out, "epoch") == std::vector<double>{1});
  CHECK(summary_field(out, "world_size") == "2");
  CHECK(summary_field(out, "global_batch") == "32");

  SECTION("a single process refuses the 2-rank checkpoint and leaves the run as it was") {
    const std::string before = read_file(out / "metrics.csv");
    auto alone = run(fmt::format("{} --epochs 2 --resume {}", program, quoted(out)));
    CHECK(alone.status == 1);
    CHECK(alone.output.find("trained by 2 process(es) and this job has 1") != std::string::npos);
    CHECK(alone.output.find("mpirun -np 2") != std::string::npos);
    CHECK(read_file(out / "metrics.csv") == before);
  }
  SECTION("2 ranks continue it") {
    auto resumed = run(fmt::format("{} {} --epochs 2 --resume {}", mpirun(2), program, quoted(out)));
    REQUIRE(resumed.status == 0);
    CHECK(occurrences(resumed.output, "resumed from") == 1);
    CHECK(column(out, "epoch") == std::vector<double>{1, 2});
  }
}

TEST_CASE("cifar10_attention: 2 ranks x 16 images train like 1 process x 32", "[examples][distributed]") {
  TempDirectory tmp;
  const fs::path data = tmp / "cifar";
  focus::testing::write_generated_cifar(data, 100);
  // The same global batches (every rank shuffles the same order) and an explicit learning rate. The
  // seed model has neither BatchNorm nor dropout, so the two runs differ only in summation order.
  // (The attention model's BatchNorm normalises over each rank's 16 images, not over 32, as
  // PyTorch's DDP does without SyncBatchNorm: its curves agree only roughly.)
  const std::string flags = fmt::format(
      "--model seed --data {} --limit 200 --test-limit 50 --threads 1 --lr 2e-3 --epochs 2", quoted(data));
  REQUIRE(run(fmt::format("{} {} --batch-size 16 {} --out {}", mpirun(2), quoted(CIFAR10_EXE), flags,
                          quoted(tmp / "two")))
              .status == 0);
  REQUIRE(run(fmt::format("{} --batch-size 32 {} --out {}", quoted(CIFAR10_EXE), flags, quoted(tmp / "one")))
              .status == 0);
  for (const char* metric : {"train_loss", "train_acc", "val_loss"}) {
    const std::vector<double> two = column(tmp / "two", metric), one = column(tmp / "one", metric);
    REQUIRE(two.size() == 2);
    REQUIRE(one.size() == 2);
    for (size_t epoch = 0; epoch < 2; ++epoch) {
      INFO(metric << " epoch " << epoch + 1 << ": 2 ranks " << two[epoch] << ", 1 process " << one[epoch]);
      CHECK(std::abs(two[epoch] - one[epoch]) <= 1e-3 * std::abs(one[epoch]));
    }
  }
}

TEST_CASE("translate train on 2 ranks x 32 matches 1 process x 64, step for step", "[examples][distributed]") {
  TempDirectory tmp;
  // Dates, no dropout, full teacher forcing: nothing random in a step. The ranks share out the same
  // global length buckets, and the token loss is normalised by the global batch's token count, so
  // the two runs compute the same gradients up to float32 summation order.
  const std::string flags =
      "--task dates --date-examples 1280 --embed 16 --hidden 32 --epochs 2 --lr 4e-3 --threads 1";
  REQUIRE(run(fmt::format("{} {} train {} --batch-size 32 --out {}", mpirun(2), quoted(TRANSLATE_EXE), flags,
                          quoted(tmp / "two")))
              .status == 0);
  REQUIRE(run(fmt::format("{} train {} --batch-size 64 --out {}", quoted(TRANSLATE_EXE), flags, quoted(tmp / "one")))
              .status == 0);
  for (const char* metric : {"train_loss", "val_loss", "val_token_acc"}) {
    const std::vector<double> two = column(tmp / "two", metric), one = column(tmp / "one", metric);
    REQUIRE(two.size() == 2);
    REQUIRE(one.size() == 2);
    for (size_t epoch = 0; epoch < 2; ++epoch) {
      INFO(metric << " epoch " << epoch + 1 << ": 2 ranks " << two[epoch] << ", 1 process " << one[epoch]);
      CHECK(std::abs(two[epoch] - one[epoch]) <= 1e-3 * std::abs(one[epoch]));
    }
  }
  CHECK(summary_field(tmp / "two", "world_size") == "2");
  CHECK(fs::exists(tmp / "two" / "source_vocab.txt"));
}

TEST_CASE("SIGTERM to mpirun stops both ranks after the same step, rank 0 saves and 2 ranks resume",
          "[examples][distributed]") {
  TempDirectory tmp;
  const fs::path out = tmp / "run", log = tmp / "log.txt";
  // 20,000 examples: an epoch long enough (about 1.5 s on a fast 2-core machine) for the signal to
  // land inside it; with 4,000 a fast machine finished both epochs before the signal arrived.
  const std::string program = fmt::format(
      "{} train --task dates --date-examples 20000 --embed 16 --hidden 32 --epochs 2 --batch-size 16 --threads 1",
      quoted(TRANSLATE_EXE));
  // Start the job, wait for its first steps, then do what a batch scheduler does at its time limit.
  auto stopped = run(fmt::format(
      "{} {} --out {} > {} 2>&1 & job=$!; "
      "for i in $(seq 1 600); do grep -q 'epoch 1/2 \\[' {} && break; sleep 0.1; done; "
      "kill -TERM $job; wait $job; echo \"exit status $?\"; cat {}",
      mpirun(2), program, quoted(out), quoted(log), quoted(log), quoted(log)));
  CHECK(stopped.output.find("exit status 0") == std::string::npos);
  CHECK(occurrences(stopped.output, "stopped by SIGTERM: saved") == 1);  // rank 0 speaks, once
  REQUIRE(fs::exists(out / "last.safetensors"));
  CHECK_FALSE(fs::exists(out / "metrics.csv.tmp"));

  auto resumed = run(fmt::format("{} {} --resume {}", mpirun(2), program, quoted(out)));
  REQUIRE(resumed.status == 0);
  // 0 or 1 epochs done: where the signal lands depends on the machine's speed.
  CHECK(resumed.output.find("resumed from") != std::string::npos);
  CHECK(resumed.output.find(" of 2 epochs done") != std::string::npos);
  CHECK(column(out, "epoch") == std::vector<double>{1, 2});
}
