#include "autograd/saved_versions.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/node.h"

namespace focus {

void SavedVersions::note(const Tensor& saved, const char* name) {
  if (!saved.defined()) return;
  Entry entry{saved.impl_ptr(), saved.version(), name};
  if (count_ < inline_.size())
    inline_[count_] = std::move(entry);
  else
    more_.push_back(std::move(entry));
  ++count_;
}

void SavedVersions::throw_modified(const Node& node, size_t i) const {
  const Entry& modified = entry(i);
  const std::string which = modified.name ? fmt::format("\"{}\"", modified.name) : fmt::format("number {}", i);
  throw std::runtime_error(fmt::format(
      "backward: a tensor saved by {} was modified in place: version {}, expected {} (saved tensor {} of {}, shape "
      "{}, {}). One of the variables needed for gradient computation has been modified by an inplace operation "
      "(fill_, zero_, copy_, set, an optimizer step) after the forward used it; modify a clone() instead, or "
      "modify it after backward()",
      node.name(), modified.saved->storage->version(), modified.version, which, count_,
      shape_str(modified.saved->shape), dtype_name(modified.saved->dtype)));
}

}  // namespace focus
