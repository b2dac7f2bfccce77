#pragma once
// The plumbing of autograd/ops/scaled_dot_product_attention.cpp, kept out of that file so that its
// forward and backward read in one piece: the argument checks, the views of one batch entry, and the
// matrix product that serves both one entry (2-D) and a whole batch.
#include "tensor/tensor.h"

namespace focus::detail {

/// Whether scaled_dot_product_attention runs on `device` one batch entry at a time (the CPU) rather
/// than each step over the whole batch (a GPU's way).
bool attention_runs_per_entry(Device device);

/// For tests: while one is alive, the CPU too runs scaled_dot_product_attention's steps over the whole
/// batch, as a GPU does, so that a CPU-only machine checks that strategy's plumbing as well. Not
/// thread-safe; nest freely.
class WholeBatchAttentionOnCpu {
 public:
  WholeBatchAttentionOnCpu();
  ~WholeBatchAttentionOnCpu();
  WholeBatchAttentionOnCpu(const WholeBatchAttentionOnCpu&) = delete;
  WholeBatchAttentionOnCpu& operator=(const WholeBatchAttentionOnCpu&) = delete;
};

/// Checks query [..., L, E], key [..., S, E], value [..., S, Dv], the mask and dropout_p, naming the op
/// and the shapes; returns the broadcast batch shape of the three (their dims before the last two).
Shape check_scaled_dot_product_attention_args(const Tensor& query, const Tensor& key, const Tensor& value,
                                              const Tensor& mask, double dropout_p);

/// [batch..., rows, cols]
Shape with_matrix(Shape batch, int64_t rows, int64_t cols);

/// The 2-D matrix (its last two dims, as they are) of batch entry `entry` (counted row-major over
/// `batch`) of `t`: a view, no copy. t's batch dims are right-aligned with `batch`; dims it lacks or
/// has as 1 were broadcast. Undefined for an undefined `t`.
Tensor entry_matrix(const Tensor& t, const Shape& batch, int64_t entry);

/// alpha · op(a)·op(b), op(x) = x or its last two dims swapped (a view, never a copy), written into
/// `into` when it is defined, else into a new tensor. 2-D operands (one batch entry) are one GEMM that
/// applies alpha and writes in place; batched ones [..., rows, cols] are one batched GEMM with
/// broadcast batch dims, then a scaling pass when alpha ≠ 1.
Tensor matrix_product(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b, double alpha = 1.0,
                      const Tensor& into = Tensor());

/// `value` written into `into` when that is defined (and `into` returned), else `value` itself. Nothing
/// is copied when `value` is `into` already (computed in place).
Tensor write_into(const Tensor& into, const Tensor& value);

}  // namespace focus::detail
