#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <utility>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/sampler.h"

namespace focus::data {

/// The examples of `dataset` at the given indices, renumbered 0 .. n-1
/// (e.g. a validation split). Shares the underlying dataset.
template <typename Example>
class Subset : public Dataset<Example> {
 public:
  Subset(std::shared_ptr<const Dataset<Example>> dataset, std::vector<int64_t> indices)
      : dataset_(std::move(dataset)), indices_(std::move(indices)) {
    if (!dataset_) throw std::invalid_argument("Subset: the dataset is null");
    const int64_t size = dataset_->size();
    for (size_t i = 0; i < indices_.size(); ++i)
      if (indices_[i] < 0 || indices_[i] >= size)
        throw std::out_of_range(
            fmt::format("Subset: index {} (position {}) is outside a dataset of size {}", indices_[i], i, size));
  }

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }

  Example get(int64_t index) const override {
    if (index < 0 || index >= size())
      throw std::out_of_range(fmt::format("Subset: index {} is out of range for size {}", index, size()));
    return dataset_->get(indices_[static_cast<size_t>(index)]);
  }

  /// Positions in the underlying dataset, in subset order.
  const std::vector<int64_t>& indices() const { return indices_; }
  const std::shared_ptr<const Dataset<Example>>& dataset() const { return dataset_; }

 private:
  std::shared_ptr<const Dataset<Example>> dataset_;
  std::vector<int64_t> indices_;
};

/// Splits `dataset` into disjoint random subsets of the given sizes, which must
/// add up to dataset->size(). The split depends only on `seed`:
/// `auto parts = random_split(train, {45000, 5000}, 42);` gives train and validation.
/// Accepts any shared_ptr to a dataset (CIFAR10, Dataset<E>, another Subset).
template <typename D, typename Example = typename D::ExampleType>
std::vector<std::shared_ptr<Subset<Example>>> random_split(const std::shared_ptr<D>& dataset,
                                                           const std::vector<int64_t>& lengths, uint64_t seed) {
  if (!dataset) throw std::invalid_argument("random_split: the dataset is null");
  int64_t total = 0;
  for (int64_t length : lengths) {
    if (length < 0) throw std::invalid_argument(fmt::format("random_split: negative length {}", length));
    total += length;
  }
  if (total != dataset->size())
    throw std::invalid_argument(fmt::format("random_split: lengths [{}] add up to {}, but the dataset has {} examples",
                                            fmt::join(lengths, ", "), total, dataset->size()));
  // A stream of its own, so the split does not follow the loader's shuffle when both use one seed.
  std::vector<int64_t> order = epoch_permutation(total, derive_seed(seed, SeedStream::Split, 0), 0);
  std::shared_ptr<const Dataset<Example>> base = dataset;
  std::vector<std::shared_ptr<Subset<Example>>> parts;
  auto start = order.begin();
  for (int64_t length : lengths) {
    parts.push_back(std::make_shared<Subset<Example>>(base, std::vector<int64_t>(start, start + length)));
    start += length;
  }
  return parts;
}

}  // namespace focus::data
