#pragma once
// Numerical gradient checking, as a product feature: check your own layer in a
// Catch2 test in three lines.
//
//   auto x = randn({4, 3}, kFloat64).requires_grad_();
//   auto result = gradcheck([](auto& in) { return my_op(in[0]); }, {x});
//   REQUIRE(result);   // on failure Catch2 prints result.report
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace focus {

/// Tolerances: an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
/// The defaults are PyTorch's (eps 1e-6, atol 1e-5, rtol 1e-3); central differences
/// in float64 are accurate to about eps² · |f'''|, far below them for smooth ops.
struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  /// Names for the inputs in reports ("weight", "x", ...); defaults to "input 0", ...
  std::vector<std::string> input_names;
  /// Seed of the random projection of the output (see gradcheck()).
  uint64_t seed = 1234;
};

/// The outcome, with the worst element found (relative to its tolerance).
struct GradcheckResult {
  bool passed = false;
  std::string input_name;         ///< which input the worst element belongs to
  std::vector<int64_t> index;     ///< its multi-index
  double analytic = 0, numeric = 0, abs_error = 0, tolerance = 0;
  int64_t elements_checked = 0;
  std::string report;             ///< one readable paragraph; printed by Catch2 on failure

  explicit operator bool() const { return passed; }
};
std::ostream& operator<<(std::ostream& out, const GradcheckResult& result);

/// Checks backward() of `fn` against central differences, for every element of
/// every input that requires grad (inputs must be float64). The output y is
/// reduced to a scalar as sum(y * R) with a fixed random R, so all of dy's
/// directions are exercised at the cost of one backward. Inputs may be views
/// (transposed, sliced): they are perturbed element by element in place.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

/// The general form: `fn` reads the given leaves itself (e.g. a layer's own
/// parameters). Each leaf must be a float64 leaf that requires grad; its .grad is
/// cleared before and after the check. Names label the report ("fc.weight").
GradcheckResult gradcheck_leaves(const std::function<Tensor()>& fn,
                                 const std::vector<std::pair<std::string, Tensor>>& leaves,
                                 const GradcheckOptions& options = {});

}  // namespace focus
