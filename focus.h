#pragma once
// The one header users include: tensors, autograd, and (as they land) nn,
// optim and datasets.
#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/grad_mode.h"
#include "autograd/graphviz.h"
#include "autograd/ops.h"
#include "tensor/cuda/backend.h"
#include "tensor/kernels.h"
#include "tensor/parallel.h"
#include "tensor/print.h"
#include "tensor/tensor.h"
