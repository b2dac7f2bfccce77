#pragma once
#include "tensor/tensor.h"

namespace focus::data {

/// `t` on `device`, the way a data loader moves a batch: to a GPU through pinned host
/// memory with the copy queued asynchronously (it runs in order with the GPU's other
/// work, so the batch is ready before any kernel that reads it); otherwise a plain copy.
Tensor transfer(const Tensor& t, Device device);

}  // namespace focus::data
