#pragma once
// What a Node saved for its backward, with the version each saved tensor had at that moment.
// In-place writes (fill_, zero_, copy_, set, an optimizer step) bump the version of the memory
// they write, shared by every view of it (tensor/storage.h); a backward that would read a
// tensor changed since it was saved computes a wrong gradient without any sign, so the engine
// checks the versions first and throws instead (PyTorch: "one of the variables needed for
// gradient computation has been modified by an inplace operation").
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace focus {

class Node;

class SavedVersions {
 public:
  /// Remembers `saved` (a tensor the node keeps; undefined ones are skipped) and its version now.
  /// `name` labels it in the error ("weight"); a string literal, or null.
  void note(const Tensor& saved, const char* name);
  /// Throws, naming `node`, the saved tensor and both versions, when one was modified in place
  /// since note(). One integer compare per saved tensor.
  void check(const Node& node) const {
    for (size_t i = 0; i < count_; ++i)
      if (entry(i).saved->storage->version() != entry(i).version) throw_modified(node, i);
  }

 private:
  struct Entry {
    std::shared_ptr<TensorImpl> saved;
    uint32_t version = 0;
    const char* name = nullptr;
  };
  const Entry& entry(size_t i) const { return i < inline_.size() ? inline_[i] : more_[i - inline_.size()]; }
  [[noreturn]] void throw_modified(const Node& node, size_t i) const;

  // Most nodes save one to four tensors: kept inside the node, so saving allocates nothing.
  std::array<Entry, 4> inline_;
  std::vector<Entry> more_;  // the fifth and later (an LSTM cell saves seven)
  size_t count_ = 0;
};

}  // namespace focus
