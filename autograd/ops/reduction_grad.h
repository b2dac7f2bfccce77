#pragma once
// Shared by the backward passes of the reductions (sum, mean, var, amax,
// logsumexp, max): a reduction's gradient has the output's shape, and every input
// element of a reduced slice needs the gradient of the output it went into.
#include <vector>

#include "tensor/tensor.h"

namespace focus::detail {

/// dy with the reduced dims put back as size 1 (the keepdim shape), as a view.
inline Tensor unsqueeze_reduced(const Tensor& dy, const std::vector<bool>& reduced, bool keepdim) {
  if (keepdim) return dy;
  Tensor out = dy;
  for (size_t d = 0; d < reduced.size(); ++d)  // ascending, so each dim lands at its input position
    if (reduced[d]) out = views::unsqueeze(out, static_cast<int64_t>(d));
  return out;
}

/// dy broadcast over the reduced dims to the input's shape: a stride-0 view, no copy.
inline Tensor expand_reduced(const Tensor& dy, const Shape& input_shape, const std::vector<bool>& reduced,
                             bool keepdim) {
  return views::expand(unsqueeze_reduced(dy, reduced, keepdim), input_shape);
}

/// Number of input elements that went into each output.
inline int64_t reduced_count(const Shape& input_shape, const std::vector<bool>& reduced) {
  int64_t count = 1;
  for (size_t d = 0; d < reduced.size(); ++d)
    if (reduced[d]) count *= input_shape[d];
  return count;
}

}  // namespace focus::detail
