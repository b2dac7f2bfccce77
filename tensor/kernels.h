#pragma once
// Raw kernels: compute on tensors, record nothing for autograd. Each function
// dispatches on the tensor's device and the CPU's instruction set in exactly one place
// (FOCUS_DISPATCH in tensor/dispatch.h, the first line of each kernel in tensor/cpu/*.cpp).
// Users normally call the differentiable versions in autograd/ops.h instead.
//
// The list of kernels is tensor/kernel_functions.h. The CPU kernels are compiled once per
// instruction set (tensor/cpu_info.h), and each build's functions sit in an inline namespace
// named for it: focus::kernels::avx2::add is the AVX2 build of focus::kernels::add. Code
// outside tensor/cpu sees the baseline build's names; its dispatch line forwards each call to
// the build the CPU runs best.
#include <optional>
#include <utility>
#include <vector>

#include "tensor/cpu_variant.h"
#include "tensor/tensor.h"

namespace focus::kernels {

// ---- what some kernels take and return ------------------------------------------------------

/// What layer_norm returns: y, and the per-row mean and rstd its backward needs.
struct LayerNormForward { Tensor output, mean, rstd; };

/// What layer_norm_backward returns: the gradients for x, weight [D] and bias [D] (undefined if not asked for).
struct LayerNormGrads { Tensor input, weight, bias; };

/// Geometry of a 2-D convolution. Padding may differ before (top, left) and after
/// (bottom, right): padding='same' with an even kernel pads one more after, as PyTorch does.
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
};

/// What conv2d_backward returns; gradients not asked for are left undefined.
struct Conv2dGrads {
  Tensor input, weight, bias;
};

/// A pooling window over [N, C, H, W]: kernel, stride and padding, (height, width) each.
struct Pool2dParams {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
};

/// What batch_norm_backward returns: the gradients for x, weight and bias (undefined if not asked for).
struct BatchNormGrads {
  Tensor input, weight, bias;
};

/// One Adam step's hyper-parameters: `step` is t (1 on the first step); decoupled_weight_decay
/// is AdamW's θ ← θ(1 − γλ) instead of Adam's g ← g + λθ.
struct AdamStepOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  int64_t step = 1;
  bool decoupled_weight_decay = false;
};

/// One SGD step's hyper-parameters; first_step makes the momentum buffer start as the gradient.
struct SGDStepOptions {
  double lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false, first_step = false;
};

/// An LSTM layer's buffers over a whole sequence as lstm_layer keeps them (autograd/ops/lstm_layer.cpp),
/// all contiguous, indexed by time t: gates [T, B, 4H], the others [T, B, H], h_n and c_n [B, H].
struct LSTMSequence {
  Tensor gates;       // x_t·W_ihᵀ in; the activated gates σ(i), σ(f), tanh(g), σ(o) out
  Tensor h_prev;      // the h entering the step at time t (the first step's slot holds h0)
  Tensor c_prev;      // the c entering it
  Tensor tanh_c_new;  // tanh of the c it produced
  Tensor output;      // the h it produced (0 for a row whose sequence has ended)
  Tensor h_n, c_n;    // the state after the last step
};

inline namespace FOCUS_CPU_VARIANT {
#include "tensor/kernel_functions.h"
}  // namespace FOCUS_CPU_VARIANT

}  // namespace focus::kernels
