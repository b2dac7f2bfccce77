#pragma once
#include "nn/functional/batch_norm.h"
#include "tensor/tensor.h"
#include "nn/functional/layer_norm.h"
