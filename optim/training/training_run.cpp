#include "optim/training/training_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "nn/serialize.h"
#include "optim/training/summary.h"
#include "tensor/config.h"
#include "tensor/distributed/dist.h"

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

// The options with the folder and the checkpoint to resume spelled out (the same on every rank).
RunOptions resolve(RunOptions options) {
  if (options.epochs < 1) throw std::invalid_argument(fmt::format("TrainingRun: epochs must be >= 1, got {}", options.epochs));
  if (!options.resume.empty()) {
    options.resume = resume_checkpoint_file(options.resume);
    if (options.out.empty()) options.out = options.resume.has_parent_path() ? options.resume.parent_path() : ".";
    return options;
  }
  if (options.out.empty()) throw std::invalid_argument("TrainingRun: no run folder (RunOptions::out) given");
  return options;
}

// A fresh run never mixes its metrics and checkpoints into an earlier run's: the folder must not
// hold one, or (overwrite) that run's files go.
void clear_run_folder(const RunOptions& options) {
  if (!options.resume.empty()) return;
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
}

// Checkpoint metadata: the number of ranks that trained it, and rank R's (R >= 1) generator
// state (rank 0's is the checkpoint's own rng_state).
const std::string kWorldSizeKey = "world_size";
std::string rng_state_key(int rank) { return fmt::format("rng_state_rank_{}", rank); }

// A checkpoint's world size: what it says, or 1 for one saved without (a single-process run). The
// text is the file's: parsed whole, and a bad one named with its file (never a bare "stoll").
int64_t checkpoint_world_size(const TrainingState& state, const fs::path& file) {
  auto it = state.metadata.find(kWorldSizeKey);
  if (it == state.metadata.end()) return 1;
  const std::string& text = it->second;
  int64_t count = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc() || end != text.data() + text.size() || count < 1)
    throw std::runtime_error(fmt::format("{}: metadata '{}' is {:?}: expected a process count of 1 or more",
                                         file.string(), kWorldSizeKey, text.substr(0, 200)));
  return count;
}

// The step's report for the whole job: items summed over the ranks, each metric the items-weighted
// mean of the ranks' means. One all-reduce of [items, mean_1 * items, ...].
StepReport combine_over_ranks(const StepReport& report) {
  const int64_t count = static_cast<int64_t>(report.metrics.size());
  Tensor sums = zeros({count + 1}, kFloat64);
  double* values = static_cast<double*>(sums.data_ptr());
  values[0] = static_cast<double>(report.items);
  for (int64_t i = 0; i < count; ++i) values[i + 1] = report.metrics[static_cast<size_t>(i)].second * report.items;
  dist::all_reduce(sums);
  StepReport combined{static_cast<int64_t>(std::llround(values[0])), report.metrics};
  for (int64_t i = 0; i < count; ++i)
    combined.metrics[static_cast<size_t>(i)].second = values[0] > 0 ? values[i + 1] / values[0] : 0;
  return combined;
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
      generator_(generator) {
  dist::on_main_rank([&] {
    clear_run_folder(options_);
    log_.emplace(options_.out / "metrics.csv");
  });
  if (!options_.resume.empty()) {
    // Every rank restores the checkpoint itself (the model, and the optimizer state DDP does not
    // send); a problem on any rank stops all of them.
    dist::on_every_rank([&] {
      state_ = load_checkpoint(options_.resume.string(), model_, optimizer_, scheduler_, generator_);
      const int64_t trained_on = checkpoint_world_size(state_, options_.resume);
      if (trained_on != dist::world_size())
        throw std::runtime_error(fmt::format(
            "--resume {}: the checkpoint was trained by {} process(es) and this job has {}; the data order and "
            "every rank's random state depend on the count, so resume it with {}",
            options_.resume.string(), trained_on, dist::world_size(),
            trained_on == 1 ? "a single process (no mpirun)" : fmt::format("mpirun -np {}", trained_on)));
      if (generator_ && dist::rank() > 0) {
        auto it = state_.metadata.find(rng_state_key(dist::rank()));
        if (it == state_.metadata.end())
          throw std::runtime_error(fmt::format("--resume {}: no random state for rank {}", options_.resume.string(),
                                               dist::rank()));
        generator_->set_state(it->second);
      }
      if (state_.epoch >= options_.epochs)
        throw std::runtime_error(fmt::format(
            "--resume {}: the checkpoint has already trained {} epoch(s); pass --epochs greater than {} to train on",
            options_.resume.string(), state_.epoch, state_.epoch));
    });
    resumed_ = true;
    dist::on_main_rank([&] {
      fmt::print("resumed from {}: {} of {} epochs done, continuing at epoch {}\n", options_.resume.string(),
                 state_.epoch, options_.epochs, state_.epoch + 1);
      // Rows past the checkpoint (a later epoch's, when resuming from best.safetensors or after a
      // stop between logging and saving) belong to a history this run replaces.
      log_->truncate_after(state_.epoch);
    });
  }
  for (const auto& [key, value] : options_.metadata) state_.metadata[key] = value;
  state_.metadata[kWorldSizeKey] = std::to_string(dist::world_size());
  dist::on_main_rank([&] { fs::create_directories(options_.out); });
}

const MetricsLog& TrainingRun::metrics() const {
  if (!log_) throw std::logic_error("TrainingRun::metrics: only rank 0 keeps metrics.csv");
  return *log_;
}

void TrainingRun::begin_epoch(int64_t epoch, int64_t steps) {
  epoch_ = epoch;
  step_in_epoch_ = 0;
  epoch_items_ = 0;
  in_epoch_ = true;
  epoch_start_ = std::chrono::steady_clock::now();
  means_.clear();
  model_.train();
  if (dist::is_main())
    bar_ = std::make_unique<ProgressBar>(steps, fmt::format("epoch {}/{}", epoch + 1, options_.epochs), options_.unit);
}

void TrainingRun::record_step(const StepReport& rank_report) {
  if (!in_epoch_) throw std::logic_error("TrainingRun::record_step: call begin_epoch first");
  const StepReport report = dist::world_size() > 1 ? combine_over_ranks(rank_report) : rank_report;
  for (const auto& [name, value] : report.metrics)
    if (!std::isfinite(value)) stop_on_non_finite(name, value);
  std::vector<std::pair<std::string, double>> shown;
  for (const auto& metric : report.metrics) {
    const std::string& name = metric.first;  // not a structured binding: the lambda captures it
    const double value = metric.second;
    auto it = std::find_if(means_.begin(), means_.end(), [&](const auto& m) { return m.first == name; });
    if (it == means_.end()) it = means_.insert(means_.end(), {name, RunningMean()});
    it->second.add(value, report.items);
    shown.emplace_back(name, it->second.mean());
  }
  ++state_.global_step;
  ++step_in_epoch_;
  epoch_items_ += report.items;
  if (bar_) bar_->update(step_in_epoch_, report.items, shown);
}

void TrainingRun::stop_on_non_finite(const std::string& metric, double value) const {
  // The gradient most likely to blame: a non-finite one first, else the largest by norm.
  std::string culprit = "no parameter has a gradient";
  double worst = -1;
  bool worst_finite = true;
  for (const auto& [name, parameter] : model_.named_parameters()) {
    const Tensor grad = parameter.grad();
    if (!grad.defined()) continue;
    const double norm = std::sqrt(sum(grad.to(kFloat64) * grad.to(kFloat64)).item<double>());
    const bool finite = std::isfinite(norm);
    if ((worst_finite && !finite) || (finite == worst_finite && norm > worst)) {
      worst = norm, worst_finite = finite;
      culprit = fmt::format("the largest gradient is {}'s, norm {}", name, norm);
    }
  }
  const std::string message = fmt::format(
      "training diverged: {} is {} at epoch {}, step {} of the epoch (global step {}); {}. Nothing was saved over "
      "{}; lower the learning rate, or clip gradients, and resume from {}",
      column_name(metric), value, epoch_ + 1, step_in_epoch_ + 1, state_.global_step + 1, culprit,
      best_checkpoint().filename().string(), last_checkpoint().string());
  // Every rank sees the same combined metrics, so every rank stops here with the same message.
  if (dist::world_size() > 1) throw dist::JobError(message, 0);
  throw std::runtime_error(message);
}

bool TrainingRun::end_epoch(const Validation& rank_validation) {
  if (!in_epoch_) throw std::logic_error("TrainingRun::end_epoch: call begin_epoch first");
  in_epoch_ = false;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  items_per_second_ = seconds > 0 ? static_cast<double>(epoch_items_) / seconds : 0;
  const double lr = optimizer_.param_groups().at(0).lr;

  // Rank 0's validation for every rank, so all of them agree on the best epoch.
  Validation validation = rank_validation;
  if (dist::world_size() > 1) {
    Tensor values = zeros({static_cast<int64_t>(validation.metrics.size())}, kFloat64);
    for (size_t i = 0; i < validation.metrics.size(); ++i)
      static_cast<double*>(values.data_ptr())[i] = validation.metrics[i].second;
    dist::broadcast(values);
    for (size_t i = 0; i < validation.metrics.size(); ++i)
      validation.metrics[i].second = static_cast<double*>(values.data_ptr())[i];
  }

  MetricsRow row{{"epoch", static_cast<double>(epoch_ + 1)}};
  std::string train_text, val_text;
  for (const auto& [name, mean] : means_) {
    row.emplace_back("train_" + column_name(name), mean.mean());
    train_text += " " + show(name, mean.mean());
  }
  // "val_loss", "val_acc%", "test_acc%" read as "| val loss 0.81 acc 71.2% | test acc 70.9%".
  std::string group;  // the prefix of the metrics shown so far since the last '|'
  bool first = true;
  for (const auto& [name, value] : validation.metrics) {
    row.emplace_back(column_name(name), value);
    const size_t underscore = name.find('_');
    const std::string prefix = underscore == std::string::npos ? "" : name.substr(0, underscore);
    const bool grouped = prefix == "val" || prefix == "test";
    if (grouped && (first || prefix != group)) val_text += " | " + prefix;
    if (!grouped && (first || !group.empty())) val_text += " |";
    group = grouped ? prefix : "";
    first = false;
    val_text += " " + show(grouped ? name.substr(underscore + 1) : name, value);
  }
  if (!options_.throughput_column.empty()) row.emplace_back(options_.throughput_column, items_per_second_);
  row.emplace_back("lr", lr);
  row.emplace_back("seconds", seconds);

  if (bar_) {
    bar_->finish(fmt::format("epoch {}/{}: train{}{} | lr {:.2e} | {:.0f} s, {:.0f} {}/s", epoch_ + 1,
                             options_.epochs, train_text, val_text, lr, seconds, items_per_second_, options_.unit));
    bar_.reset();
    if (!validation.report.empty())
      fmt::print("{}{}", validation.report, validation.report.back() == '\n' ? "" : "\n");
  }

  auto metric = std::find_if(row.begin(), row.end(), [&](const auto& cell) { return cell.first == options_.best_metric; });
  if (metric == row.end())
    throw std::invalid_argument(fmt::format("TrainingRun: the best-checkpoint metric '{}' is not among this epoch's "
                                            "metrics", options_.best_metric));
  const double value = metric->second;
  const bool best = state_.epoch == 0 ||
                    (options_.better == Better::Higher ? value > state_.best_metric : value < state_.best_metric);
  dist::on_main_rank([&] { log_->append(row); });
  state_.epoch = epoch_ + 1;
  if (best) state_.best_metric = value;
  save(last_checkpoint());
  if (best) {
    save(best_checkpoint());
    if (dist::is_main())
      fmt::print("  new best {}: {:.4g} (saved {})\n", options_.best_metric, value,
                 best_checkpoint().filename().string());
  }
  dist::on_main_rank([&] { save_curves(*log_, options_.curves, options_.out / "curves.png"); });
  return best;
}

int TrainingRun::stop_early(const StopSignal& stop) {
  if (bar_) bar_->finish();
  bar_.reset();
  in_epoch_ = false;
  save(last_checkpoint());
  if (dist::is_main())
    fmt::print("stopped by {}: saved {} (epoch {} incomplete; --resume {} trains it again)\n", stop.signal_name(),
               last_checkpoint().string(), epoch_ + 1, options_.out.string());
  return stop.exit_code();
}

void TrainingRun::save(const fs::path& path) {
  // Every rank's generator goes into the checkpoint (each drew its own dropout masks), so a
  // resume continues each rank's random stream where it stopped.
  if (generator_ && dist::world_size() > 1)
    for (int rank = 1; rank < dist::world_size(); ++rank) {
      const std::string state = dist::broadcast(dist::rank() == rank ? generator_->state() : std::string(), rank);
      if (dist::is_main()) state_.metadata[rng_state_key(rank)] = state;
    }
  dist::on_main_rank(
      [&] { save_checkpoint(path.string(), model_, optimizer_, scheduler_, generator_, state_); });
}

void TrainingRun::load_best() {
  bool found = false;
  dist::on_main_rank([&] {
    found = fs::exists(best_checkpoint());
    if (found) load_model_weights(best_checkpoint().string(), model_);
  });
  if (dist::world_size() == 1) return;
  // Only rank 0 needs the file: the weights travel (the other hosts may not share its disk).
  found = dist::all_reduce(static_cast<int64_t>(found), dist::ReduceOp::Max) != 0;
  if (!found) return;
  NoGradGuard no_grad;
  for (auto& [name, tensor] : model_.state_dict()) dist::broadcast(tensor);
}

void TrainingRun::write_summary(std::map<std::string, std::string> fields) const {
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  fields.emplace("epochs", std::to_string(state_.epoch));
  fields.emplace("wall_seconds", fmt::format("{:.1f}", wall));
  fields.emplace("world_size", std::to_string(dist::world_size()));
  fields.emplace("best_validation_metric", fmt::format("{:.4f}", state_.best_metric));
  fields.emplace("best_validation_metric_name", options_.best_metric);
  for (const auto& [key, value] : config_fields()) fields.emplace("config_" + key, value);
  dist::on_main_rank([&] { training::write_summary(options_.out / "summary.json", fields); });
}

}  // namespace focus::training
