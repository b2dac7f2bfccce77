#include "optim/training/metrics.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <stdexcept>

#include "autograd/ops.h"

namespace focus::training {

int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  if (logits.dim() != 2 || labels.dim() != 1 || logits.size(0) != labels.size(0))
    throw std::invalid_argument(fmt::format("count_correct: logits {} and labels {} do not match (want [N, C] and [N])",
                                            shape_str(logits.shape()), shape_str(labels.shape())));
  NoGradGuard no_grad;
  return sum(eq(argmax(logits.detach(), 1), labels)).item<int64_t>();
}

ConfusionMatrix::ConfusionMatrix(int64_t classes) : classes_(classes), counts_(classes * classes, 0) {}

ConfusionMatrix::ConfusionMatrix(const Tensor& counts) : classes_(counts.dim() == 2 ? counts.size(0) : 0) {
  if (counts.dim() != 2 || counts.size(0) != counts.size(1) || counts.dtype() != kInt64)
    throw std::invalid_argument(fmt::format("ConfusionMatrix: counts must be a square int64 matrix, got {} {}",
                                            dtype_name(counts.dtype()), shape_str(counts.shape())));
  counts_ = counts.to_vector<int64_t>();
  for (int64_t c : counts_)
    if (c < 0) throw std::invalid_argument(fmt::format("ConfusionMatrix: negative count {}", c));
}

void ConfusionMatrix::add(const Tensor& predicted, const Tensor& labels) {
  std::vector<int64_t> p = predicted.to_vector<int64_t>(), t = labels.to_vector<int64_t>();
  if (p.size() != t.size())
    throw std::invalid_argument(fmt::format("ConfusionMatrix::add: {} predictions for {} labels", p.size(), t.size()));
  for (size_t i = 0; i < p.size(); ++i) {
    if (t[i] < 0 || t[i] >= classes_ || p[i] < 0 || p[i] >= classes_)
      throw std::out_of_range(fmt::format("ConfusionMatrix::add: class {} / {} outside 0..{}", t[i], p[i], classes_ - 1));
    ++counts_[t[i] * classes_ + p[i]];
  }
}

int64_t ConfusionMatrix::total() const {
  int64_t n = 0;
  for (int64_t c : counts_) n += c;
  return n;
}

double ConfusionMatrix::accuracy() const {
  int64_t correct = 0;
  for (int64_t k = 0; k < classes_; ++k) correct += count(k, k);
  int64_t n = total();
  return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
}

std::vector<double> ConfusionMatrix::per_class_accuracy() const {
  std::vector<double> out(classes_, 0.0);
  for (int64_t k = 0; k < classes_; ++k) {
    int64_t row = 0;
    for (int64_t j = 0; j < classes_; ++j) row += count(k, j);
    out[k] = row ? static_cast<double>(count(k, k)) / static_cast<double>(row) : 0.0;
  }
  return out;
}

Tensor ConfusionMatrix::to_tensor() const { return from_vector(counts_, {classes_, classes_}); }

}  // namespace focus::training
