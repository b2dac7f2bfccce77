// argmax: int64 indices of the first maximum along one dim. Indices are not a
// differentiable function of x, so no node is recorded and the result never requires grad.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return kernels::argmax(x, dim, keepdim); }

}  // namespace focus
