#pragma once
// squareplus(x) = (x + √(x² + b)) / 2 (Barron, 2021): a smooth ReLU made of a square root instead of
// exponentials. A new op with its own backward, outside focus's tree.
#include <focus.h>

namespace my {

/// (x + √(x² + b)) / 2, elementwise; b > 0 sets how round the corner at 0 is (b = 4 by default).
focus::Tensor squareplus(const focus::Tensor& x, double b = 4.0);

}  // namespace my
