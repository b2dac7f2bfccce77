#pragma once
#include <cstdint>

namespace focus::data {

/// A random-access collection of examples: the one interface every data source
/// implements (CIFAR-10, image folders, sentence pairs, synthetic tasks).
///
/// `get` is const and is called from the DataLoader's worker thread while the
/// training loop runs on the main thread, so it must not mutate shared state
/// without locking. Examples are returned by value: a loader collates them into
/// a batch and then drops them.
template <typename Example>
class Dataset {
 public:
  using ExampleType = Example;

  virtual ~Dataset() = default;

  /// Number of examples; valid indices are 0 .. size() - 1.
  virtual int64_t size() const = 0;

  /// The example at `index`. Implementations throw std::out_of_range naming
  /// the index and the size when `index` is outside [0, size()).
  virtual Example get(int64_t index) const = 0;
};

}  // namespace focus::data
