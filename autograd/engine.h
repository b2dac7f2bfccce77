#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace focus {

/// Reverse-mode sweep from `roots`, seeded with `grad_roots` (ones for scalars when
/// undefined). Visits nodes in topological order with an explicit work list, so
/// a graph of any depth (an LSTM over thousands of steps) cannot overflow the stack.
/// Gradients are added (+=) into the .grad of leaves. Unless `retain_graph`, the
/// graph is released afterwards and a second backward through it throws.
/// A leaf's post-accumulate-grad hooks run as its gradient is added; callbacks
/// queued with autograd::queue_callback run last, before this returns
/// (autograd/hooks.h).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph);

}  // namespace focus
