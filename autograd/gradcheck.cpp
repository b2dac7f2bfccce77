#include "autograd/gradcheck.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"

namespace focus {

std::ostream& operator<<(std::ostream& out, const GradcheckResult& result) { return out << result.report; }

namespace {

// Multi-index of the flat (row-major) position `flat` in `shape`.
std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

std::string input_name(const GradcheckOptions& options, size_t i) {
  return i < options.input_names.size() ? options.input_names[i] : fmt::format("input {}", i);
}

}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  // Fresh leaves that view the caller's data, so the caller's .grad stays untouched.
  std::vector<Tensor> leaves;
  std::vector<std::pair<std::string, Tensor>> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    if (in.defined() && in.requires_grad()) {
      Tensor leaf = in.detach();
      if (leaf.dtype() == kFloat64) leaf.requires_grad_(true);
      leaves.push_back(leaf);
      checked.emplace_back(input_name(options, i), leaf);
    } else {
      leaves.push_back(in);
    }
  }
  return gradcheck_leaves([&] { return fn(leaves); }, checked, options);
}

GradcheckResult gradcheck_leaves(const std::function<Tensor()>& fn,
                                 const std::vector<std::pair<std::string, Tensor>>& leaves,
                                 const GradcheckOptions& options) {
  for (const auto& [name, leaf] : leaves) {
    if (leaf.dtype() != kFloat64)
      throw std::invalid_argument(fmt::format(
          "gradcheck: {} is {}; gradcheck needs float64 inputs (use .to(kFloat64))", name, dtype_name(leaf.dtype())));
    if (!leaf.is_leaf() || !leaf.requires_grad())
      throw std::invalid_argument(fmt::format("gradcheck: {} must be a leaf tensor that requires grad", name));
  }
  for (const auto& [_, leaf] : leaves) Tensor(leaf).set_grad({});

  Tensor output = fn();
  if (!output.requires_grad())
    throw std::invalid_argument("gradcheck: the function's output does not depend on any input that requires grad");
  Generator gen(options.seed);
  Tensor projection = randn(output.shape(), TensorOptions(output.dtype()), &gen);
  Tensor loss = sum(mul(output, projection));
  loss.backward();

  auto project = [&] {
    NoGradGuard no_grad;
    return sum(mul(fn(), projection)).item<double>();
  };

  GradcheckResult result;
  result.passed = true;
  double worst_ratio = -1.0;
  for (const auto& [name, original_leaf] : leaves) {
    Tensor leaf = original_leaf;
    Tensor analytic_grad = leaf.grad();
    for (int64_t flat = 0; flat < leaf.numel(); ++flat) {
      std::vector<int64_t> index = unravel(flat, leaf.shape());
      double original = leaf.at(index);
      leaf.set(index, original + options.eps);
      double plus = project();
      leaf.set(index, original - options.eps);
      double minus = project();
      leaf.set(index, original);
      double numeric = (plus - minus) / (2.0 * options.eps);
      double analytic = analytic_grad.defined() ? analytic_grad.at(index) : 0.0;
      double error = std::abs(analytic - numeric);
      double tolerance = options.atol + options.rtol * std::abs(numeric);
      ++result.elements_checked;
      double ratio = std::isnan(error) ? INFINITY : error / tolerance;
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        result.input_name = name;
        result.index = index;
        result.analytic = analytic;
        result.numeric = numeric;
        result.abs_error = error;
        result.tolerance = tolerance;
      }
      if (!(error <= tolerance)) result.passed = false;  // NaN fails too
    }
    leaf.set_grad({});
  }
  std::string op = output.grad_fn() ? output.grad_fn()->name() : "?";
  result.report = fmt::format(
      "gradcheck {} (output from {}, {} elements checked, eps {:g}, atol {:g}, rtol {:g}); worst: {} at index "
      "[{}]: analytic {:.10g}, numeric {:.10g}, |error| {:.3g} vs tolerance {:.3g}",
      result.passed ? "passed" : "FAILED", op, result.elements_checked, options.eps, options.atol, options.rtol,
      result.input_name, fmt::join(result.index, ", "), result.analytic, result.numeric, result.abs_error,
      result.tolerance);
  return result;
}

}  // namespace focus
