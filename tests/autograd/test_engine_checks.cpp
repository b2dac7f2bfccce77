// The engine checks what each backward returns (count, shape, dtype) and blames the node that
// produced a wrong gradient, not the node that receives it.
#include <catch2/catch.hpp>

#include "focus.h"

using namespace focus;

namespace {

// A test op with two inputs whose backward returns whatever the test asks for: y = a + b, elementwise.
class ScriptedBackward : public Node {
 public:
  explicit ScriptedBackward(std::function<std::vector<Tensor>(const Tensor&)> gradients)
      : gradients_(std::move(gradients)) {}
  std::string name() const override { return "ScriptedBackward"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return gradients_(grad_outputs[0]);
  }

 private:
  std::function<std::vector<Tensor>(const Tensor&)> gradients_;
};

Tensor scripted_add(const Tensor& a, const Tensor& b, std::function<std::vector<Tensor>(const Tensor&)> gradients) {
  Tensor y = kernels::add(a, b);
  if (any_requires_grad({a, b})) connect(std::make_shared<ScriptedBackward>(std::move(gradients)), {a, b}, {y});
  return y;
}

}  // namespace

TEST_CASE("a backward that returns the right gradients passes the engine's checks", "[autograd][engine]") {
  Tensor a = ones({2, 3}, kFloat64).requires_grad_();
  Tensor b = ones({2, 3}, kFloat64).requires_grad_();
  sum(scripted_add(a, b, [](const Tensor& dy) { return std::vector<Tensor>{dy, dy}; })).backward();
  REQUIRE(a.grad().shape() == Shape{2, 3});
  REQUIRE(b.grad().shape() == Shape{2, 3});
}

TEST_CASE("the engine names a backward that returns too few or too many gradients", "[autograd][engine]") {
  Tensor a = ones({2, 3}, kFloat64).requires_grad_();
  Tensor b = ones({2, 3}, kFloat64).requires_grad_();
  Tensor too_few = sum(scripted_add(a, b, [](const Tensor& dy) { return std::vector<Tensor>{dy}; }));
  REQUIRE_THROWS_WITH(too_few.backward(),
                      "function ScriptedBackward returned an incorrect number of gradients (expected 2, got 1)");
  Tensor too_many = sum(scripted_add(a, b, [](const Tensor& dy) { return std::vector<Tensor>{dy, dy, dy}; }));
  REQUIRE_THROWS_WITH(too_many.backward(),
                      "function ScriptedBackward returned an incorrect number of gradients (expected 2, got 3)");
  // An undefined gradient is allowed: it means "none for this input".
  sum(scripted_add(a, b, [](const Tensor& dy) { return std::vector<Tensor>{dy, Tensor()}; })).backward();
  REQUIRE(a.grad().defined());
  REQUIRE_FALSE(b.grad().defined());
}

TEST_CASE("a gradient of the wrong shape is blamed on the node that produced it", "[autograd][engine]") {
  Tensor a = ones({2, 3}, kFloat64).requires_grad_();
  Tensor b = ones({3}, kFloat64).requires_grad_();  // broadcast in forward: its gradient must be summed back
  Tensor y = sum(scripted_add(a, b, [](const Tensor& dy) { return std::vector<Tensor>{dy, dy}; }));
  REQUIRE_THROWS_WITH(y.backward(),
                      Catch::Contains("function ScriptedBackward returned an invalid gradient for input 1") &&
                          Catch::Contains("shape [2, 3]") && Catch::Contains("that input has shape [3]") &&
                          Catch::Contains("AccumulateGrad"));
  REQUIRE_FALSE(b.grad().defined());

  // The receiving node may be another op, not only a leaf.
  Tensor c = ones({2, 3}, kFloat64).requires_grad_();
  Tensor through_exp = sum(scripted_add(exp(c), b, [](const Tensor& dy) {
    return std::vector<Tensor>{sum(dy, {0}), kernels::sum_to(dy, {3})};
  }));
  REQUIRE_THROWS_WITH(through_exp.backward(), Catch::Contains("returned an invalid gradient for input 0") &&
                                                  Catch::Contains("shape [3], but that input has shape [2, 3]") &&
                                                  Catch::Contains("it goes to ExpBackward"));
}

TEST_CASE("an integer gradient is an error, a float of another precision is converted", "[autograd][engine]") {
  Tensor a = ones({2}, kFloat64).requires_grad_();
  Tensor b = ones({2}, kFloat64).requires_grad_();
  Tensor integer = sum(scripted_add(a, b, [](const Tensor& dy) {
    return std::vector<Tensor>{dy, kernels::contiguous_copy(dy, kInt64)};
  }));
  REQUIRE_THROWS_WITH(integer.backward(), Catch::Contains("ScriptedBackward returned an invalid gradient for input 1") &&
                                              Catch::Contains("dtype int64"));

  sum(scripted_add(a, b, [](const Tensor& dy) {
    return std::vector<Tensor>{dy, kernels::contiguous_copy(dy, kFloat32)};
  })).backward();
  REQUIRE(b.grad().dtype() == kFloat64);
  REQUIRE(b.grad().to_vector<double>() == std::vector<double>{1, 1});
}
