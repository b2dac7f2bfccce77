#pragma once
// Numerical gradient checking, as a product feature: check your own layer in a
// Catch2 test in three lines.
//
//   auto x = randn({4, 3}, kFloat64).requires_grad_();
//   auto result = gradcheck([](auto& in) { return my_op(in[0]); }, {x});
//   REQUIRE(result);   // on failure Catch2 prints the report: per input pass/fail, the
//                      // errors, the worst element and the first failing indices
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
  /// How many failing elements each input's report lists by index (all of them are counted).
  int64_t failures_listed = 5;
};

/// One element of an input's gradient: where it is, and both ways of computing it.
struct GradcheckElement {
  std::vector<int64_t> index;  ///< multi-index into the input
  double analytic = 0;         ///< from backward()
  double numeric = 0;          ///< from central differences
  double abs_error = 0;        ///< |analytic − numeric|
  double tolerance = 0;        ///< atol + rtol · |numeric|
  /// analytic / numeric: 1 when they agree, 1.5 for a backward 50 % too large, −1 for a flipped
  /// sign (NaN when numeric is 0).
  double ratio() const;
};

/// The check of one input or parameter.
struct GradcheckInputReport {
  std::string name;  ///< "input 0", "weight", "fc.bias"
  Shape shape;
  bool passed = true;
  int64_t elements_checked = 0;
  int64_t failures = 0;      ///< elements out of tolerance (NaN counts as out)
  double max_abs_error = 0;  ///< max |analytic − numeric|
  double max_rel_error = 0;  ///< max |analytic − numeric| / |numeric| (∞ where numeric is 0 and analytic not)
  GradcheckElement worst;    ///< the element with the largest |error| / tolerance
  std::vector<GradcheckElement> first_failures;  ///< up to options.failures_listed, in row-major order
};

/// The outcome: one report per input and parameter checked, the tolerances used, and (as
/// flat fields, for one-line use) the worst element of them all.
struct GradcheckResult {
  bool passed = false;
  std::string input_name;         ///< which input the worst element belongs to
  std::vector<int64_t> index;     ///< its multi-index
  double analytic = 0, numeric = 0, abs_error = 0, tolerance = 0;
  int64_t elements_checked = 0;
  std::string report;             ///< to_string(*this): what Catch2 prints on failure

  std::vector<GradcheckInputReport> inputs;  ///< in the order checked: inputs, then parameters
  std::string output_op;                     ///< the node that produced the output, e.g. "MatmulBackward"
  double eps = 0, atol = 0, rtol = 0;        ///< the tolerances used

  explicit operator bool() const { return passed; }
  /// The report of the input or parameter called `name`; throws naming those there are if none is.
  const GradcheckInputReport& input(const std::string& name) const;
};
/// Several lines: a summary with the tolerances, then per input its pass/fail, the largest absolute
/// and relative errors, the worst element (analytic, numeric, their ratio) and the first failing indices.
std::string to_string(const GradcheckResult& result);
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
