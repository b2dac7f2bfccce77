#include "datasets/transfer.h"

namespace focus::data {

Tensor transfer(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return t;
  if (t.device().is_cpu() && device.is_cuda()) return t.pin_memory().to(device, /*non_blocking=*/true);
  return t.to(device);
}

}  // namespace focus::data
