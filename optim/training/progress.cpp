#include "optim/training/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace focus::training {

ProgressBar::ProgressBar(int64_t total, std::string label, std::string unit, std::FILE* out)
    : total_(std::max<int64_t>(total, 1)),
      label_(std::move(label)),
      unit_(std::move(unit)),
      out_(out),
      terminal_(::isatty(::fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressBar::items_per_second() const {
  double s = elapsed_seconds();
  return s > 0 ? static_cast<double>(items_) / s : 0.0;
}

std::string ProgressBar::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

std::string ProgressBar::render(int64_t done, const std::vector<std::pair<std::string, double>>& metrics) const {
  constexpr int kWidth = 24;
  double fraction = std::clamp(static_cast<double>(done) / total_, 0.0, 1.0);
  int filled = static_cast<int>(fraction * kWidth);
  std::string bar = std::string(filled, '=') + (filled < kWidth ? ">" : "") +
                    std::string(std::max(0, kWidth - filled - 1), ' ');
  std::string line = fmt::format("{} [{}] {}/{}", label_, bar, done, total_);
  for (const auto& [name, value] : metrics) {
    if (!name.empty() && name.back() == '%')
      line += fmt::format("  {} {:.2f}%", name.substr(0, name.size() - 1), 100 * value);
    else
      line += fmt::format("  {} {:.4f}", name, value);
  }
  double elapsed = elapsed_seconds();
  line += fmt::format("  {:.0f} {}/s", elapsed > 0 ? static_cast<double>(items_) / elapsed : 0.0, unit_);
  double eta = done > 0 ? elapsed / done * static_cast<double>(total_ - done) : NAN;
  line += "  ETA " + format_duration(eta);
  return line;
}

void ProgressBar::update(int64_t done, int64_t items, const std::vector<std::pair<std::string, double>>& metrics) {
  items_ += items;
  auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    // Redraw at most 10 times a second, and always at the end.
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    fmt::print(out_, "\r\033[K{}", render(done, metrics));
  } else {
    int64_t decile = done * 10 / total_;
    if (decile == last_printed_decile_ || (decile == 0 && done != 1)) return;
    last_printed_decile_ = decile;
    fmt::print(out_, "{}\n", render(done, metrics));
  }
  std::fflush(out_);
}

void ProgressBar::finish(const std::string& summary) {
  if (terminal_) fmt::print(out_, "\r\033[K");
  if (!summary.empty()) fmt::print(out_, "{}\n", summary);
  std::fflush(out_);
}

}  // namespace focus::training
