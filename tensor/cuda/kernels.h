#pragma once
// The CUDA versions of the kernels in tensor/kernels.h: the same list (tensor/kernel_functions.h),
// same names and arguments, declared in focus::cuda and defined one .cu file per family under
// tensor/cuda/. Only tensor/dispatch.h calls them: users and autograd call focus::kernels::*, which
// sends GPU tensors here. (reduced_dims_mask is a shape helper with no GPU version: the .cu files
// call kernels::reduced_dims_mask. The CPU-only entries, lstm_sequence_* and softmax_into, are declared
// here too and never defined: no GPU path calls them.)
#include "tensor/kernels.h"

namespace focus::cuda {

using kernels::AdamStepOptions;
using kernels::BatchNormGrads;
using kernels::Conv2dGrads;
using kernels::Conv2dParams;
using kernels::LayerNormForward;
using kernels::LayerNormGrads;
using kernels::LSTMSequence;
using kernels::Pool2dParams;
using kernels::SGDStepOptions;

#include "tensor/kernel_functions.h"

}  // namespace focus::cuda
