#include "autograd/gradcheck.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "autograd/ops.h"

namespace focus {

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

// |error| / |numeric|, the usual relative error; an exact zero on both sides is no error at all.
double relative_error(const GradcheckElement& element) {
  if (element.numeric != 0) return element.abs_error / std::abs(element.numeric);
  return element.abs_error == 0 ? 0.0 : std::numeric_limits<double>::infinity();
}

// Folds one element into its input's report. "Worst" is the largest error relative to the element's
// own tolerance, so a large but allowed error on a large gradient does not hide a small wrong one.
void note(GradcheckInputReport& input, const GradcheckElement& element, double& worst_ratio,
          const GradcheckOptions& options) {
  ++input.elements_checked;
  const bool bad = !(element.abs_error <= element.tolerance);  // NaN fails too
  const double ratio = std::isnan(element.abs_error) ? INFINITY : element.abs_error / element.tolerance;
  if (ratio > worst_ratio) {
    worst_ratio = ratio;
    input.worst = element;
  }
  // std::max would drop a NaN error on one side; a NaN must show in the maxima.
  if (std::isnan(element.abs_error) || element.abs_error > input.max_abs_error) input.max_abs_error = element.abs_error;
  const double relative = relative_error(element);
  if (std::isnan(relative) || relative > input.max_rel_error) input.max_rel_error = relative;
  if (bad) {
    input.passed = false;
    ++input.failures;
    if (static_cast<int64_t>(input.first_failures.size()) < options.failures_listed)
      input.first_failures.push_back(element);
  }
}

// The flat fields: the verdict, the count and the worst element over all inputs.
void summarize(GradcheckResult& result) {
  result.passed = true;
  double worst_ratio = -1.0;
  for (const GradcheckInputReport& input : result.inputs) {
    result.passed = result.passed && input.passed;
    result.elements_checked += input.elements_checked;
    if (input.elements_checked == 0) continue;
    const GradcheckElement& worst = input.worst;
    const double ratio = std::isnan(worst.abs_error) ? INFINITY : worst.abs_error / worst.tolerance;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      result.input_name = input.name;
      result.index = worst.index;
      result.analytic = worst.analytic, result.numeric = worst.numeric;
      result.abs_error = worst.abs_error, result.tolerance = worst.tolerance;
    }
  }
}

std::string element_str(const GradcheckElement& element) {
  return fmt::format("[{}]: analytic {:.10g}, numeric {:.10g}, analytic/numeric {:.6g}, |error| {:.3g} vs tolerance {:.3g}",
                     fmt::join(element.index, ", "), element.analytic, element.numeric, element.ratio(),
                     element.abs_error, element.tolerance);
}

}  // namespace

double GradcheckElement::ratio() const {
  return numeric != 0 ? analytic / numeric : std::numeric_limits<double>::quiet_NaN();
}

const GradcheckInputReport& GradcheckResult::input(const std::string& name) const {
  std::vector<std::string> names;
  for (const GradcheckInputReport& report : inputs) {
    if (report.name == name) return report;
    names.push_back(report.name);
  }
  throw std::invalid_argument(
      fmt::format("gradcheck result: no input or parameter called \"{}\" (checked: {})", name, fmt::join(names, ", ")));
}

std::string to_string(const GradcheckResult& result) {
  std::string text = fmt::format(
      "gradcheck {} (output from {}, {} elements checked in {} input(s), eps {:g}, atol {:g}, rtol {:g}; an element "
      "passes when |analytic - numeric| <= atol + rtol * |numeric|)",
      result.passed ? "passed" : "FAILED", result.output_op, result.elements_checked, result.inputs.size(), result.eps,
      result.atol, result.rtol);
  if (!result.inputs.empty())
    text += fmt::format("\n  worst of all: {} at index [{}]", result.input_name, fmt::join(result.index, ", "));
  for (const GradcheckInputReport& input : result.inputs) {
    text += fmt::format("\n  {} {}: ", input.name, shape_str(input.shape));
    if (input.passed)
      text += fmt::format("passed, {} elements", input.elements_checked);
    else
      text += fmt::format("FAILED, {} of {} elements out of tolerance", input.failures, input.elements_checked);
    if (input.elements_checked == 0) continue;
    text += fmt::format("; max |error| {:.3g}, max relative error {:.3g}", input.max_abs_error, input.max_rel_error);
    text += "\n    worst " + element_str(input.worst);
    if (!input.first_failures.empty()) {
      text += fmt::format("\n    first {} failing:", input.first_failures.size());
      for (const GradcheckElement& element : input.first_failures)
        text += fmt::format(" [{}] ({:.6g} vs {:.6g})", fmt::join(element.index, ", "), element.analytic, element.numeric);
    }
  }
  return text;
}

std::ostream& operator<<(std::ostream& out, const GradcheckResult& result) { return out << to_string(result); }

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
  result.output_op = output.grad_fn() ? output.grad_fn()->name() : "?";
  result.eps = options.eps, result.atol = options.atol, result.rtol = options.rtol;
  for (const auto& [name, original_leaf] : leaves) {
    Tensor leaf = original_leaf;
    Tensor analytic_grad = leaf.grad();
    GradcheckInputReport& input = result.inputs.emplace_back();
    input.name = name;
    input.shape = leaf.shape();
    double worst_ratio = -1.0;
    for (int64_t flat = 0; flat < leaf.numel(); ++flat) {
      std::vector<int64_t> index = unravel(flat, leaf.shape());
      double original = leaf.at(index);
      leaf.set(index, original + options.eps);
      double plus = project();
      leaf.set(index, original - options.eps);
      double minus = project();
      leaf.set(index, original);
      GradcheckElement element;
      element.numeric = (plus - minus) / (2.0 * options.eps);
      element.analytic = analytic_grad.defined() ? analytic_grad.at(index) : 0.0;
      element.abs_error = std::abs(element.analytic - element.numeric);
      element.tolerance = options.atol + options.rtol * std::abs(element.numeric);
      element.index = std::move(index);
      note(input, element, worst_ratio, options);
    }
    leaf.set_grad({});
  }
  summarize(result);
  result.report = to_string(result);
  return result;
}

}  // namespace focus
