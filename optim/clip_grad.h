#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace focus::optim {

/// Scales all gradients together so their combined `norm_type`-norm is at most
/// `max_norm`; returns the norm before clipping (torch.nn.utils.clip_grad_norm_).
/// A non-finite norm (a NaN or inf gradient) is never applied silently: with
/// `error_if_nonfinite` it throws, naming the first parameter at fault; without,
/// the gradients are left unchanged and the non-finite norm is returned so the
/// caller can skip the step.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = true);

/// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace focus::optim
