// Moving a tensor between the CPU and a GPU. Differentiable, like PyTorch's .to(device):
// a loss computed on the GPU from a CPU tensor sends its gradient back to the CPU.
#include "autograd/ops.h"
#include "tensor/cuda/backend.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class ToDeviceBackward : public Node {
 public:
  explicit ToDeviceBackward(Device input_device) : input_device_(input_device) {}
  std::string name() const override { return "ToDeviceBackward"; }
  // forward: y = x copied to another device; so dx = dy copied back   (x.shape).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {to_device(grad_outputs[0], input_device_)};
  }

 private:
  Device input_device_;
};
}  // namespace

Tensor to_device(const Tensor& x, Device device, bool non_blocking) {
  check_defined(x, "to");
  if (x.device() == device) return x;  // no copy when nothing changes
  // Pinned host memory on its way to a GPU stays pinned only when asked for (pin_memory()).
  Tensor y = empty(x.shape(), TensorOptions(x.dtype()).with_device(device));
  Tensor source = x.is_contiguous() ? x : kernels::contiguous_copy(x);
  kernels::copy(y, source);
  // A copy from pinned memory is only queued (tensor/cuda/backend.cu); a blocking to() waits for
  // it, as in PyTorch, since the caller may write into x as soon as this returns.
  if (!non_blocking && source.is_pinned() && device.is_cuda()) {
    cuda::DeviceGuard guard(device.index);
    cuda::synchronize();
  }
  if (any_requires_grad({x})) connect(std::make_shared<ToDeviceBackward>(x.device()), {x}, {y});
  return y;
}

}  // namespace focus
