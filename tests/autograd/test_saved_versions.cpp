// Version counters: in-place writes (fill_, zero_, copy_, set, optimizer steps) bump a version shared
// by every view of the memory; a backward that needs a saved tensor modified since throws, naming
// the op and the tensor, instead of computing a wrong gradient.
#include <catch2/catch.hpp>

#include "focus.h"
#include "optim/sgd.h"

using namespace focus;

namespace {
Tensor random64(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen);
}
}  // namespace

TEST_CASE("in-place writes bump a version that views share and copies do not", "[autograd][version]") {
  Tensor x = random64({3, 4}, 1);
  REQUIRE(x.version() == 0);
  Tensor row = x.select(0, 1), transposed = x.t(), detached = x.detach(), copy = x.clone();
  x.fill_(1.0);
  REQUIRE(x.version() == 1);
  row.zero_();  // a write through a view counts for the whole storage
  REQUIRE(x.version() == 2);
  transposed.copy_(random64({4, 3}, 2));
  detached.set({0, 0}, 5.0);
  REQUIRE(x.version() == 4);
  REQUIRE(row.version() == 4);
  REQUIRE(detached.version() == 4);
  REQUIRE(copy.version() == 0);
  // Ops writing their own fresh outputs do not count.
  REQUIRE((x * 2.0).version() == 0);
  REQUIRE(matmul(x, transposed).version() == 0);
}

TEST_CASE("backward refuses a saved input that was modified in place", "[autograd][version]") {
  Tensor a = random64({2, 3}, 3);
  Tensor w = random64({3, 4}, 4).requires_grad_();
  Tensor loss = sum(matmul(a, w));  // dw = aᵀ·dy needs a
  a.fill_(0.0);
  REQUIRE_THROWS_WITH(loss.backward(),
                      Catch::Contains("a tensor saved by MatmulBackward was modified in place: version 1, expected 0") &&
                          Catch::Contains("\"a\"") && Catch::Contains("shape [2, 3]") &&
                          Catch::Contains("needed for gradient computation has been modified by an inplace operation"));
  REQUIRE_FALSE(w.grad().defined());
}

TEST_CASE("backward refuses a saved output that was modified in place", "[autograd][version]") {
  Tensor x = random64({5}, 5).requires_grad_();
  Tensor y = exp(x);  // dx = dy·y needs the output
  Tensor loss = sum(y * 2.0);
  y.set({2}, 0.0);
  REQUIRE_THROWS_WITH(loss.backward(), Catch::Contains("a tensor saved by ExpBackward was modified in place: "
                                                       "version 1, expected 0") &&
                                           Catch::Contains("\"y\""));

  Tensor s = sigmoid(x);
  Tensor t = tanh(s);
  s.copy_(s);  // even writing the same values counts: versions track writes, not values
  REQUIRE_THROWS_WITH(sum(t).backward(), Catch::Contains("SigmoidBackward") && Catch::Contains("version 1, expected 0"));
}

TEST_CASE("a write through any view of a saved tensor's memory is caught", "[autograd][version]") {
  Tensor base = random64({4, 3}, 6);
  Tensor w = random64({3, 2}, 7).requires_grad_();
  Tensor top = base.narrow(0, 0, 2);      // the op saves this view
  Tensor loss = sum(matmul(top, w));
  base.select(0, 3).fill_(1.0);           // another part of the same memory
  REQUIRE_THROWS_WITH(loss.backward(), Catch::Contains("MatmulBackward was modified in place: version 1, expected 0"));

  // The other way round: the op saved the whole tensor, a view of it is written.
  Tensor x = random64({2, 2}, 8).requires_grad_();
  Tensor y = sin(x);
  Tensor grads_need_x = sum(y);
  x.detach().t().set({0, 1}, 0.5);
  REQUIRE_THROWS_WITH(grads_need_x.backward(), Catch::Contains("SinBackward") && Catch::Contains("\"x\""));
}

TEST_CASE("writes before the op, after backward, to a clone, or to an unsaved tensor are fine", "[autograd][version]") {
  Tensor a = random64({2, 3}, 9);
  a.fill_(0.5);  // before the op: its version (1) is what the op saves
  Tensor w = random64({3, 4}, 10).requires_grad_();
  Tensor loss = sum(matmul(a, w));
  loss.backward();
  a.fill_(2.0);  // after backward
  REQUIRE(w.grad().at({0, 0}) == Approx(1.0));

  Tensor b = random64({2, 3}, 11);
  Tensor b_used = b.clone();
  Tensor loss2 = sum(matmul(b_used, w));
  b.fill_(0.0);  // only the original changes
  loss2.backward();

  // add saves nothing: its inputs may change before backward.
  Tensor c = random64({3}, 12);
  Tensor x = random64({3}, 13).requires_grad_();
  Tensor loss3 = sum(add(x, c));
  c.fill_(7.0);
  x.set_grad({});
  loss3.backward();
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{1, 1, 1});
}

TEST_CASE("an optimizer step between forward and backward is caught", "[autograd][version]") {
  Tensor w = random64({3, 2}, 14).requires_grad_();
  Tensor x = random64({4, 3}, 15).requires_grad_();
  optim::SGD sgd({{{w}}}, optim::SGDOptions{0.1});
  sum(matmul(x, w)).backward();
  Tensor loss = sum(matmul(x, w));  // dx = dy·wᵀ needs w
  sgd.step();                       // writes w in place
  REQUIRE(w.version() == 1);
  REQUIRE_THROWS_WITH(loss.backward(), Catch::Contains("MatmulBackward was modified in place: version 1, expected 0") &&
                                           Catch::Contains("\"b\""));
}

TEST_CASE("the check holds for a second backward through a retained graph", "[autograd][version]") {
  Tensor x = random64({3}, 16).requires_grad_();
  Tensor y = x * x;
  Tensor loss = sum(y);
  loss.backward({}, /*retain_graph=*/true);
  x.detach().fill_(1.0);
  REQUIRE_THROWS_WITH(loss.backward(), Catch::Contains("MulBackward was modified in place"));
}

TEST_CASE("a node that saves more than a handful of tensors checks them all", "[autograd][version]") {
  // lstm_cell saves input, h, c, weight_ih and weight_hh: the fifth is past the node's inline slots.
  const int64_t B = 2, I = 3, H = 2;
  Tensor input = random64({B, I}, 17).requires_grad_();
  Tensor h = random64({B, H}, 18), c = random64({B, H}, 19);
  Tensor weight_ih = random64({4 * H, I}, 20).requires_grad_();
  Tensor weight_hh = random64({4 * H, H}, 21).requires_grad_();
  auto [h_new, c_new] = lstm_cell(input, h, c, weight_ih, weight_hh);
  Tensor loss = sum(h_new);
  weight_hh.detach().fill_(0.0);
  REQUIRE_THROWS_WITH(loss.backward(), Catch::Contains("LSTMCellBackward was modified in place") &&
                                           Catch::Contains("\"weight_hh\"") && Catch::Contains("saved tensor"));
}
