#include "nn/functional/dropout.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus::nn::functional {

Tensor dropout(const Tensor& input, double p, bool training, Generator* gen) {
  check_defined(input, "dropout");
  if (!(p >= 0.0 && p <= 1.0))  // also rejects NaN
    throw std::invalid_argument(fmt::format("dropout: probability must be in [0, 1], got {}", p));
  if (!training || p == 0.0) return input;
  if (!is_floating(input.dtype()))
    throw std::invalid_argument(
        fmt::format("dropout: expected a float32 or float64 input, got {}", dtype_name(input.dtype())));
  const TensorOptions options = TensorOptions(input.dtype()).with_device(input.device());
  if (p == 1.0) return focus::mul(input, zeros({}, options));  // everything dropped; gradient 0 too

  // keep ~ Bernoulli(1 − p); the mask holds 1/(1 − p) where kept and 0 where dropped, so
  // y = x·mask is one differentiable multiply whose backward is dy·mask: only kept units get gradient.
  Tensor keep = kernels::bernoulli(input.shape(), 1.0 - p, gen ? *gen : default_generator(), input.device());
  Tensor mask = kernels::where(keep, full({}, 1.0 / (1.0 - p), options), zeros({}, options));
  return focus::mul(input, mask);
}

}  // namespace focus::nn::functional
