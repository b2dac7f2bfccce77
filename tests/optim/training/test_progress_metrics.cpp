#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "focus.h"
#include "optim/training/metrics.h"
#include "optim/training/progress.h"

using namespace focus;
using namespace focus::training;

TEST_CASE("the progress bar shows position, metrics, throughput and ETA", "[progress]") {
  std::FILE* sink = std::tmpfile();
  ProgressBar bar(200, "epoch 1/3", "img", sink);
  bar.update(50, 1600, {{"loss", 0.81234}, {"acc%", 0.712}});
  std::string line = bar.render(50, {{"loss", 0.81234}, {"acc%", 0.712}});
  REQUIRE(line.find("epoch 1/3 [") == 0);
  REQUIRE(line.find("50/200") != std::string::npos);
  REQUIRE(line.find("loss 0.8123") != std::string::npos);
  REQUIRE(line.find("acc 71.20%") != std::string::npos);
  REQUIRE(line.find("img/s") != std::string::npos);
  REQUIRE(line.find("ETA ") != std::string::npos);
  REQUIRE(line.find("======>") != std::string::npos);  // a quarter of 24 cells
  bar.finish("done");
  std::rewind(sink);
  char buffer[512] = {};
  std::fread(buffer, 1, sizeof buffer - 1, sink);
  REQUIRE(std::string(buffer).find("done") != std::string::npos);
  std::fclose(sink);
  REQUIRE(ProgressBar::format_duration(3909) == "1:05:09");
  REQUIRE(ProgressBar::format_duration(24) == "0:24");
}

TEST_CASE("accuracy and the confusion matrix count correctly", "[metrics]") {
  Tensor logits = tensor({2, 1, 0, 0, 3, 1, 1, 0, 5}, {3, 3});  // argmax 0, 1, 2
  Tensor labels = from_vector(std::vector<int64_t>{0, 2, 2}, {3});
  REQUIRE(count_correct(logits, labels) == 2);
  ConfusionMatrix cm(3);
  cm.add(argmax(logits, 1), labels);
  REQUIRE(cm.count(0, 0) == 1);
  REQUIRE(cm.count(2, 1) == 1);
  REQUIRE(cm.count(2, 2) == 1);
  REQUIRE(cm.accuracy() == Approx(2.0 / 3));
  REQUIRE(cm.per_class_accuracy() == std::vector<double>{1.0, 0.0, 0.5});
  REQUIRE(cm.to_tensor().at({2, 1}) == 1.0);
  REQUIRE_THROWS_WITH(cm.add(from_vector(std::vector<int64_t>{3}, {1}), from_vector(std::vector<int64_t>{0}, {1})),
                      Catch::Contains("outside 0..2"));
  RunningMean m;
  m.add(1.0, 3);
  m.add(2.0, 1);
  REQUIRE(m.mean() == Approx(1.25));
}


TEST_CASE("a confusion matrix rebuilt from summed counts (several ranks' to_tensor())", "[metrics]") {
  ConfusionMatrix first(3), second(3);
  first.add(from_vector(std::vector<int64_t>{0, 1, 2, 2}, {4}), from_vector(std::vector<int64_t>{0, 1, 1, 2}, {4}));
  second.add(from_vector(std::vector<int64_t>{1, 0}, {2}), from_vector(std::vector<int64_t>{1, 2}, {2}));
  const ConfusionMatrix combined(first.to_tensor() + second.to_tensor());
  CHECK(combined.classes() == 3);
  CHECK(combined.total() == 6);
  CHECK(combined.count(1, 1) == 2);
  CHECK(combined.count(1, 2) == 1);
  CHECK(combined.count(2, 0) == 1);
  CHECK(combined.accuracy() == Approx(4.0 / 6.0));
  CHECK_THROWS_WITH(ConfusionMatrix(zeros({3, 2}, kInt64)), Catch::Contains("square int64 matrix"));
  CHECK_THROWS_WITH(ConfusionMatrix(zeros({3, 3}, kFloat32)), Catch::Contains("square int64 matrix"));
  CHECK_THROWS_WITH(ConfusionMatrix(full({2, 2}, -1.0, kInt64)), Catch::Contains("negative count"));
}
