// Joining and splitting: cat, stack, split and chunk — forward values,
// gradients through each, and the errors for mismatched shapes.
#include <catch2/catch.hpp>

#include "focus.h"

using namespace focus;

namespace {
Tensor input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen).requires_grad_();
}
using Inputs = const std::vector<Tensor>&;
std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }
}  // namespace

TEST_CASE("cat joins along any dim", "[join][cat]") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor({5, 6}, {1, 2});
  Tensor c = tensor({7, 8, 9, 10, 11, 12}, {2, 3});
  Tensor rows = cat({a, b}, 0);
  REQUIRE(rows.shape() == Shape{3, 2});
  REQUIRE(values(rows) == std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor cols = cat({a, c}, -1);
  REQUIRE(cols.shape() == Shape{2, 5});
  REQUIRE(values(cols) == std::vector<float>{1, 2, 7, 8, 9, 3, 4, 10, 11, 12});

  SECTION("strided inputs take the copying path") {
    Tensor a_t = a.t();  // [[1, 3], [2, 4]]
    REQUIRE(values(cat({a_t, b}, 0)) == std::vector<float>{1, 3, 2, 4, 5, 6});
    REQUIRE(values(cat({c, a_t}, 1)) == std::vector<float>{7, 8, 9, 1, 3, 10, 11, 12, 2, 4});
  }
  SECTION("a middle dim of a 3-D tensor, with an empty piece") {
    Tensor x = arange(0, 12, 1, kFloat32).reshape({2, 3, 2});
    Tensor y = arange(100, 104, 1, kFloat32).reshape({2, 1, 2});
    Tensor none = zeros({2, 0, 2});
    Tensor z = cat({x, none, y}, 1);
    REQUIRE(z.shape() == Shape{2, 4, 2});
    REQUIRE(values(z) == std::vector<float>{0, 1, 2, 3, 4, 5, 100, 101, 6, 7, 8, 9, 10, 11, 102, 103});
  }
  SECTION("mixed dtypes promote") {
    Tensor i = tensor({1, 2}, {1, 2}, kInt64);
    Tensor d = tensor({0.5, 1.5}, {1, 2}, kFloat64);
    Tensor m = kernels::cat({i, d}, 0);
    REQUIRE(m.dtype() == kFloat64);
    REQUIRE(m.to_vector<double>() == std::vector<double>{1, 2, 0.5, 1.5});
  }
  SECTION("many rows in parallel") {
    set_num_threads(2);
    Tensor big_a = arange(0, 40000, 1, kFloat32).reshape({20000, 2});
    Tensor big_b = arange(0, 20000, 1, kFloat32).reshape({20000, 1});
    Tensor joined = cat({big_a, big_b}, 1);
    REQUIRE(joined.at({12345, 0}) == 24690);
    REQUIRE(joined.at({12345, 1}) == 24691);
    REQUIRE(joined.at({12345, 2}) == 12345);
  }
}

TEST_CASE("cat gradient is the matching window of dy", "[join][cat]") {
  REQUIRE(gradcheck([](Inputs in) { return cat({in[0], in[1], in[2]}, 0).exp(); },
                    {input({2, 3}, 1), input({1, 3}, 2), input({3, 3}, 3)}));
  REQUIRE(gradcheck([](Inputs in) { return cat({in[0], transpose(in[1], 0, 1)}, 1) * 2.0; },
                    {input({3, 2}, 4), input({4, 3}, 5)}));
  // the same tensor twice, and a broadcast view
  REQUIRE(gradcheck([](Inputs in) { return cat({in[0], in[0], expand(in[1], {2, 4})}, -1).tanh(); },
                    {input({2, 3}, 6), input({2, 1}, 7)}));
  // only some inputs need a gradient
  Tensor x = input({2, 2}, 8);
  Tensor constant = ones({1, 2}, kFloat64);
  sum(cat({constant, x}, 0)).backward();
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{1, 1, 1, 1});
}

TEST_CASE("cat errors name the offending tensor", "[join][cat]") {
  REQUIRE_THROWS_WITH(cat({zeros({2, 3}), zeros({2, 3}), zeros({3, 4})}, 0),
                      Catch::Contains("cat: tensor 2 has shape [3, 4] but tensor 0 has shape [2, 3]") &&
                          Catch::Contains("except dim 0"));
  REQUIRE_THROWS_WITH(cat({zeros({2, 3}), zeros({2, 3, 1})}, 1),
                      Catch::Contains("cat: tensor 1 has shape [2, 3, 1] but tensor 0 has shape [2, 3]"));
  REQUIRE_THROWS_WITH(cat({}, 0), Catch::Contains("cat: expected a non-empty list of tensors"));
  REQUIRE_THROWS_WITH(cat({zeros({2})}, 1), Catch::Contains("cat: dim 1 is out of range"));
}

TEST_CASE("stack adds a new dim", "[join][stack]") {
  Tensor a = tensor({1, 2, 3}), b = tensor({4, 5, 6});
  Tensor s0 = stack({a, b}, 0);
  REQUIRE(s0.shape() == Shape{2, 3});
  REQUIRE(values(s0) == std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor s1 = stack({a, b}, -1);
  REQUIRE(s1.shape() == Shape{3, 2});
  REQUIRE(values(s1) == std::vector<float>{1, 4, 2, 5, 3, 6});

  REQUIRE(gradcheck([](Inputs in) { return stack({in[0], in[1]}, 1).exp(); }, {input({2, 3}, 10), input({2, 3}, 11)}));
  REQUIRE(gradcheck([](Inputs in) { return stack({in[0], transpose(in[1], 0, 1), in[0]}, 2) * 3.0; },
                    {input({2, 3}, 12), input({3, 2}, 13)}));

  REQUIRE_THROWS_WITH(stack({zeros({2, 3}), zeros({3, 2})}, 0),
                      Catch::Contains("stack: tensor 1 has shape [3, 2] but tensor 0 has shape [2, 3]"));
  REQUIRE_THROWS_WITH(stack({zeros({2})}, 2), Catch::Contains("stack: dim 2 is out of range"));
}

TEST_CASE("split and chunk give narrow views", "[join][split][chunk]") {
  Tensor x = arange(0, 10, 1, kFloat32).reshape({5, 2});
  std::vector<Tensor> pieces = split(x, 2, 0);
  REQUIRE(pieces.size() == 3);
  REQUIRE(pieces[0].shape() == Shape{2, 2});
  REQUIRE(pieces[2].shape() == Shape{1, 2});
  REQUIRE(values(pieces[1]) == std::vector<float>{4, 5, 6, 7});
  REQUIRE(values(pieces[2]) == std::vector<float>{8, 9});
  REQUIRE(pieces[1].shares_storage(x));

  std::vector<Tensor> columns = split(x, 1, -1);
  REQUIRE(columns.size() == 2);
  REQUIRE(values(columns[1]) == std::vector<float>{1, 3, 5, 7, 9});

  // chunk: pieces of ceil(size / chunks), as torch.chunk; so 5 rows in 3 chunks are 2 + 2 + 1,
  // and 5 rows in 4 chunks are also 2 + 2 + 1 (fewer chunks than asked for).
  std::vector<Tensor> thirds = chunk(x, 3, 0);
  REQUIRE(thirds.size() == 3);
  REQUIRE(thirds[2].shape() == Shape{1, 2});
  REQUIRE(chunk(x, 4, 0).size() == 3);
  REQUIRE(chunk(x, 5, 0).size() == 5);
  REQUIRE(chunk(x, 2, 1)[1].shape() == Shape{5, 1});

  SECTION("gradients flow back through every piece") {
    REQUIRE(gradcheck(
        [](Inputs in) {
          std::vector<Tensor> p = split(in[0], 2, 1);  // widths 2, 2, 1
          return cat({p[0] * p[1], p[2].exp()}, 1);
        },
        {input({3, 5}, 20)}));
    REQUIRE(gradcheck(
        [](Inputs in) {
          std::vector<Tensor> p = chunk(transpose(in[0], 0, 1), 2, 0);  // [3, 4] in pieces of 2 and 1 rows
          return matmul(p[1], transpose(p[0], 0, 1));
        },
        {input({4, 3}, 21)}));
    // a piece nobody uses still gets a (zero) gradient
    Tensor y = input({4, 2}, 22);
    sum(chunk(y, 2, 0)[0]).backward();
    REQUIRE(y.grad().to_vector<double>() == std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0});
    // One node for all pieces: a piece used twice adds up, an unused middle piece gets zeros
    // (under FOCUS_POISON_UNINITIALIZED an unwritten window would be NaN).
    Tensor z = input({2, 5}, 23);
    std::vector<Tensor> p = split(z, 2, 1);  // columns 0-1, 2-3, 4
    REQUIRE(p[0].grad_fn() == p[2].grad_fn());
    (sum(p[0] * p[0]) + sum(p[0]) + sum(p[2] * 3.0)).backward();
    const std::vector<double> zv = z.to_vector<double>(), g = z.grad().to_vector<double>();
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t c = 0; c < 5; ++c) {
        const double expected = c < 2 ? 2 * zv[static_cast<size_t>(r * 5 + c)] + 1 : c < 4 ? 0.0 : 3.0;
        REQUIRE(g[static_cast<size_t>(r * 5 + c)] == Approx(expected).margin(1e-15));
      }
  }
  SECTION("errors") {
    REQUIRE_THROWS_WITH(split(x, 0, 0), Catch::Contains("split: split_size must be positive, got 0"));
    REQUIRE_THROWS_WITH(chunk(x, 0, 0), Catch::Contains("chunk: chunks must be positive, got 0"));
    REQUIRE_THROWS_WITH(split(x, 2, 2), Catch::Contains("split: dim 2 is out of range"));
  }
}
