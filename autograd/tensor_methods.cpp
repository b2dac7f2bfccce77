// Tensor's autograd accessors and its differentiable methods. They live here,
// not in tensor/, because tensor/ knows nothing of gradients: the methods are
// thin forwards to the free functions of autograd/ops.h.
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/engine.h"
#include "autograd/hooks.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

bool Tensor::requires_grad() const { return impl().requires_grad; }

Tensor& Tensor::requires_grad_(bool enabled) {
  if (!is_leaf())
    throw std::invalid_argument(
        "requires_grad_: only leaf tensors can change requires_grad; use detach() to make a new leaf");
  if (enabled && !is_floating(dtype()))
    throw std::invalid_argument(fmt::format("requires_grad_: only floating tensors can require grad, got {}",
                                            dtype_name(dtype())));
  impl().requires_grad = enabled;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined() && grad.shape() != shape())
    throw std::invalid_argument(fmt::format("set_grad: gradient of shape {} for a tensor of shape {}",
                                            shape_str(grad.shape()), shape_str(shape())));
  impl().grad = grad.defined() ? grad.impl_ptr() : nullptr;
}

std::shared_ptr<Node> Tensor::grad_fn() const { return impl().grad_fn; }
std::string Tensor::grad_fn_name() const { return impl().grad_fn ? impl().grad_fn->name() : std::string(); }
bool Tensor::is_leaf() const { return impl().grad_fn == nullptr; }

void Tensor::retain_grad() {
  if (is_leaf()) return;  // leaves keep their gradient anyway
  impl().retains_grad = true;
  impl().grad_fn->retain_output(impl().output_nr, impl_ptr());
}

HookHandle Tensor::register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook) const {
  return focus::register_post_accumulate_grad_hook(*this, std::move(hook));
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  run_backward({*this}, {gradient}, retain_graph);
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = shape();
  impl->strides = strides();
  impl->offset = offset();
  impl->dtype = dtype();
  return Tensor(impl);
}

Tensor Tensor::reshape(const Shape& s) const { return focus::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return focus::view(*this, s); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return focus::permute(*this, dims); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return focus::transpose(*this, d0, d1); }
Tensor Tensor::t() const {
  if (dim() != 2)
    throw std::invalid_argument(fmt::format("t(): expected a 2-D tensor, got shape {}", shape_str(shape())));
  return focus::transpose(*this, 0, 1);
}
Tensor Tensor::unsqueeze(int64_t d) const { return focus::unsqueeze(*this, d); }
Tensor Tensor::squeeze(int64_t d) const { return focus::squeeze(*this, d); }
Tensor Tensor::squeeze() const {
  Shape s;
  for (int64_t n : shape())
    if (n != 1) s.push_back(n);
  return focus::reshape(*this, s);
}
Tensor Tensor::expand(const Shape& s) const { return focus::expand(*this, s); }
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const { return focus::narrow(*this, d, start, length); }
Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  return focus::slice(*this, d, start, end, step);
}
Tensor Tensor::select(int64_t d, int64_t index) const { return focus::select(*this, d, index); }
Tensor Tensor::flatten(int64_t start, int64_t end) const { return focus::flatten(*this, start, end); }
Tensor Tensor::contiguous() const { return focus::contiguous(*this); }
Tensor Tensor::clone() const { return focus::clone(*this); }
Tensor Tensor::to(DType d) const { return focus::to_dtype(*this, d); }
Tensor Tensor::to(Device d, bool non_blocking) const { return focus::to_device(*this, d, non_blocking); }

Tensor Tensor::pin_memory() const {
  if (!device().is_cpu())
    throw std::invalid_argument("pin_memory: only CPU tensors can be pinned, this one is on " + device().str());
  if (is_pinned()) return *this;
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel() * element_size(dtype()), kCPU, /*pinned=*/true);
  impl->shape = shape();
  impl->strides = contiguous_strides(shape());
  impl->dtype = dtype();
  Tensor out(impl);
  kernels::copy(out, *this);
  return out;
}

Tensor Tensor::sum() const { return focus::sum(*this); }
Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return focus::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return focus::mean(*this); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const {
  return focus::mean(*this, dims, keepdim);
}
Tensor Tensor::matmul(const Tensor& other) const { return focus::matmul(*this, other); }
Tensor Tensor::exp() const { return focus::exp(*this); }
Tensor Tensor::log() const { return focus::log(*this); }
Tensor Tensor::pow(double e) const { return focus::pow(*this, e); }
Tensor Tensor::sqrt() const { return focus::sqrt(*this); }
Tensor Tensor::abs() const { return focus::abs(*this); }
Tensor Tensor::relu() const { return focus::relu(*this); }
Tensor Tensor::tanh() const { return focus::tanh(*this); }
Tensor Tensor::sigmoid() const { return focus::sigmoid(*this); }
Tensor Tensor::softmax(int64_t d) const { return focus::softmax(*this, d); }
Tensor Tensor::log_softmax(int64_t d) const { return focus::log_softmax(*this, d); }
Tensor Tensor::argmax(int64_t d, bool keepdim) const { return focus::argmax(*this, d, keepdim); }

}  // namespace focus
