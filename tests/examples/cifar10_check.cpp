// Runs examples/cifar10_attention as a user would (built only with FOCUS_BUILD_EXAMPLES, hence
// registered by the `if(TARGET cifar10_attention)` block of tests/CMakeLists.txt rather than by the
// test_*.cpp glob): a short training run that must learn, leave its outputs, resume and re-evaluate
// to the same number; and bad flags, data and checkpoints, which must fail by name and write nothing.
//
// Data: the real CIFAR-10 when FOCUS_DATA holds it (Release builds only), else a generated folder in
// the CIFAR-10 binary format whose classes are colours, learnable within one short epoch. Sanitized
// builds (FOCUS_SANITIZED=1, ~10x slower) always use the generated folder.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <stb_image.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../datasets/temp_directory.h"
#include "../run_command.h"
#include "generated_cifar.h"
#include "datasets/data_root.h"
#include "nn/json.h"
#include "nn/serialize.h"

namespace fs = std::filesystem;
using focus::testing::TempDirectory;
using focus::testing::write_generated_cifar;

namespace {

// Standard output and error of one run of the program, and its exit status.
struct Run {
  std::string output;
  int status = -1;
};

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

Run run_cifar(const std::string& arguments) {
  const focus::testing::CommandResult result =
      focus::testing::run_command(fmt::format("{} {} 2>&1", quoted(CIFAR10_EXE), arguments));
  return {result.output, result.status};
}

using focus::testing::read_file;
using focus::testing::write_file;

// Every file under `dir` (relative name → bytes): two equal snapshots mean nothing was written,
// removed or added.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[fs::relative(entry.path(), dir).string()] = read_file(entry.path());
  return files;
}

// Where the data of the training test comes from and how much of it to use.
struct DataPlan {
  std::string data_flag;    // --data ...
  std::string size_flags;   // --limit, --test-limit, --batch-size, --threads
  double min_accuracy = 0;  // on the test images, after one epoch; chance is 0.10
  bool real = false;
};

DataPlan plan_data(const TempDirectory& tmp) {
  DataPlan plan;
  const bool real_data_present = focus::data::has_data_root() &&
                                 fs::exists(focus::data::data_root() / "cifar-10-batches-bin" / "test_batch.bin");
  if (real_data_present && !FOCUS_SANITIZED) {
    plan.real = true;
    plan.data_flag = "--data " + quoted(focus::data::data_root() / "cifar-10-batches-bin");
    // 5,000 training images (the recipe holds none out), one epoch of 39 steps of 128; the first 1,000
    // test images.
    plan.size_flags = "--limit 5000 --test-limit 1000 --batch-size 128 --threads 2";
    // One epoch of the recipe on 5,000 images reaches 0.39 here (seed 0, test-time augmented); chance is 0.10.
    plan.min_accuracy = 0.25;
    return plan;
  }
  if (!real_data_present) WARN("FOCUS_DATA does not hold cifar-10-batches-bin: training on a generated CIFAR-format folder");
  const fs::path generated = tmp / "generated-cifar";
  write_generated_cifar(generated, 100);  // 500 training, 100 test images
  plan.data_flag = "--data " + quoted(generated);
  // 200 training images, 12 steps of 16 per epoch; 50 test images.
  plan.size_flags = "--limit 200 --test-limit 50 --batch-size 16 --threads 1";
  // Colours are learnt within the epoch: 0.94 here with the recipe (Release); chance is 0.10.
  plan.min_accuracy = 0.5;
  return plan;
}

double number(const focus::nn::json::Value& value) {
  if (value.is_integer()) return static_cast<double>(value.integer());
  return std::get<double>(value.data);
}

focus::nn::json::Object read_summary(const fs::path& path) {
  REQUIRE(fs::exists(path));
  focus::nn::json::Value summary = focus::nn::json::parse(read_file(path));
  REQUIRE(summary.is_object());
  return summary.object();
}

// The data rows of metrics.csv, each split into its cells.
std::vector<std::vector<std::string>> metric_rows(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  REQUIRE(std::getline(in, line));
  CHECK(line == "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds");
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream stream(line);
    for (std::string cell; std::getline(stream, cell, ',');) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// The PNG decodes, is at least min_width x min_height, and is not a blank canvas.
void check_png(const fs::path& path, int min_width, int min_height) {
  INFO(path.string());
  REQUIRE(fs::exists(path));
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load(path.string().c_str(), &width, &height, &channels, 3);
  REQUIRE(pixels != nullptr);
  CHECK(width >= min_width);
  CHECK(height >= min_height);
  bool coloured = false;
  for (int i = 0; i < width * height && !coloured; ++i)
    coloured = !(pixels[3 * i] == pixels[3 * i + 1] && pixels[3 * i + 1] == pixels[3 * i + 2]);
  stbi_image_free(pixels);
  CHECK(coloured);
}

// "test accuracy: 91.20% (1000 images)" → 91.20
double printed_test_accuracy(const std::string& output) {
  const std::string label = "test accuracy: ";
  const size_t at = output.rfind(label);
  REQUIRE(at != std::string::npos);
  return std::stod(output.substr(at + label.size()));
}

// A finished run of one epoch to break things against: generated data, a few steps.
void train_tiny_run(const fs::path& data, const fs::path& out) {
  Run run = run_cifar(fmt::format("--data {} --out {} --epochs 1 --limit 40 --test-limit 16 --batch-size 16 --threads 1",
                                  quoted(data), quoted(out)));
  INFO(run.output);
  REQUIRE(run.status == 0);
  REQUIRE(fs::exists(out / "last.safetensors"));
}

}  // namespace

TEST_CASE("cifar10_attention: a short run learns, leaves its outputs, resumes, and --eval reproduces it",
          "[examples][cifar10]") {
  TempDirectory tmp("cifar10-train");
  const DataPlan plan = plan_data(tmp);
  const fs::path out = tmp / "run";
  const std::string common = plan.data_flag + " " + plan.size_flags + " --seed 0";

  const Run first = run_cifar(fmt::format("{} --epochs 1 --out {}", common, quoted(out)));
  INFO(first.output);
  REQUIRE(first.status == 0);
  for (const char* name : {"best.safetensors", "last.safetensors", "metrics.csv", "curves.png", "confusion_matrix.png",
                           "per_class.txt", "attention_maps.png", "attention_by_class.png", "attention.txt",
                           "summary.json"})
    CHECK(fs::exists(out / name));

  auto summary = read_summary(out / "summary.json");
  for (const char* key : {"test_accuracy", "epochs", "wall_seconds", "images_per_second", "device", "seed", "model",
                          "parameters", "test_images", "preset", "test_time_augmentation", "minutes_to_80",
                          "minutes_to_85", "minutes_to_90", "minutes_to_94"})
    CHECK(summary.count(key) == 1);
  const double accuracy = number(summary.at("test_accuracy"));
  INFO("test accuracy " << accuracy << ", required above " << plan.min_accuracy << " (chance 0.10)");
  CHECK(accuracy > plan.min_accuracy);
  CHECK(number(summary.at("epochs")) == 1);
  CHECK(number(summary.at("wall_seconds")) > 0);
  CHECK(number(summary.at("images_per_second")) > 0);
  CHECK(summary.at("device").string() == "cpu");
  CHECK(number(summary.at("seed")) == 0);
  CHECK(summary.at("model").string() == "attention");
  // The default preset's AttentionNet (stages 32/192/192); its PyTorch twin (bench/torch/cifar_recipe.py) agrees.
  CHECK(number(summary.at("parameters")) == 1089705);
  CHECK(number(summary.at("epochs")) == 1);
  CHECK(summary.at("preset").string() == "default");
  CHECK(number(summary.at("test_images")) == (plan.real ? 1000 : 50));
  CHECK(printed_test_accuracy(first.output) == Approx(100 * accuracy).margin(0.006));
  CHECK(first.output.find("| test loss ") != std::string::npos);  // the epoch line names the test metrics

  auto rows = metric_rows(out / "metrics.csv");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0] == "1");
  // The time to each accuracy: the epoch's seconds when its test accuracy reached it, else "not reached".
  for (double threshold : {0.80, 0.85, 0.90, 0.94}) {
    const auto& minutes = summary.at(fmt::format("minutes_to_{:.0f}", 100 * threshold));
    INFO("threshold " << threshold << ", epoch test accuracy " << rows[0][4]);
    if (std::stod(rows[0][4]) >= threshold)
      CHECK(number(minutes) == Approx(std::stod(rows[0][6]) / 60).margin(0.006));
    else
      CHECK(minutes.string() == "not reached");
  }

  {
    const std::string per_class = read_file(out / "per_class.txt");
    for (const char* name : {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"})
      CHECK(per_class.find(name) != std::string::npos);
  }
  check_png(out / "curves.png", 400, 150);
  check_png(out / "confusion_matrix.png", 200, 200);
  check_png(out / "attention_maps.png", 500, 300);  // 16 tiles of image + overlay + colour bar, 4 a row
  check_png(out / "attention_by_class.png", 300, 150);  // 10 class means, 5 a row
  {
    // The centre share of the attention, beside a uniform map's 9/49 (a 7x7 map's middle 3x3).
    const std::string attention = read_file(out / "attention.txt");
    CHECK(attention.find("centre region: rows 2..4, columns 2..4 of a 7x7 map") != std::string::npos);
    CHECK(attention.find("(uniform: 0.1837") != std::string::npos);
  }

  // --eval on the best checkpoint: the number summary.json reported, to the printed two decimals.
  const Run eval = run_cifar(fmt::format("{} --eval {}", common, quoted(out / "best.safetensors")));
  {
    INFO(eval.output);
    REQUIRE(eval.status == 0);
    CHECK(fmt::format("{:.2f}", printed_test_accuracy(eval.output)) == fmt::format("{:.2f}", 100 * accuracy));
  }

  // --resume with --epochs 2 trains exactly the second epoch into the same folder.
  const std::string checkpoint_before = read_file(out / "last.safetensors");
  const Run resumed = run_cifar(fmt::format("{} --epochs 2 --resume {}", common, quoted(out / "last.safetensors")));
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.output.find("1 of 2 epochs done, continuing at epoch 2") != std::string::npos);
  CHECK(resumed.output.find("epoch 1/2") == std::string::npos);  // the first epoch is not trained again
  CHECK(resumed.output.find("epoch 2/2:") != std::string::npos);
  rows = metric_rows(out / "metrics.csv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0][0] == "1");
  CHECK(rows[1][0] == "2");
  CHECK(read_file(out / "last.safetensors") != checkpoint_before);
  summary = read_summary(out / "summary.json");
  CHECK(number(summary.at("epochs")) == 2);
  CHECK(number(summary.at("test_accuracy")) > plan.min_accuracy);
}

TEST_CASE("cifar10_attention: --time-budget picks the epochs from measured step times, and the run trains them",
          "[examples][cifar10]") {
  TempDirectory tmp("cifar10-budget");
  write_generated_cifar(tmp / "data", 20);
  const auto trained_epochs = [&](const std::string& budget, const fs::path& out) {
    const Run run = run_cifar(fmt::format("--data {} --out {} --time-budget {} --limit 40 --test-limit 16 --batch-size 16 "
                                          "--threads 1 --no-tta",
                                          quoted(tmp / "data"), quoted(out), budget));
    INFO(run.output);
    REQUIRE(run.status == 0);
    const std::string label = "time budget " + budget + " min: ";
    const size_t at = run.output.find(label);
    REQUIRE(at != std::string::npos);
    const int epochs = std::stoi(run.output.substr(at + label.size()));
    CHECK(epochs >= 1);
    CHECK(metric_rows(out / "metrics.csv").size() == static_cast<size_t>(epochs));
    return epochs;
  };
  // 12 s against 18 s, less what loading took and 5 s for writing: the second fits more epochs
  // (each two steps of 16 images and 16 test images).
  // Sanitized builds (about 10x slower, with a start-up that can eat the short budget) run one budget.
  const int short_run = trained_epochs("0.2", tmp / "short");
  if (FOCUS_SANITIZED) return;
  const int long_run = trained_epochs("0.3", tmp / "long");
  CHECK(long_run > short_run);
}

TEST_CASE("cifar10_attention: --widths sizes the stages, --flips picks the flips, and a resume keeps the widths",
          "[examples][cifar10]") {
  TempDirectory tmp("cifar10-widths");
  write_generated_cifar(tmp / "data", 20);
  const fs::path out = tmp / "run";
  const std::string common =
      fmt::format("--data {} --limit 40 --test-limit 16 --batch-size 16 --threads 1 --no-tta", quoted(tmp / "data"));
  const Run first =
      run_cifar(fmt::format("{} --epochs 1 --widths 8,16,12 --flips alternating --out {}", common, quoted(out)));
  {
    INFO(first.output);
    REQUIRE(first.status == 0);
    CHECK(first.output.find("widths 8/16/12") != std::string::npos);
    CHECK(first.output.find("alternating flips") != std::string::npos);
    const auto summary = read_summary(out / "summary.json");
    CHECK(number(summary.at("parameters")) < 506713);  // far fewer than 32/128/128's, let alone the preset's 32/192/192
  }
  const Run refused = run_cifar(
      fmt::format("{} --epochs 2 --widths 32,128,128 --resume {}", common, quoted(out / "last.safetensors")));
  {
    INFO(refused.output);
    CHECK(refused.status != 0);
    CHECK(refused.output.find("the checkpoint's widths are 8,16,12, not 32,128,128 (--widths)") != std::string::npos);
  }
  const Run resumed = run_cifar(fmt::format("{} --epochs 2 --resume {}", common, quoted(out / "last.safetensors")));
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.output.find("widths 8/16/12") != std::string::npos);
  CHECK(resumed.output.find("random flips") != std::string::npos);  // the preset's, as no --flips was given
  CHECK(metric_rows(out / "metrics.csv").size() == 2);
}

TEST_CASE("cifar10_attention: flag values it cannot use are refused by name before anything is written",
          "[examples][cifar10]") {
  TempDirectory tmp("cifar10-flags");
  write_generated_cifar(tmp / "data", 20);
  const fs::path out = tmp / "existing";
  fs::create_directories(out);
  write_file(out / "notes.txt", "an earlier run's notes\n");
  const auto before = snapshot(out);

  const std::vector<std::pair<std::string, std::string>> cases{
      {"--model foo", "--model: foo not in {seed,attention}"},
      {"--optimizer bar", "--optimizer: bar not in {adam,sgd}"},
      {"--val-split 2", "--val-split: Value 2 not in range"},
      {"--epochs 0", "--epochs: expected a number greater than 0, got '0'"},
      {"--preset slow", "--preset: slow not in {default,quick}"},
      {"--without dropout", "--without: dropout not in {whitening,lookahead,label-smoothing}"},
      {"--time-budget -5", "--time-budget: expected a number greater than 0, got '-5'"},
      {"--widths 32,0,128", "--widths: expected three channel counts from 1 to 4096 as STAGE1,STAGE2,STAGE3 (e.g. "
                            "32,160,160), got '32,0,128'"},
      {"--widths 32,128", "--widths: expected three channel counts from 1 to 4096"},
      {"--widths 32,128,128x", "--widths: expected three channel counts from 1 to 4096"},
      {"--model seed --widths 8,8,8", "--widths sets the attention model's stages; the seed model has none"},
      {"--flips sometimes", "--flips: sometimes not in {random,alternating}"},
      {"--model seed --flips alternating", "--flips sets the attention model's augmentation; the seed model has none"},
      {"--lr -1", "--lr: expected a number greater than 0, got '-1'"},
      {"--batch-size many", "--batch-size: expected a number greater than 0, got 'many'"},
      {"--test-limit 0", "--test-limit: expected a number greater than 0, got '0'"},
      {"--device gpu", "unknown device 'gpu'"},
      {"--frobnicate", "The following argument was not expected: --frobnicate"},
  };
  for (const auto& [flags, message] : cases) {
    const Run run = run_cifar(fmt::format("--data {} --out {} --epochs 1 --limit 20 {}", quoted(tmp / "data"),
                                          quoted(out), flags));
    INFO(flags << " →\n" << run.output);
    CHECK(run.status != 0);
    CHECK(run.output.find(message) != std::string::npos);
    CHECK(snapshot(out) == before);
  }
}

TEST_CASE("cifar10_attention: a missing or damaged data folder is an error naming the file", "[examples][cifar10]") {
  TempDirectory tmp("cifar10-data");
  const fs::path good = tmp / "good";
  write_generated_cifar(good, 20);
  const fs::path out = tmp / "existing";
  fs::create_directories(out);
  write_file(out / "notes.txt", "an earlier run's notes\n");
  const auto before = snapshot(out);

  // Each case: a copy of the good folder, damaged by `damage`; the message must say what is wrong where.
  const fs::path data = tmp / "damaged";
  struct Case {
    std::string name, message;
    std::function<void(const fs::path&)> damage;
  };
  const std::vector<Case> cases{
      {"no such folder", "CIFAR-10 not found (looked in " + data.string() + ")",
       [](const fs::path& dir) { fs::remove_all(dir); }},
      {"truncated batch", "data_batch_3.bin is 61430 bytes, not a multiple of the 3073-byte record",
       [](const fs::path& dir) { fs::resize_file(dir / "data_batch_3.bin", 20 * 3073 - 30); }},
      {"empty batch", "data_batch_1.bin is empty", [](const fs::path& dir) { fs::resize_file(dir / "data_batch_1.bin", 0); }},
      {"label out of range", "data_batch_2.bin record 5 (byte offset 15365) has label 12",
       [](const fs::path& dir) {
         std::string bytes = read_file(dir / "data_batch_2.bin");
         bytes[5 * 3073] = 12;
         write_file(dir / "data_batch_2.bin", bytes);
       }},
      {"missing test batch", "cannot open " + (data / "test_batch.bin").string(),
       [](const fs::path& dir) { fs::remove(dir / "test_batch.bin"); }},
  };
  for (const Case& c : cases) {
    fs::remove_all(data);
    fs::copy(good, data);
    c.damage(data);
    for (const fs::path& target : {out, tmp / "fresh"}) {
      const Run run = run_cifar(fmt::format("--data {} --out {} --epochs 1 --limit 20 --threads 1", quoted(data),
                                            quoted(target)));
      INFO(c.name << ", --out " << target.string() << " →\n" << run.output);
      CHECK(run.status == 1);
      CHECK(run.output.find("error: ") != std::string::npos);
      CHECK(run.output.find(c.message) != std::string::npos);
      CHECK(snapshot(out) == before);
      CHECK_FALSE(fs::exists(tmp / "fresh"));
    }
  }
}

TEST_CASE("cifar10_attention: --resume and --eval refuse damaged or mismatched checkpoints without touching them",
          "[examples][cifar10]") {
  TempDirectory tmp("cifar10-checkpoints");
  const fs::path data = tmp / "data";
  write_generated_cifar(data, 20);
  const fs::path run_dir = tmp / "run";
  train_tiny_run(data, run_dir);
  const std::string good = read_file(run_dir / "last.safetensors");

  // Damaged copies of the checkpoint, each with what the error must say.
  const fs::path bad = tmp / "bad";
  fs::create_directories(bad);
  std::string malformed_header = good;
  {
    uint64_t header_length = 0;
    std::memcpy(&header_length, good.data(), 8);
    // The header's closing brace becomes a comma: JSON that ends in the middle of an object.
    const size_t closing = good.rfind('}', 8 + header_length - 1);
    REQUIRE(closing != std::string::npos);
    REQUIRE(closing >= 8);
    malformed_header[closing] = ',';
  }
  std::string garbage(5000, '\0');
  std::mt19937 random(3);
  for (char& byte : garbage) byte = static_cast<char>(random());
  const std::vector<std::pair<std::string, std::string>> damaged{
      {"truncated.safetensors", "out of range of the"},
      {"tiny.safetensors", "too short for the 8-byte header length"},
      {"garbage.safetensors", "truncated or not a safetensors file"},
      {"malformed.safetensors", "malformed JSON"},
  };
  write_file(bad / "truncated.safetensors", good.substr(0, good.size() / 2));
  write_file(bad / "tiny.safetensors", "abc");
  write_file(bad / "garbage.safetensors", garbage);
  write_file(bad / "malformed.safetensors", malformed_header);

  const auto run_before = snapshot(run_dir);
  const auto bad_before = snapshot(bad);
  const std::string common = fmt::format("--data {} --limit 40 --test-limit 16 --batch-size 16 --threads 1", quoted(data));
  for (const auto& [name, message] : damaged) {
    const fs::path checkpoint = bad / name;
    for (const std::string& use : {fmt::format("--eval {}", quoted(checkpoint)),
                                   fmt::format("--epochs 2 --resume {}", quoted(checkpoint)),
                                   fmt::format("--epochs 2 --resume {} --out {}", quoted(checkpoint), quoted(run_dir))}) {
      const Run run = run_cifar(common + " " + use);
      INFO(use << " →\n" << run.output);
      CHECK(run.status == 1);
      CHECK(run.output.find("error: " + checkpoint.string() + ": ") != std::string::npos);
      CHECK(run.output.find(message) != std::string::npos);
      CHECK(snapshot(bad) == bad_before);
      CHECK(snapshot(run_dir) == run_before);
    }
  }

  // A well-formed file with the checkpoint's metadata and no weights: evaluating it would score random
  // weights, so --eval and --predict refuse it by the missing names.
  {
    focus::nn::SafetensorsContent checkpoint = focus::nn::load_safetensors((run_dir / "last.safetensors").string());
    const fs::path weightless = bad / "weightless.safetensors";
    focus::nn::save_safetensors(weightless.string(), {}, checkpoint.metadata);
    for (const std::string& use : {fmt::format("--eval {}", quoted(weightless)),
                                   fmt::format("--predict {} --checkpoint {}", quoted(bad / "x.png"), quoted(weightless))}) {
      const Run run = run_cifar(common + " " + use);
      INFO(use << " →\n" << run.output);
      CHECK(run.status == 1);
      CHECK(run.output.find("error: " + weightless.string() + ": ") != std::string::npos);
      CHECK(run.output.find("missing") != std::string::npos);
    }
    fs::remove(weightless);
  }

  // Crafted metadata: an unknown model name, control bytes, bytes that are not UTF-8 (patched into the
  // file: a writer may refuse them), a world size that is not a number. Each is refused by a message
  // that names the file once and shows the value escaped, before any model is built.
  {
    const focus::nn::SafetensorsContent checkpoint =
        focus::nn::load_safetensors((run_dir / "last.safetensors").string());
    struct Crafted {
      std::string name, key, value, message;
    };
    const std::vector<Crafted> crafted{
        {"resnet.safetensors", "user/model", "resnet", "metadata 'model' is \"resnet\": expected one of seed, attention"},
        {"control.safetensors", "user/model", "seed\x1b[2J", "metadata 'model' is \"seed\\x1b[2J\": expected one of"},
        {"bytes.safetensors", "user/model", "@@@@", "\"\\xc3(\\xff@\": expected one of"},
        {"world.safetensors", "user/world_size", "abc", "metadata 'world_size' is \"abc\": expected a process count"},
    };
    for (const Crafted& c : crafted) {
      focus::nn::Metadata metadata = checkpoint.metadata;
      metadata[c.key] = c.value;
      const fs::path file = bad / c.name;
      focus::nn::save_safetensors(file.string(), checkpoint.tensors, metadata);
      if (c.value == "@@@@") {
        std::string bytes = read_file(file);
        const size_t at = bytes.find("@@@@");
        REQUIRE(at != std::string::npos);
        bytes.replace(at, 4, "\xc3\x28\xff@");
        write_file(file, bytes);
      }
      std::vector<std::string> uses{fmt::format("--epochs 2 --resume {}", quoted(file))};
      if (c.key == "user/model") {
        uses.push_back(fmt::format("--eval {}", quoted(file)));
        uses.push_back(fmt::format("--predict {} --checkpoint {}", quoted(bad / "x.png"), quoted(file)));
      }
      for (const std::string& use : uses) {
        const Run run = run_cifar(common + " " + use);
        INFO(use << " →\n" << run.output);
        CHECK(run.status == 1);
        CHECK(run.output.find("error: ") != std::string::npos);
        size_t named = 0;
        for (size_t at = run.output.find(file.string()); at != std::string::npos;
             at = run.output.find(file.string(), at + 1))
          ++named;
        CHECK(named == 1);
        // Bytes that are not UTF-8 may be refused by the header's reader before the name is read.
        if (c.value == "@@@@")
          CHECK((run.output.find(c.message) != std::string::npos || run.output.find("UTF-8") != std::string::npos));
        else
          CHECK(run.output.find(c.message) != std::string::npos);
        CHECK(std::none_of(run.output.begin(), run.output.end(), [](char c) {
          const auto byte = static_cast<unsigned char>(c);
          return (byte < 0x20 && byte != '\n') || byte == 0x7f;  // bytes from the file are shown escaped
        }));
        CHECK(snapshot(run_dir) == run_before);
      }
      fs::remove(file);
    }
  }

  // Well-formed checkpoints that cannot continue this run.
  const std::string last = quoted(run_dir / "last.safetensors");
  const std::vector<std::pair<std::string, std::string>> refused{
      {"--epochs 1 --resume " + last, "the checkpoint has already trained 1 epoch(s); pass --epochs greater than 1"},
      // Without --epochs a resume takes the run's own (recorded in the checkpoint: 1), not the preset's.
      {"--resume " + last, "the checkpoint has already trained 1 epoch(s); pass --epochs greater than 1"},
      {"--time-budget 5 --resume " + last, "--time-budget picks a new run's epochs; a resume continues with the run's own"},
      {"--epochs 2 --model seed --resume " + last, "the checkpoint's model is 'attention', not 'seed' (--model)"},
      {"--epochs 2 --out " + quoted(run_dir), "already holds a training run"},  // a fresh run over a finished one
  };
  for (const auto& [use, message] : refused) {
    const Run run = run_cifar(common + " " + use);
    INFO(use << " →\n" << run.output);
    CHECK(run.status == 1);
    CHECK(run.output.find(message) != std::string::npos);
    CHECK(snapshot(run_dir) == run_before);
  }
}
