#pragma once
#include <fmt/format.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/sampler.h"
#include "tensor/device.h"
#include "tensor/generator.h"

namespace focus::data {

/// How a DataLoader cuts a dataset into batches.
struct DataLoaderOptions {
  int64_t batch_size = 1;
  /// Visit the examples in a new random order each epoch (seeded by seed and epoch).
  bool shuffle = false;
  /// Seeds the shuffle and the per-example transforms.
  uint64_t seed = 0;
  /// Drop the last batch when it is smaller than batch_size.
  bool drop_last = false;
  /// Build the next batches on one background thread while the caller trains
  /// on the current one. Results are identical with prefetch on or off.
  bool prefetch = true;
  /// Where batches arrive. For a GPU, the worker copies each batch into pinned
  /// memory and queues its transfer (`to_device(Batch&&, Device)`, found by
  /// argument-dependent lookup: ImageBatch and SequenceBatch have one), so the
  /// copy overlaps the collate of the next batch instead of stalling the step.
  Device device = kCPU;
};

/// Turns a dataset into batches, epoch after epoch:
///
///     DataLoader<ImageExample, ImageBatch> loader(train, {.batch_size = 128, .shuffle = true},
///                                                 collate_images);
///     for (int64_t e = 0; e < epochs; ++e)
///       for (ImageBatch& batch : loader.epoch(e)) train_step(batch);
///
/// Every example appears exactly once per epoch (unless drop_last drops the
/// tail). The order of an epoch depends only on (seed, epoch), and the optional
/// per-example transform gets a generator derived from (seed, epoch, index), so
/// a run is reproducible whatever the threading. With `prefetch`, one worker
/// thread fetches, transforms and collates up to two batches ahead; an exception
/// there is re-thrown by the loop on the caller's thread, and leaving the loop
/// early (break, exception) stops and joins the worker.
///
/// The dataset's `get`, the transform and the collate function run on the
/// worker thread (one call at a time per epoch being iterated).
template <typename Example, typename Batch>
class DataLoader {
 public:
  /// Builds one batch from its examples (in sampler order).
  using Collate = std::function<Batch(std::vector<Example>&&)>;
  /// Changes one example, e.g. random crops; draw randomness only from the generator.
  using ExampleTransform = std::function<Example(Example&&, Generator&)>;
  /// The same, told where the example is drawn (seed, epoch, index), for augmentations planned
  /// across epochs such as alternating flips.
  using PositionedTransform = std::function<Example(Example&&, Generator&, const ExamplePosition&)>;

 private:
  struct Config;
  class Pass;

 public:
  /// Input iterator over the batches of one epoch. Copies share one pass.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;

    /// The end iterator.
    Iterator() = default;
    explicit Iterator(std::shared_ptr<Pass> pass) : pass_(std::move(pass)) { advance(); }

    Batch& operator*() const { return pass_->current(); }
    Batch* operator->() const { return &pass_->current(); }
    Iterator& operator++() {
      advance();
      return *this;
    }
    /// Only end compares equal to end: an iterator becomes end after the last batch.
    bool operator==(const Iterator& other) const { return pass_ == other.pass_; }

   private:
    void advance() {
      // Dropping the pass at the end joins its (finished) worker right away.
      if (!pass_->next()) pass_.reset();
    }
    std::shared_ptr<Pass> pass_;
  };

  /// The batches of one epoch, for range-for.
  class EpochRange {
   public:
    EpochRange(std::shared_ptr<const Config> config, int64_t epoch) : config_(std::move(config)), epoch_(epoch) {}
    /// Starts the pass (and its worker thread).
    Iterator begin() const { return Iterator(std::make_shared<Pass>(config_, epoch_)); }
    Iterator end() const { return Iterator(); }

   private:
    std::shared_ptr<const Config> config_;
    int64_t epoch_;
  };

  /// Batches of `options.batch_size` consecutive (or, with shuffle, permuted) indices.
  DataLoader(std::shared_ptr<const Dataset<Example>> dataset, DataLoaderOptions options, Collate collate)
      : config_(make_config(std::move(dataset), options, std::move(collate), nullptr)) {
    count_batches(0, options.batch_size, options.drop_last);  // validates batch_size
  }

  /// Batches chosen by `sampler(epoch)` (e.g. length buckets). Of `options`,
  /// only `seed` (for transforms) and `prefetch` are used.
  DataLoader(std::shared_ptr<const Dataset<Example>> dataset, BatchSampler sampler, Collate collate,
             DataLoaderOptions options = {})
      : config_(make_config(std::move(dataset), options, std::move(collate), std::move(sampler))) {
    if (!config_->sampler) throw std::invalid_argument("DataLoader: the batch sampler is empty");
  }

  /// Applies `transform` to each example before collating (on the worker).
  void set_transform(ExampleTransform transform) {
    if (!transform) return set_transform(PositionedTransform());
    set_transform(PositionedTransform([transform = std::move(transform)](Example&& example, Generator& gen,
                                                                         const ExamplePosition&) {
      return transform(std::move(example), gen);
    }));
  }
  /// The same for a transform that also takes the example's position.
  void set_transform(PositionedTransform transform) {
    auto config = std::make_shared<Config>(*config_);
    config->transform = std::move(transform);
    config_ = std::move(config);  // passes already running keep the old configuration
  }

  /// The batches of epoch `epoch`, independent of the internal epoch counter.
  EpochRange epoch(int64_t epoch) const { return EpochRange(config_, epoch); }

  /// Iterates the next epoch of the internal counter (0, 1, 2, ...), which
  /// advances once per begin(): `for (auto& batch : loader)` once per epoch.
  Iterator begin() { return Iterator(std::make_shared<Pass>(config_, next_epoch_++)); }
  Iterator end() const { return Iterator(); }

  /// The epoch the next begin() will run; set it to resume a run.
  int64_t next_epoch() const { return next_epoch_; }
  void set_next_epoch(int64_t epoch) { next_epoch_ = epoch; }

  /// Batches in the next epoch of the internal counter.
  int64_t num_batches() const { return num_batches(next_epoch_); }
  /// Batches in epoch `epoch` (a custom sampler may vary it per epoch).
  int64_t num_batches(int64_t epoch) const { return static_cast<int64_t>(batch_indices(epoch).size()); }

  /// The dataset indices of every batch of `epoch`, in order.
  std::vector<std::vector<int64_t>> batch_indices(int64_t epoch) const { return config_->plan(epoch); }

  const DataLoaderOptions& options() const { return config_->options; }
  const std::shared_ptr<const Dataset<Example>>& dataset() const { return config_->dataset; }

 private:
  // Everything a pass needs, immutable once built, so a pass can outlive
  // changes to (or the destruction of) the loader that started it.
  struct Config {
    std::shared_ptr<const Dataset<Example>> dataset;
    DataLoaderOptions options;
    Collate collate;
    BatchSampler sampler;  // empty: built-in sampler from options
    PositionedTransform transform;

    std::vector<std::vector<int64_t>> plan(int64_t epoch) const {
      if (sampler) return sampler(epoch);
      const int64_t n = dataset->size();
      std::vector<int64_t> order;
      if (options.shuffle) {
        order = epoch_permutation(n, options.seed, epoch);
      } else {
        order.resize(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) order[i] = i;
      }
      return chunk_batches(order, options.batch_size, options.drop_last);
    }
  };

  static std::shared_ptr<const Config> make_config(std::shared_ptr<const Dataset<Example>> dataset,
                                                   DataLoaderOptions options, Collate collate,
                                                   BatchSampler sampler) {
    if (!dataset) throw std::invalid_argument("DataLoader: the dataset is null");
    if (!collate) throw std::invalid_argument("DataLoader: the collate function is empty");
    auto config = std::make_shared<Config>();
    config->dataset = std::move(dataset);
    config->options = options;
    config->collate = std::move(collate);
    config->sampler = std::move(sampler);
    return config;
  }

  // One iteration over one epoch: the batch plan, the batch handed out last,
  // and (with prefetch) the worker thread and its bounded queue.
  class Pass {
   public:
    Pass(std::shared_ptr<const Config> config, int64_t epoch)
        : config_(std::move(config)), epoch_(epoch), plan_(config_->plan(epoch)) {
      // Started last, once every member the worker reads exists.
      if (config_->options.prefetch && !plan_.empty()) worker_ = std::thread([this] { produce(); });
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

    ~Pass() {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
      }
      changed_.notify_all();
      if (worker_.joinable()) worker_.join();
    }

    Batch& current() { return *current_; }

    // Makes the next batch current; false after the last one. Re-throws what
    // the worker threw, after the batches it finished before failing.
    bool next() {
      current_.reset();  // free the batch the caller is done with before waiting
      if (taken_ == plan_.size()) return false;
      if (!worker_.joinable()) {
        current_.emplace(build(taken_++));
        return true;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return !ready_.empty() || error_; });
      if (ready_.empty()) {
        taken_ = plan_.size();  // the worker has stopped: nothing more will come
        std::rethrow_exception(error_);
      }
      current_.emplace(std::move(ready_.front()));
      ready_.pop_front();
      ++taken_;
      lock.unlock();
      changed_.notify_all();  // a slot is free
      return true;
    }

   private:
    // Two batches ahead: enough to hide a collate behind a training step
    // without holding many batches in memory.
    static constexpr size_t kQueueDepth = 2;

    void produce() {
      for (size_t k = 0; k < plan_.size(); ++k) {
        {
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [&] { return stopping_ || ready_.size() < kQueueDepth; });
          if (stopping_) return;
        }
        try {
          Batch batch = build(k);
          std::lock_guard<std::mutex> lock(mutex_);
          ready_.push_back(std::move(batch));
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          error_ = std::current_exception();
          changed_.notify_all();
          return;
        }
        changed_.notify_all();
      }
    }

    Batch build(size_t k) const {
      const std::vector<int64_t>& indices = plan_[k];
      const Dataset<Example>& dataset = *config_->dataset;
      const int64_t size = dataset.size();
      std::vector<Example> examples;
      examples.reserve(indices.size());
      for (int64_t index : indices) {
        if (index < 0 || index >= size)
          throw std::out_of_range(fmt::format("DataLoader: batch {} of epoch {} asks for index {} of a dataset of size {}",
                                              k, epoch_, index, size));
        Example example = dataset.get(index);
        if (config_->transform) {
          Generator gen = example_generator(config_->options.seed, epoch_, index);
          example = config_->transform(std::move(example), gen, ExamplePosition{config_->options.seed, epoch_, index});
        }
        examples.push_back(std::move(example));
      }
      Batch batch = config_->collate(std::move(examples));
      if (config_->options.device.is_cpu()) return batch;
      if constexpr (requires(Batch&& b, Device d) { to_device(std::move(b), d); }) {
        return to_device(std::move(batch), config_->options.device);
      } else {
        throw std::invalid_argument(fmt::format(
            "DataLoader: options.device is {}, but this batch type has no to_device(Batch&&, Device) to move it there",
            config_->options.device.str()));
      }
    }

    const std::shared_ptr<const Config> config_;
    const int64_t epoch_;
    const std::vector<std::vector<int64_t>> plan_;
    size_t taken_ = 0;  // consumer side only
    std::optional<Batch> current_;

    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Batch> ready_;
    std::exception_ptr error_;
    bool stopping_ = false;
    std::thread worker_;
  };

  std::shared_ptr<const Config> config_;
  int64_t next_epoch_ = 0;
};

}  // namespace focus::data
