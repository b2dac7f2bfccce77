#pragma once
// The training-run kit: everything around the step function that every training program
// needs and nobody should write twice — the run folder, resuming, metrics.csv, last and best
// checkpoints, a clean stop on Ctrl-C or SIGTERM, the progress bar, curves.png, summary.json.
//
//   training::TrainingRun run(options, model, optimizer, &scheduler);
//   int status = run.fit(train_loader,
//       [&](Batch& batch) { ...forward, backward, step...; return training::StepReport{batch.size(), {{"loss", l}}}; },
//       [&](int64_t epoch) { return training::Validation{{{"val_loss", evaluate(model, val_loader)}}}; });
//   if (status != 0) return status;     // stopped by a signal: last.safetensors holds the run
//   run.load_best();                    // then test, and run.write_summary({...})
//
// Under `mpirun -np N` (tensor/distributed/dist.h) the same program is one rank of a data-parallel
// job, and the kit knows it: rank 0 alone checks and writes the run folder (metrics.csv,
// checkpoints, curves, summary; every rank waits for its writes and shares its errors), each
// step's metrics are combined over the ranks so the one progress bar shows the whole job, a
// signal on any rank stops every rank after the same step, and a checkpoint records the world
// size and every rank's random generator, so a resume needs the same number of processes.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "optim/optimizer.h"
#include "optim/scheduler.h"
#include "optim/training/checkpoint.h"
#include "optim/training/curves.h"
#include "optim/training/metrics.h"
#include "optim/training/metrics_log.h"
#include "optim/training/progress.h"
#include "optim/training/stop_signal.h"
#include "tensor/distributed/agreement.h"
#include "tensor/generator.h"

namespace focus::training {

/// Whether a larger or a smaller value of the best-checkpoint metric is better.
enum class Better { Higher, Lower };

/// How a training run is kept.
struct RunOptions {
  std::filesystem::path out;  ///< the run folder; empty with `resume`: the checkpoint's folder
  /// Continue a run: a checkpoint file, or a run folder (its last.safetensors). Empty: a fresh run.
  std::filesystem::path resume;
  /// A fresh run into a folder that holds an earlier run deletes that run's files instead of
  /// refusing to start.
  bool overwrite = false;
  int64_t epochs = 1;  ///< in all, counting the epochs a resumed checkpoint has done
  /// The metrics.csv column that picks best.safetensors, and which way is better.
  std::string best_metric = "val_loss";
  Better better = Better::Lower;
  /// What a step's `items` are, for the progress bar's throughput ("img", "tok").
  std::string unit = "it";
  /// A metrics.csv column for the epoch's items per second; empty: none.
  std::string throughput_column;
  /// The panels of curves.png, redrawn after every epoch; empty: no curves.
  std::vector<CurvePanel> curves;
  /// Saved in every checkpoint (model configuration, vocabulary files...), beside what the
  /// checkpoint already had when resuming.
  std::map<std::string, std::string> metadata;
};

/// What one training step reports: how many items it saw (images, target tokens), and its
/// metrics as means over those items, e.g. {"loss", 0.81}, {"acc%", 0.64}. The epoch's value of
/// each is the item-weighted mean; metrics.csv gets it as "train_<name>" (a trailing '%' only
/// asks for display as a percentage: the column holds the fraction). A metric that is NaN or infinite
/// stops the run with an error naming the step and the parameter with the largest (or a non-finite)
/// gradient, before anything is written. On several ranks each
/// reports its own share of the step (the same metric names in the same order on every rank);
/// the kit adds up the items and weights each rank's means by its items.
struct StepReport {
  int64_t items = 1;
  std::vector<std::pair<std::string, double>> metrics;
};

/// What validation after an epoch found: columns for metrics.csv ("val_loss", "val_acc%": the
/// same '%' convention), and text to print under the epoch's line (samples, memory use). On
/// several ranks the metrics should already cover the whole validation set (each rank evaluates
/// its data::evaluation_shard and the sums are all-reduced); rank 0's values are the ones kept.
struct Validation {
  std::vector<std::pair<std::string, double>> metrics;
  std::string report;
};

/// One training run in one folder. The constructor prepares the folder: a fresh run refuses a
/// folder that already holds one (unless `overwrite`); a resumed run restores the checkpoint
/// into the model, optimizer, scheduler and generator, and drops metrics.csv rows past it.
/// Every problem throws before anything is written. On several ranks every rank constructs its
/// TrainingRun (collective); a problem on any rank throws dist::JobError on all of them, and a
/// resume reads the checkpoint on every rank (give each host the run folder, or share it).
class TrainingRun {
 public:
  TrainingRun(RunOptions options, nn::Module& model, optim::Optimizer& optimizer,
              optim::LRScheduler* scheduler = nullptr, Generator* generator = &default_generator());

  /// Trains the remaining epochs: for each, every batch of `loader.epoch(epoch)` goes to
  /// `step(batch) -> StepReport`, then `validate(epoch) -> Validation`; then metrics.csv gets a
  /// row, last.safetensors (and best.safetensors when the metric improved) is saved and
  /// curves.png redrawn. Returns 0, or 128 + the signal's number when Ctrl-C or SIGTERM stopped
  /// it between two steps: then last.safetensors holds the model as it is and the count of
  /// finished epochs, so resuming trains the unfinished epoch again. The loop is written out
  /// here: a program with its own batch loop calls the same four steps.
  template <typename Loader, typename Step, typename Validate>
  int fit(const Loader& loader, Step&& step, Validate&& validate) {
    StopSignal stop;
    for (int64_t epoch = state_.epoch; epoch < options_.epochs; ++epoch) {
      begin_epoch(epoch, loader.num_batches(epoch));
      for (auto& batch : loader.epoch(epoch)) {
        record_step(step(batch));
        if (stop.requested_on_any_rank()) return stop_early(stop);
      }
      end_epoch(validate(epoch));
    }
    return 0;
  }

  /// Starts epoch `epoch` (0-based) of `steps` steps: a fresh progress bar and running means.
  void begin_epoch(int64_t epoch, int64_t steps);
  /// Counts one step (global_step + 1) and updates the bar (collective on several ranks).
  void record_step(const StepReport& report);
  /// Ends the epoch: prints its line, logs, checkpoints, draws. Returns whether it was the best.
  bool end_epoch(const Validation& validation);
  /// Saves last.safetensors after a stop request and says how to resume; returns the exit code.
  int stop_early(const StopSignal& stop);

  /// Loads best.safetensors' weights into the model (nothing when there is none); on several
  /// ranks rank 0 reads the file and sends the weights to the others.
  void load_best();
  /// summary.json in the run folder: `fields`, plus the epochs, the wall time, the world size,
  /// the best validation metric and focus::config_fields() as config_* keys.
  void write_summary(std::map<std::string, std::string> fields) const;

  const std::filesystem::path& folder() const { return options_.out; }
  std::filesystem::path last_checkpoint() const { return options_.out / "last.safetensors"; }
  std::filesystem::path best_checkpoint() const { return options_.out / "best.safetensors"; }
  const TrainingState& state() const { return state_; }
  bool resumed() const { return resumed_; }
  /// metrics.csv as read and written so far. Rank 0 only (the other ranks keep no log).
  const MetricsLog& metrics() const;
  /// Items per second of the last epoch trained (of all ranks together).
  double items_per_second() const { return items_per_second_; }

 private:
  // Saves a checkpoint on rank 0, with every rank's generator state (collective).
  void save(const std::filesystem::path& path);
  // A step reported a NaN or infinite metric: throws, naming the step and the parameter whose gradient
  // is non-finite or largest, before anything is logged or saved.
  [[noreturn]] void stop_on_non_finite(const std::string& metric, double value) const;

  RunOptions options_;
  nn::Module& model_;
  optim::Optimizer& optimizer_;
  optim::LRScheduler* scheduler_;
  Generator* generator_;
  TrainingState state_;
  bool resumed_ = false;
  std::optional<MetricsLog> log_;  // rank 0's
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();

  // The epoch in progress.
  int64_t epoch_ = 0, step_in_epoch_ = 0, epoch_items_ = 0;
  bool in_epoch_ = false;
  std::chrono::steady_clock::time_point epoch_start_;
  std::unique_ptr<ProgressBar> bar_;  // rank 0's
  std::vector<std::pair<std::string, RunningMean>> means_;
  double items_per_second_ = 0;
};

/// The checkpoint a `resume` argument names: the file itself, or FOLDER/last.safetensors.
std::filesystem::path resume_checkpoint_file(const std::filesystem::path& resume);

/// The files a run folder holds, in the order a fresh run writes them.
const std::vector<std::string>& run_files();

}  // namespace focus::training
