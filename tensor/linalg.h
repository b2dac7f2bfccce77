#pragma once
// Linear algebra on small dense matrices, like torch.linalg: what initialisers and
// analyses need (a 12×12 patch covariance, say), not a LAPACK replacement.
#include "tensor/tensor.h"

namespace focus::linalg {

/// The eigen-decomposition of a symmetric matrix A = V·diag(λ)·Vᵀ.
struct EigenDecomposition {
  Tensor eigenvalues;   ///< [n] float64, ascending (torch.linalg.eigh's order)
  Tensor eigenvectors;  ///< [n, n] float64, column j the unit eigenvector of eigenvalues[j]
};

/// torch.linalg.eigh for a real symmetric [n, n] matrix (any float dtype; computed in
/// float64) by cyclic Jacobi rotations: exact to rounding, O(n³) a sweep, for n up to a few
/// hundred. Only the lower triangle is read. Throws for non-square or non-finite input.
EigenDecomposition eigh(const Tensor& symmetric);

}  // namespace focus::linalg
