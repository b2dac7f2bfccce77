// gradcheck's report: per input pass/fail, the largest absolute and relative errors, the worst
// element with analytic, numeric and their ratio, the failing indices, and the tolerances.
#include <catch2/catch.hpp>

#include <sstream>

#include "focus.h"

using namespace focus;

namespace {

// forward: y = x ⊙ w; a backward that gets dw right and dx wrong in one element only:
// dx = dy ⊙ w, but element `wrong_element` (flat) of dx is doubled.
class OneWrongElementBackward : public Node {
 public:
  OneWrongElementBackward(Tensor x, Tensor w, int64_t wrong_element)
      : x_(std::move(x)), w_(std::move(w)), wrong_element_(wrong_element) {}
  std::string name() const override { return "OneWrongElementBackward"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor dx = kernels::contiguous_copy(kernels::mul(dy, w_));
    dx.data<double>()[wrong_element_] *= 2.0;
    return {dx, kernels::mul(dy, x_)};
  }

 private:
  Tensor x_, w_;
  int64_t wrong_element_;
};

Tensor one_wrong_element(const Tensor& x, const Tensor& w, int64_t wrong_element) {
  Tensor y = kernels::mul(x, w);
  if (any_requires_grad({x, w}))
    connect(std::make_shared<OneWrongElementBackward>(x.detach(), w.detach(), wrong_element), {x, w}, {y});
  return y;
}

// forward: y = x²; backward claims dx = dy ⊙ 3x everywhere.
class WrongEverywhereBackward : public Node {
 public:
  explicit WrongEverywhereBackward(Tensor x) : x_(std::move(x)) {}
  std::string name() const override { return "WrongEverywhereBackward"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::mul(grad_outputs[0], kernels::affine(x_, 3.0, 0.0))};
  }

 private:
  Tensor x_;
};

Tensor wrong_everywhere(const Tensor& x) {
  Tensor y = kernels::mul(x, x);
  if (any_requires_grad({x})) connect(std::make_shared<WrongEverywhereBackward>(x.detach()), {x}, {y});
  return y;
}

Tensor positive_leaf(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return uniform(shape, 0.5, 1.5, kFloat64, &gen).requires_grad_();
}

}  // namespace

TEST_CASE("gradcheck reports each input: the failing one with its worst element, the passing one too",
          "[autograd][gradcheck]") {
  Tensor x = positive_leaf({2, 3}, 1);
  Tensor w = positive_leaf({2, 3}, 2);
  GradcheckOptions options;
  options.input_names = {"x", "w"};
  GradcheckResult result = gradcheck(
      [](const std::vector<Tensor>& in) { return one_wrong_element(in[0], in[1], /*wrong_element=*/4); }, {x, w},
      options);
  REQUIRE_FALSE(result);
  REQUIRE(result.output_op == "OneWrongElementBackward");
  REQUIRE(result.eps == 1e-6);
  REQUIRE(result.atol == 1e-5);
  REQUIRE(result.rtol == 1e-3);
  REQUIRE(result.inputs.size() == 2);
  REQUIRE(result.elements_checked == 12);

  const GradcheckInputReport& dx = result.input("x");
  REQUIRE(dx.shape == Shape{2, 3});
  REQUIRE_FALSE(dx.passed);
  REQUIRE(dx.elements_checked == 6);
  REQUIRE(dx.failures == 1);
  REQUIRE(dx.worst.index == std::vector<int64_t>{1, 1});  // flat element 4 of [2, 3]
  REQUIRE(dx.worst.ratio() == Approx(2.0).epsilon(1e-6));
  REQUIRE(dx.worst.abs_error == Approx(std::abs(dx.worst.numeric)).epsilon(1e-6));
  REQUIRE(dx.max_abs_error == dx.worst.abs_error);
  REQUIRE(dx.max_rel_error == Approx(1.0).epsilon(1e-6));
  REQUIRE(dx.first_failures.size() == 1);
  REQUIRE(dx.first_failures[0].index == std::vector<int64_t>{1, 1});

  const GradcheckInputReport& dw = result.input("w");
  REQUIRE(dw.passed);
  REQUIRE(dw.failures == 0);
  REQUIRE(dw.first_failures.empty());
  REQUIRE(dw.max_abs_error < 1e-7);
  REQUIRE(dw.worst.ratio() == Approx(1.0).epsilon(1e-6));

  // The flat fields point at the worst element of all inputs.
  REQUIRE(result.input_name == "x");
  REQUIRE(result.index == std::vector<int64_t>{1, 1});
  REQUIRE_THROWS_WITH(result.input("bias"), Catch::Contains("no input or parameter called \"bias\"") &&
                                                Catch::Contains("checked: x, w"));
}

TEST_CASE("the gradcheck report lists only the first failures, but counts them all", "[autograd][gradcheck]") {
  Tensor x = positive_leaf({4, 5}, 3);
  GradcheckOptions options;
  options.failures_listed = 3;
  GradcheckResult result = gradcheck([](const std::vector<Tensor>& in) { return wrong_everywhere(in[0]); }, {x}, options);
  REQUIRE_FALSE(result);
  const GradcheckInputReport& input = result.input("input 0");
  REQUIRE(input.failures == 20);
  REQUIRE(input.first_failures.size() == 3);
  REQUIRE(input.first_failures[0].index == std::vector<int64_t>{0, 0});
  REQUIRE(input.first_failures[2].index == std::vector<int64_t>{0, 2});
  for (const GradcheckElement& element : input.first_failures) REQUIRE(element.ratio() == Approx(1.5).epsilon(1e-6));
  REQUIRE(input.max_rel_error == Approx(0.5).epsilon(1e-6));
}

TEST_CASE("the gradcheck report reads as text: Catch2 prints it on failure", "[autograd][gradcheck]") {
  Tensor x = positive_leaf({2, 3}, 1);
  Tensor w = positive_leaf({2, 3}, 2);
  GradcheckOptions options;
  options.input_names = {"x", "w"};
  GradcheckResult result = gradcheck(
      [](const std::vector<Tensor>& in) { return one_wrong_element(in[0], in[1], 4); }, {x, w}, options);
  const std::string text = to_string(result);
  REQUIRE(text == result.report);
  std::ostringstream streamed;
  streamed << result;
  REQUIRE(streamed.str() == text);
  CAPTURE(text);
  REQUIRE(text.rfind("gradcheck FAILED (output from OneWrongElementBackward, 12 elements checked in 2 input(s), "
                     "eps 1e-06, atol 1e-05, rtol 0.001",
                     0) == 0);
  REQUIRE(text.find("x [2, 3]: FAILED, 1 of 6 elements out of tolerance; max |error|") != std::string::npos);
  REQUIRE(text.find("worst [1, 1]: analytic") != std::string::npos);
  REQUIRE(text.find("analytic/numeric 2") != std::string::npos);
  REQUIRE(text.find("first 1 failing: [1, 1]") != std::string::npos);
  REQUIRE(text.find("w [2, 3]: passed, 6 elements") != std::string::npos);
  // Catch2 finds operator<< and prints the report when a REQUIRE on the result fails.
  REQUIRE(Catch::StringMaker<GradcheckResult>::convert(result) == text);
}

TEST_CASE("a passing gradcheck reports every input as passed", "[autograd][gradcheck]") {
  Tensor a = positive_leaf({3, 4}, 5);
  Tensor b = positive_leaf({4, 2}, 6);
  GradcheckResult result = gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {a, b});
  REQUIRE(result);
  REQUIRE(result.output_op == "MatmulBackward");
  for (const GradcheckInputReport& input : result.inputs) {
    REQUIRE(input.passed);
    REQUIRE(input.max_rel_error < 1e-6);
  }
  REQUIRE(to_string(result).rfind("gradcheck passed", 0) == 0);
}
