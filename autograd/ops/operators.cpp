// Operator spellings of the arithmetic ops. A double operand becomes a 0-d
// tensor of the tensor operand's dtype and device, then broadcasts.
#include <cmath>

#include "autograd/ops.h"

namespace focus {

namespace {
Tensor scalar_like(const Tensor& t, double value) {
  DType dtype = t.dtype();
  if (!is_floating(dtype) && value != std::floor(value)) dtype = kFloat32;  // 0.5 with an int tensor
  return scalar_tensor(value, TensorOptions(dtype).with_device(t.device()));
}
}  // namespace

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(b, a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(b, a), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(b, a), b); }

}  // namespace focus
