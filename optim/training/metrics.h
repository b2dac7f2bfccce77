#pragma once
// Metrics for training loops: running means, accuracy, confusion matrices.
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace focus::training {

/// Mean of values weighted by counts (e.g. batch losses weighted by batch size).
class RunningMean {
 public:
  void add(double value, int64_t count = 1) {
    sum_ += value * static_cast<double>(count);
    count_ += count;
  }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  int64_t count() const { return count_; }
  void reset() { sum_ = 0, count_ = 0; }

 private:
  double sum_ = 0;
  int64_t count_ = 0;
};

/// Number of rows of logits [N, C] whose argmax equals labels [N].
int64_t count_correct(const Tensor& logits, const Tensor& labels);

/// counts[true][predicted] for `classes` classes.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes);
  /// A matrix holding `counts` (int64 [classes, classes], rows the truth: what to_tensor() gives,
  /// or the sum of several ranks' to_tensor()). Negative counts throw.
  explicit ConfusionMatrix(const Tensor& counts);
  /// Adds predictions and labels (int64 [N] each); out-of-range labels throw.
  void add(const Tensor& predicted, const Tensor& labels);
  int64_t classes() const { return classes_; }
  int64_t count(int64_t truth, int64_t predicted) const { return counts_[truth * classes_ + predicted]; }
  int64_t total() const;
  double accuracy() const;
  /// Recall per class: correct / examples of that class.
  std::vector<double> per_class_accuracy() const;
  /// The counts as an int64 tensor [classes, classes].
  Tensor to_tensor() const;

 private:
  int64_t classes_;
  std::vector<int64_t> counts_;
};

}  // namespace focus::training
