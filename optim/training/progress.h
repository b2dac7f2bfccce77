#pragma once
// A progress bar for training loops:
//   epoch 3/30 [==========>         ] 512/1407  loss 0.8123  acc 71.20%  2310 img/s  ETA 0:24
// On a terminal it redraws one line; in a log file (CI) it prints a line every
// tenth of the way, so logs stay short.
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace focus::training {

class ProgressBar {
 public:
  /// `total` steps; `unit` names what `items` counts in the throughput ("img", "tok").
  ProgressBar(int64_t total, std::string label, std::string unit = "it", std::FILE* out = stdout);

  /// Reports that `done` steps are complete, `items` more items were processed, and
  /// the current values of named metrics (shown with 4 decimals; names ending in
  /// '%' are shown as percentages of a fraction).
  void update(int64_t done, int64_t items, const std::vector<std::pair<std::string, double>>& metrics);
  /// Ends the bar with a final line.
  void finish(const std::string& summary = "");

  double elapsed_seconds() const;
  double items_per_second() const;
  /// "1:05:09" / "0:24"
  static std::string format_duration(double seconds);
  /// The text of the bar for the given state (what update() prints, without control codes).
  std::string render(int64_t done, const std::vector<std::pair<std::string, double>>& metrics) const;

 private:
  int64_t total_;
  std::string label_, unit_;
  std::FILE* out_;
  bool terminal_;
  int64_t items_ = 0;
  int64_t last_printed_decile_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace focus::training
