// The backward engine: accumulation, graph release, no_grad, deep graphs, DOT dump, gradcheck reports.
#include <catch2/catch.hpp>

#include "focus.h"

using namespace focus;

TEST_CASE("backward computes gradients of a small expression", "[autograd]") {
  // y = sum(a * b + a)  =>  dy/da = b + 1, dy/db = a
  Tensor a = tensor({1, 2, 3}, {}, kFloat64).requires_grad_();
  Tensor b = tensor({4, 5, 6}, {}, kFloat64).requires_grad_();
  Tensor y = sum(a * b + a);
  REQUIRE(y.item<double>() == 1 * 4 + 2 * 5 + 3 * 6 + 6);
  y.backward();
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{5, 6, 7});
  REQUIRE(b.grad().to_vector<double>() == std::vector<double>{1, 2, 3});
  REQUIRE(a.is_leaf());
  REQUIRE_FALSE(y.is_leaf());
  REQUIRE(y.grad_fn()->name() == "SumBackward");
}

TEST_CASE("gradients accumulate across backward calls until zeroed", "[autograd]") {
  Tensor w = tensor({2.0}, {}, kFloat64).requires_grad_();
  for (int i = 0; i < 3; ++i) sum(w * w).backward();  // d(w²)/dw = 2w = 4, three times
  REQUIRE(w.grad().item<double>() == 12.0);
  w.grad().zero_();
  sum(w * 3.0).backward();
  REQUIRE(w.grad().item<double>() == 3.0);
}

TEST_CASE("a tensor used twice receives the sum of both gradients", "[autograd]") {
  Tensor x = tensor({3.0}, {}, kFloat64).requires_grad_();
  Tensor y = x * x * x;  // dy/dx = 3x² = 27
  y.backward(ones({1}, kFloat64));
  REQUIRE(x.grad().item<double>() == Approx(27.0));
}

// A leaf's first gradient becomes its .grad without a copy when nothing else holds that tensor
// (autograd/node.cpp, AccumulateGrad), and is copied whenever something else could see it or change it.
TEST_CASE("a leaf's .grad is its gradient itself only when nothing else holds it", "[autograd]") {
  SECTION("a gradient only the engine held is kept as it is, and is the leaf's alone") {
    Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
    sum(x * x).backward();  // mul's backward makes a fresh dx
    REQUIRE(x.grad().to_vector<double>() == std::vector<double>{2, 4});
    sum(x * x).backward();  // accumulates into it
    REQUIRE(x.grad().to_vector<double>() == std::vector<double>{4, 8});
  }
  SECTION("the caller's gradient for a leaf root is copied: changing it later leaves .grad alone") {
    Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
    Tensor g = tensor({5.0, 6.0}, {}, kFloat64);
    x.backward(g);
    g.fill_(0.0);
    REQUIRE(x.grad().to_vector<double>() == std::vector<double>{5, 6});
    REQUIRE(x.grad().data_ptr() != g.data_ptr());
  }
  SECTION("one gradient handed to two leaves (add's backward): each gets storage of its own") {
    Tensor a = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
    Tensor b = tensor({3.0, 4.0}, {}, kFloat64).requires_grad_();
    (a + b).backward(tensor({1.0, 1.0}, {}, kFloat64));
    REQUIRE(a.grad().data_ptr() != b.grad().data_ptr());
    a.grad().fill_(7.0);
    REQUIRE(b.grad().to_vector<double>() == std::vector<double>{1, 1});
  }
  SECTION("a gradient that is a view of a larger tensor is copied, not kept") {
    Tensor a = tensor({1.0, 2.0, 3.0, 4.0}, {}, kFloat64).requires_grad_();
    Tensor parts = a.reshape({2, 2});
    sum(select(parts, 0, 1)).backward();  // select's backward scatters into a full-size zero tensor
    REQUIRE(a.grad().to_vector<double>() == std::vector<double>{0, 0, 1, 1});
    REQUIRE(a.grad().is_contiguous());
  }
}

TEST_CASE("the graph is freed after backward unless retain_graph", "[autograd]") {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  REQUIRE(x.grad().at({0}) == Approx(2 * std::exp(1.0)));
  REQUIRE_THROWS_WITH(y.backward(), Catch::Contains("already freed") && Catch::Contains("retain_graph"));
  // The released root no longer holds the graph behind it.
  REQUIRE(y.grad_fn()->next_edges().empty());
}

TEST_CASE("no_grad records nothing, detach cuts the graph", "[autograd]") {
  Tensor x = ones({2}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = x * 2.0;
    REQUIRE_FALSE(y.requires_grad());
    REQUIRE(y.grad_fn() == nullptr);
  }
  REQUIRE(GradMode::is_enabled());
  Tensor d = (x * 2.0).detach();
  REQUIRE_FALSE(d.requires_grad());
  Tensor z = x * 2.0;
  REQUIRE(z.requires_grad());
  REQUIRE_THROWS_WITH(sum(d).backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("backward needs a gradient for non-scalar outputs", "[autograd]") {
  Tensor x = ones({2, 2}).requires_grad_();
  Tensor y = x * 3.0;
  REQUIRE_THROWS_WITH(y.backward(), Catch::Contains("scalar") && Catch::Contains("[2, 2]"));
  REQUIRE_THROWS_WITH(y.backward(ones({3})), Catch::Contains("[3]") && Catch::Contains("[2, 2]"));
  y.backward(full({2, 2}, 2.0));
  REQUIRE(x.grad().at({1, 1}) == 6.0);
}

TEST_CASE("retain_grad keeps the gradient of an intermediate tensor", "[autograd]") {
  Tensor x = tensor({1, 2}, {}, kFloat64).requires_grad_();
  Tensor h = x * 3.0;
  h.retain_grad();
  sum(h * h).backward();  // dL/dh = 2h
  REQUIRE(h.grad().to_vector<double>() == std::vector<double>{6, 12});
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{18, 36});
}

TEST_CASE("a chain of 10,000 ops backprops without recursion", "[autograd]") {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = y * 1.0001;
  sum(y).backward();
  REQUIRE(x.grad().item<double>() == Approx(std::pow(1.0001, 10000)).epsilon(1e-9));
}

TEST_CASE("inputs that need no gradient are skipped", "[autograd]") {
  Tensor a = ones({3}).requires_grad_();
  Tensor b = ones({3});  // constant
  sum(a * b).backward();
  REQUIRE(a.grad().defined());
  REQUIRE_FALSE(b.grad().defined());
  REQUIRE(a.grad_fn() == nullptr);
}

TEST_CASE("broadcast gradients are summed back to the input shape", "[autograd]") {
  Tensor bias = tensor({1, 2, 3}, {}, kFloat64).requires_grad_();
  Tensor x = ones({4, 3}, kFloat64);
  sum(x + bias).backward();
  REQUIRE(bias.grad().shape() == Shape{3});
  REQUIRE(bias.grad().to_vector<double>() == std::vector<double>{4, 4, 4});
}

TEST_CASE("to_dot draws ops, shapes and leaves", "[autograd]") {
  Tensor w = ones({3, 2}).requires_grad_();
  Tensor x = ones({4, 3});
  Tensor loss = sum(relu(matmul(x, w)));
  std::string dot = to_dot(loss);
  REQUIRE(dot.rfind("digraph", 0) == 0);
  REQUIRE(dot.find("MatmulBackward") != std::string::npos);
  REQUIRE(dot.find("ReluBackward") != std::string::npos);
  REQUIRE(dot.find("leaf [3, 2]") != std::string::npos);
  REQUIRE(dot.find("[4, 2]") != std::string::npos);
}

namespace {
// A deliberately wrong op: forward y = x², backward claims 3x. gradcheck must catch it.
class WrongSquareBackward : public Node {
 public:
  explicit WrongSquareBackward(const Tensor& x) : x_(save(x, "x")) {}
  std::string name() const override { return "WrongSquareBackward"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::mul(grad_outputs[0], kernels::mul(x_, scalar_tensor(3.0, kFloat64)))};
  }

 private:
  Tensor x_;
};

Tensor wrong_square(const Tensor& x) {
  Tensor y = kernels::mul(x, x);
  if (any_requires_grad({x})) connect(std::make_shared<WrongSquareBackward>(x), {x}, {y});
  return y;
}
}  // namespace

TEST_CASE("gradcheck passes correct ops and pinpoints wrong ones", "[autograd][gradcheck]") {
  Generator gen(3);
  Tensor x = randn({3, 4}, kFloat64, &gen).requires_grad_();
  Tensor y = randn({4}, kFloat64, &gen).requires_grad_();
  GradcheckResult good = gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[1] + in[0]; }, {x, y});
  REQUIRE(good);
  REQUIRE(good.elements_checked == 16);
  REQUIRE_FALSE(x.grad().defined());  // the caller's tensors are left untouched

  GradcheckOptions options;
  options.input_names = {"x"};
  GradcheckResult bad = gradcheck([](const std::vector<Tensor>& in) { return wrong_square(in[0]); }, {x}, options);
  REQUIRE_FALSE(bad);
  REQUIRE(bad.input_name == "x");
  REQUIRE(bad.report.find("FAILED") != std::string::npos);
  REQUIRE(bad.report.find("WrongSquareBackward") != std::string::npos);
  // analytic is 3x·r, numeric 2x·r: they differ by half the numeric value.
  REQUIRE(bad.analytic == Approx(1.5 * bad.numeric).epsilon(1e-6));

  Tensor f = randn({2}).requires_grad_();
  REQUIRE_THROWS_WITH(gradcheck([](const std::vector<Tensor>& in) { return in[0] * 2.0; }, {f}),
                      Catch::Contains("float64"));
}
