#include "optim/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace focus::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (const ParamGroup& group : optimizer.param_groups()) base_lrs_.push_back(group.lr);
}

void LRScheduler::apply(int64_t epoch) {
  auto& groups = optimizer_.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].lr = lr_at(epoch, base_lrs_[g]);
}

void LRScheduler::step() { apply(++last_epoch_); }

std::vector<double> LRScheduler::lrs_at(int64_t epoch) const {
  std::vector<double> out;
  for (double base : base_lrs_) out.push_back(lr_at(epoch, base));
  return out;
}

std::vector<double> LRScheduler::last_lr() const {
  std::vector<double> out;
  for (const ParamGroup& group : optimizer_.param_groups()) out.push_back(group.lr);
  return out;
}

std::map<std::string, std::string> LRScheduler::state_dict() const {
  std::map<std::string, std::string> state{{"last_epoch", std::to_string(last_epoch_)}};
  for (size_t g = 0; g < base_lrs_.size(); ++g) state[fmt::format("base_lr.{}", g)] = fmt::format("{:.17g}", base_lrs_[g]);
  return state;
}

namespace {

// A saved field read back, named in the error with its text when it is not what it should be; the
// scheduler changes only after every field has been read.
std::string field(const std::map<std::string, std::string>& state, const std::string& scheduler, const std::string& key) {
  auto it = state.find(key);
  if (it == state.end()) throw std::invalid_argument(fmt::format("{}::load_state_dict: missing '{}'", scheduler, key));
  return it->second;
}

double parse_real(const std::string& scheduler, const std::string& key, const std::string& text, bool allow_infinite) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || std::isnan(value) || (!allow_infinite && !std::isfinite(value)))
    throw std::invalid_argument(fmt::format("{}::load_state_dict: '{}' is {:?}, not a number", scheduler, key, text));
  return value;
}

int64_t parse_integer(const std::string& scheduler, const std::string& key, const std::string& text, int64_t lowest) {
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < lowest || value > (int64_t{1} << 53))
    throw std::invalid_argument(
        fmt::format("{}::load_state_dict: '{}' is {:?}, not an integer from {} to 2^53", scheduler, key, text, lowest));
  return value;
}

}  // namespace

void LRScheduler::load_state_dict(const std::map<std::string, std::string>& state) {
  const std::string name = "LRScheduler";
  const int64_t last_epoch = parse_integer(name, "last_epoch", field(state, name, "last_epoch"), -1);
  std::vector<double> base_lrs = base_lrs_;
  for (size_t g = 0; g < base_lrs.size(); ++g) {
    const std::string key = fmt::format("base_lr.{}", g);
    if (state.count(key)) base_lrs[g] = parse_real(name, key, state.at(key), /*allow_infinite=*/false);
  }
  last_epoch_ = last_epoch;
  base_lrs_ = std::move(base_lrs);
  apply(last_epoch_);
}

// ---- StepLR ---------------------------------------------------------------------------
StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0) throw std::invalid_argument(fmt::format("StepLR: step_size must be positive, got {}", step_size));
  apply(0);
}

double StepLR::lr_at(int64_t epoch, double base_lr) const {
  return base_lr * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

// ---- CosineAnnealingLR ------------------------------------------------------------------
CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : LRScheduler(optimizer), t_max_(t_max), eta_min_(eta_min) {
  if (t_max <= 0) throw std::invalid_argument(fmt::format("CosineAnnealingLR: T_max must be positive, got {}", t_max));
  apply(0);
}

double CosineAnnealingLR::lr_at(int64_t epoch, double base_lr) const {
  return eta_min_ + (base_lr - eta_min_) * (1 + std::cos(M_PI * static_cast<double>(epoch) / t_max_)) / 2;
}

// ---- LinearLR -------------------------------------------------------------------------------
LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(optimizer), start_factor_(start_factor), end_factor_(end_factor), total_iters_(total_iters) {
  if (start_factor <= 0 || start_factor > 1 || end_factor < 0 || end_factor > 1 || total_iters <= 0)
    throw std::invalid_argument("LinearLR: factors must lie in (0, 1] and total_iters must be positive");
  apply(0);
}

double LinearLR::lr_at(int64_t epoch, double base_lr) const {
  double progress = static_cast<double>(std::min(epoch, total_iters_)) / total_iters_;
  return base_lr * (start_factor_ + (end_factor_ - start_factor_) * progress);
}

// ---- WarmupCosineLR -----------------------------------------------------------------------------
WarmupCosineLR::WarmupCosineLR(Optimizer& optimizer, int64_t warmup, int64_t total, double start_factor,
                               double eta_min)
    : LRScheduler(optimizer), warmup_(warmup), total_(total), start_factor_(start_factor), eta_min_(eta_min) {
  if (warmup < 0 || total <= warmup)
    throw std::invalid_argument(
        fmt::format("WarmupCosineLR: need 0 <= warmup < total, got warmup {} and total {}", warmup, total));
  apply(0);
}

double WarmupCosineLR::lr_at(int64_t epoch, double base_lr) const {
  if (epoch < warmup_)
    return base_lr * (start_factor_ + (1 - start_factor_) * static_cast<double>(epoch) / warmup_);
  double progress = std::min(1.0, static_cast<double>(epoch - warmup_) / static_cast<double>(total_ - warmup_));
  return eta_min_ + (base_lr - eta_min_) * (1 + std::cos(M_PI * progress)) / 2;
}

// ---- OneCycleLR -----------------------------------------------------------------------------------
OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps, double pct_start,
                       double div_factor, double final_div_factor)
    : LRScheduler(optimizer),
      total_steps_(total_steps),
      pct_start_(pct_start),
      div_factor_(div_factor),
      final_div_factor_(final_div_factor) {
  if (total_steps <= 1 || pct_start <= 0 || pct_start >= 1)
    throw std::invalid_argument("OneCycleLR: need total_steps > 1 and 0 < pct_start < 1");
  for (double& base : base_lrs_) base = max_lr;
  apply(0);
}

double OneCycleLR::lr_at(int64_t step, double max_lr) const {
  // Cosine from `start` to `end` as pct goes 0 → 1.
  auto anneal = [](double start, double end, double pct) { return end + (start - end) / 2 * (std::cos(M_PI * pct) + 1); };
  double initial = max_lr / div_factor_, min_lr = initial / final_div_factor_;
  double warm_end = pct_start_ * static_cast<double>(total_steps_) - 1;
  double last = static_cast<double>(total_steps_ - 1);
  double s = static_cast<double>(std::min(step, total_steps_ - 1));
  if (s <= warm_end) return anneal(initial, max_lr, s / warm_end);
  return anneal(max_lr, min_lr, (s - warm_end) / (last - warm_end));
}

// ---- PiecewiseLinearLR --------------------------------------------------------------------------------
PiecewiseLinearLR::PiecewiseLinearLR(Optimizer& optimizer, std::vector<std::pair<int64_t, double>> points)
    : LRScheduler(optimizer), points_(std::move(points)) {
  if (points_.empty()) throw std::invalid_argument("PiecewiseLinearLR: needs at least one (step, factor) point");
  for (size_t i = 0; i < points_.size(); ++i) {
    if (!(points_[i].second >= 0) || !std::isfinite(points_[i].second))
      throw std::invalid_argument(fmt::format("PiecewiseLinearLR: point {} has factor {}; expected a finite factor >= 0",
                                              i, points_[i].second));
    if (i > 0 && points_[i].first <= points_[i - 1].first)
      throw std::invalid_argument(fmt::format(
          "PiecewiseLinearLR: the steps must increase, but point {} is at step {} after step {}", i,
          points_[i].first, points_[i - 1].first));
  }
  apply(0);
}

double PiecewiseLinearLR::factor_at(int64_t step) const {
  if (step <= points_.front().first) return points_.front().second;
  if (step >= points_.back().first) return points_.back().second;
  // The segment [a, b] holding `step`: the first point after it, and the one before.
  auto after = std::upper_bound(points_.begin(), points_.end(), step,
                                [](int64_t s, const std::pair<int64_t, double>& p) { return s < p.first; });
  const auto& [a_step, a_factor] = *(after - 1);
  const auto& [b_step, b_factor] = *after;
  double t = static_cast<double>(step - a_step) / static_cast<double>(b_step - a_step);
  return a_factor + (b_factor - a_factor) * t;
}

double PiecewiseLinearLR::lr_at(int64_t step, double base_lr) const { return base_lr * factor_at(step); }

// ---- ReduceLROnPlateau ------------------------------------------------------------------------------
ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, Mode mode, double factor, int64_t patience,
                                     double threshold, int64_t cooldown, double min_lr)
    : optimizer_(optimizer),
      mode_(mode),
      factor_(factor),
      threshold_(threshold),
      min_lr_(min_lr),
      patience_(patience),
      cooldown_(cooldown),
      best_(mode == Mode::Min ? INFINITY : -INFINITY) {
  if (factor >= 1.0 || factor <= 0) throw std::invalid_argument("ReduceLROnPlateau: factor must be in (0, 1)");
}

bool ReduceLROnPlateau::improved(double metric) const {
  return mode_ == Mode::Min ? metric < best_ * (1 - threshold_) : metric > best_ * (1 + threshold_);
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (improved(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during cooldown do not count
  }
  if (num_bad_epochs_ > patience_) {
    for (ParamGroup& group : optimizer_.param_groups()) group.lr = std::max(group.lr * factor_, min_lr_);
    cooldown_counter_ = cooldown_;
    num_bad_epochs_ = 0;
  }
}

std::map<std::string, std::string> ReduceLROnPlateau::state_dict() const {
  return {{"best", fmt::format("{:.17g}", best_)},
          {"num_bad_epochs", std::to_string(num_bad_epochs_)},
          {"cooldown_counter", std::to_string(cooldown_counter_)},
          {"last_epoch", std::to_string(last_epoch_)}};
}

void ReduceLROnPlateau::load_state_dict(const std::map<std::string, std::string>& state) {
  auto get = [&](const char* key) {
    auto it = state.find(key);
    if (it == state.end()) throw std::invalid_argument(fmt::format("ReduceLROnPlateau::load_state_dict: missing '{}'", key));
    return it->second;
  };
  const std::string name = "ReduceLROnPlateau";
  const double best = parse_real(name, "best", get("best"), /*allow_infinite=*/true);  // ±inf before any epoch
  const int64_t bad = parse_integer(name, "num_bad_epochs", get("num_bad_epochs"), 0);
  const int64_t cooldown = parse_integer(name, "cooldown_counter", get("cooldown_counter"), 0);
  const int64_t last_epoch = parse_integer(name, "last_epoch", get("last_epoch"), -1);
  best_ = best, num_bad_epochs_ = bad, cooldown_counter_ = cooldown, last_epoch_ = last_epoch;
}

}  // namespace focus::optim
