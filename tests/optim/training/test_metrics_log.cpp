#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "../../datasets/temp_directory.h"
#include "focus.h"
#include "optim/training/metrics_log.h"

using namespace focus;
using namespace focus::training;
using Catch::Contains;

using focus::testing::read_file;
using focus::testing::write_file;

TEST_CASE("metrics.csv: a header once, rows appended, read back by column name", "[metrics_log]") {
  testing::TempDirectory dir("metrics-log");
  const auto path = dir / "metrics.csv";
  {
    MetricsLog log(path);
    REQUIRE(log.rows() == 0);
    log.append({{"epoch", 1}, {"train_loss", 0.5}, {"val_acc", 0.25}});
  }
  {
    MetricsLog log(path);  // a resumed run reads what is there and appends
    REQUIRE(log.rows() == 1);
    log.append({{"epoch", 2}, {"val_acc", 0.75}, {"train_loss", 0.125}});  // any order: cells go by name
  }
  REQUIRE(read_file(path) == "epoch,train_loss,val_acc\n1,0.5,0.25\n2,0.125,0.75\n");
  MetricsLog log(path);
  REQUIRE(log.column("val_acc") == std::vector<double>{0.25, 0.75});
  REQUIRE(log.column("epoch") == std::vector<double>{1, 2});
  REQUIRE_THROWS_WITH(log.column("bleu"), Contains("no column 'bleu'") && Contains("train_loss"));
  REQUIRE_THROWS_WITH(log.append({{"train_loss", 1.0}}), Contains("'epoch'"));
  REQUIRE_THROWS_WITH(log.append({{"epoch", 3}, {"lr", 1.0}, {"lr", 2.0}}), Contains("'lr' twice"));
}

TEST_CASE("metrics.csv: truncation drops the rows past a resumed epoch, atomically", "[metrics_log]") {
  testing::TempDirectory dir("metrics-log-truncate");
  const auto path = dir / "metrics.csv";
  write_file(path, "epoch,loss\n1,0.9\n2,0.8\n3,0.7\n");
  MetricsLog log(path);
  log.truncate_after(2);
  REQUIRE(read_file(path) == "epoch,loss\n1,0.9\n2,0.8\n");
  log.append({{"epoch", 3}, {"loss", 0.6}});
  REQUIRE(read_file(path) == "epoch,loss\n1,0.9\n2,0.8\n3,0.6\n");
  // Nothing left behind but the file itself.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++files;
  REQUIRE(files == 1);
}

TEST_CASE("metrics.csv: a new column rewrites the file, older rows keep an empty cell", "[metrics_log]") {
  testing::TempDirectory dir("metrics-log-columns");
  const auto path = dir / "metrics.csv";
  write_file(path, "epoch,loss\n1,0.9\n");
  MetricsLog log(path);
  log.append({{"epoch", 2}, {"loss", 0.8}, {"tokens_per_s", 1500}});
  REQUIRE(read_file(path) == "epoch,loss,tokens_per_s\n1,0.9,\n2,0.8,1500\n");
  MetricsLog again(path);
  const std::vector<double> speed = again.column("tokens_per_s");
  REQUIRE(std::isnan(speed[0]));
  REQUIRE(speed[1] == 1500);
}

TEST_CASE("metrics.csv: a damaged file is an error naming file, line and column", "[metrics_log]") {
  testing::TempDirectory dir("metrics-log-corrupt");
  const auto path = dir / "metrics.csv";
  write_file(path, "epoch,loss\n1,0.9\n2,zero point eight\n");
  REQUIRE_THROWS_WITH(MetricsLog(path), Contains(path.string()) && Contains("line 3") && Contains("column 'loss'") &&
                                            Contains("'zero point eight' is not a number"));
  write_file(path, "epoch,loss\n1,0.9\n2,0.8,7\n");
  REQUIRE_THROWS_WITH(MetricsLog(path), Contains("line 3") && Contains("3 cells") && Contains("2 columns"));
  write_file(path, "\x01\x02garbage\n1,2\n");
  REQUIRE_THROWS_WITH(MetricsLog(path), Contains("no 'epoch' column"));
  write_file(path, "epoch,loss\n,0.5\n");
  REQUIRE_THROWS_WITH(MetricsLog(path), Contains("line 2") && Contains("no epoch"));
}
