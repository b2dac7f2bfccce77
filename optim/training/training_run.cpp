#include "optim/training/training_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "nn/serialize.h"
#include "optim/training/summary.h"
#include "tensor/config.h"

namespace focus::training {

namespace fs = std::filesystem;

const std::vector<std::string>& run_files() {
  static const std::vector<std::string> files{"metrics.csv", "last.safetensors", "best.safetensors", "curves.png",
                                              "summary.json"};
  return files;
}

fs::path resume_checkpoint_file(const fs::path& resume) {
  return fs::is_directory(resume) ? resume / "last.safetensors" : resume;
}

namespace {

// The options with the folder and the checkpoint to resume spelled out, and the folder checked:
// a fresh run never mixes its metrics and checkpoints into an earlier run's.
RunOptions resolve(RunOptions options) {
  if (options.epochs < 1) throw std::invalid_argument(fmt::format("TrainingRun: epochs must be >= 1, got {}", options.epochs));
  if (!options.resume.empty()) {
    options.resume = resume_checkpoint_file(options.resume);
    if (options.out.empty()) options.out = options.resume.has_parent_path() ? options.resume.parent_path() : ".";
    return options;
  }
  if (options.out.empty()) throw std::invalid_argument("TrainingRun: no run folder (RunOptions::out) given");
  for (const std::string& name : run_files()) {
    const fs::path file = options.out / name;
    if (!fs::exists(file)) continue;
    if (!options.overwrite)
      throw std::runtime_error(fmt::format(
          "{} already holds a training run ({}): continue it with --resume {}, start it again with --overwrite, "
          "or choose another --out",
          options.out.string(), name, options.out.string()));
    fs::remove(file);
  }
  return options;
}

// "val_acc%" -> "val_acc": the '%' asks for display as a percentage, the column keeps the fraction.
std::string column_name(const std::string& metric) {
  return !metric.empty() && metric.back() == '%' ? metric.substr(0, metric.size() - 1) : metric;
}

// "loss 0.8123" or "acc 71.20%", for the epoch's line.
std::string show(const std::string& metric, double value) {
  const bool percent = !metric.empty() && metric.back() == '%';
  std::string name = column_name(metric);
  std::replace(name.begin(), name.end(), '_', ' ');
  return percent ? fmt::format("{} {:.2f}%", name, 100 * value) : fmt::format("{} {:.4f}", name, value);
}

}  // namespace

TrainingRun::TrainingRun(RunOptions options, nn::Module& model, optim::Optimizer& optimizer,
                         optim::LRScheduler* scheduler, Generator* generator)
    : options_(resolve(std::move(options))),
      model_(model),
      optimizer_(optimizer),
      scheduler_(scheduler),
      generator_(generator),
      log_(options_.out / "metrics.csv") {
  if (!options_.resume.empty()) {
    state_ = load_checkpoint(options_.resume.string(), model_, optimizer_, scheduler_, generator_);
    if (state_.epoch >= options_.epochs)
      throw std::runtime_error(fmt::format(
          "--resume {}: the checkpoint has already trained {} epoch(s); pass --epochs greater than {} to train on",
          options_.resume.string(), state_.epoch, state_.epoch));
    resumed_ = true;
    fmt::print("resumed from {}: {} of {} epochs done, continuing at epoch {}\n", options_.resume.string(),
               state_.epoch, options_.epochs, state_.epoch + 1);
    // Rows past the checkpoint (a later epoch's, when resuming from best.safetensors or after a
    // stop between logging and saving) belong to a history this run replaces.
    log_.truncate_after(state_.epoch);
  }
  for (const auto& [key, value] : options_.metadata) state_.metadata[key] = value;
  fs::create_directories(options_.out);
}

void TrainingRun::begin_epoch(int64_t epoch, int64_t steps) {
  epoch_ = epoch;
  step_in_epoch_ = 0;
  means_.clear();
  model_.train();
  bar_ = std::make_unique<ProgressBar>(steps, fmt::format("epoch {}/{}", epoch + 1, options_.epochs), options_.unit);
}

void TrainingRun::record_step(const StepReport& report) {
  if (!bar_) throw std::logic_error("TrainingRun::record_step: call begin_epoch first");
  std::vector<std::pair<std::string, double>> shown;
  for (const auto& [name, value] : report.metrics) {
    auto it = std::find_if(means_.begin(), means_.end(), [&](const auto& m) { return m.first == name; });
    if (it == means_.end()) it = means_.insert(means_.end(), {name, RunningMean()});
    it->second.add(value, report.items);
    shown.emplace_back(name, it->second.mean());
  }
  ++state_.global_step;
  bar_->update(++step_in_epoch_, report.items, shown);
}

bool TrainingRun::end_epoch(const Validation& validation) {
  if (!bar_) throw std::logic_error("TrainingRun::end_epoch: call begin_epoch first");
  const double seconds = bar_->elapsed_seconds();
  items_per_second_ = bar_->items_per_second();
  const double lr = optimizer_.param_groups().at(0).lr;

  MetricsRow row{{"epoch", static_cast<double>(epoch_ + 1)}};
  std::string train_text, val_text;
  for (const auto& [name, mean] : means_) {
    row.emplace_back("train_" + column_name(name), mean.mean());
    train_text += " " + show(name, mean.mean());
  }
  for (const auto& [name, value] : validation.metrics) {
    row.emplace_back(column_name(name), value);
    val_text += " " + show(name.rfind("val_", 0) == 0 ? name.substr(4) : name, value);
  }
  if (!options_.throughput_column.empty()) row.emplace_back(options_.throughput_column, items_per_second_);
  row.emplace_back("lr", lr);
  row.emplace_back("seconds", seconds);

  bar_->finish(fmt::format("epoch {}/{}: train{} | val{} | lr {:.2e} | {:.0f} s, {:.0f} {}/s", epoch_ + 1,
                           options_.epochs, train_text, val_text, lr, seconds, items_per_second_, options_.unit));
  bar_.reset();
  if (!validation.report.empty())
    fmt::print("{}{}", validation.report, validation.report.back() == '\n' ? "" : "\n");

  auto metric = std::find_if(row.begin(), row.end(), [&](const auto& cell) { return cell.first == options_.best_metric; });
  if (metric == row.end())
    throw std::invalid_argument(fmt::format("TrainingRun: the best-checkpoint metric '{}' is not among this epoch's "
                                            "metrics", options_.best_metric));
  const double value = metric->second;
  const bool best = state_.epoch == 0 ||
                    (options_.better == Better::Higher ? value > state_.best_metric : value < state_.best_metric);
  log_.append(row);
  state_.epoch = epoch_ + 1;
  if (best) state_.best_metric = value;
  save(last_checkpoint());
  if (best) {
    save(best_checkpoint());
    fmt::print("  new best {}: {:.4g} (saved {})\n", options_.best_metric, value, best_checkpoint().filename().string());
  }
  save_curves(log_, options_.curves, options_.out / "curves.png");
  return best;
}

int TrainingRun::stop_early(const StopSignal& stop) {
  if (bar_) bar_->finish();
  bar_.reset();
  save(last_checkpoint());
  fmt::print("stopped by {}: saved {} (epoch {} incomplete; --resume {} trains it again)\n", stop.signal_name(),
             last_checkpoint().string(), epoch_ + 1, options_.out.string());
  return stop.exit_code();
}

void TrainingRun::save(const fs::path& path) const {
  save_checkpoint(path.string(), model_, optimizer_, scheduler_, generator_, state_);
}

void TrainingRun::load_best() {
  if (fs::exists(best_checkpoint())) nn::load(model_, best_checkpoint().string(), /*strict=*/false);
}

void TrainingRun::write_summary(std::map<std::string, std::string> fields) const {
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  fields.emplace("epochs", std::to_string(state_.epoch));
  fields.emplace("wall_seconds", fmt::format("{:.1f}", wall));
  fields.emplace("best_validation_metric", fmt::format("{:.4f}", state_.best_metric));
  fields.emplace("best_validation_metric_name", options_.best_metric);
  for (const auto& [key, value] : config_fields()) fields.emplace("config_" + key, value);
  training::write_summary(options_.out / "summary.json", fields);
}

}  // namespace focus::training
