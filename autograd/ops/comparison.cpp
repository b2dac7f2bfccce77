// Elementwise comparisons and logic with broadcasting. They return Bool tensors, which
// carry no gradient (the result is piecewise constant in the inputs), so no
// node is recorded: the result is cut from the graph even when inputs require grad.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

Tensor eq(const Tensor& a, const Tensor& b) { return kernels::eq(a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return kernels::ne(a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return kernels::lt(a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return kernels::le(a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return kernels::gt(a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return kernels::ge(a, b); }
Tensor logical_not(const Tensor& x) { return kernels::logical_not(x); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return kernels::logical_and(a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return kernels::logical_or(a, b); }

}  // namespace focus
