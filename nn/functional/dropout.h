#pragma once
// Dropout, stateless (focus::nn::functional).
#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace focus::nn::functional {

/// Inverted dropout: while `training`, each element is zeroed with probability p and
/// the survivors are scaled by 1/(1 − p), so the expected value is unchanged and
/// evaluation needs no rescaling. Not training, or p = 0: the input itself. p = 1:
/// zeros. The mask comes from `gen` (the default generator when null).
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true, Generator* gen = nullptr);

}  // namespace focus::nn::functional
