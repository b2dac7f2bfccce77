// Selection and conversion ops: where, masked_fill, the comparisons (eq ne lt le
// gt ge) and logical_not/and/or (from comparison.cpp), and to_dtype. Forward values, float64 gradcheck
// with broadcast and non-contiguous inputs, and error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

using namespace focus;

namespace {
Tensor leaf(Tensor t) {
  t.requires_grad_();
  return t;
}

/// A bool tensor from 0/1 values.
Tensor flags(std::initializer_list<double> values, const Shape& shape) {
  return gt(tensor(values, shape), scalar_tensor(0.5));
}
}  // namespace

// ---- where -----------------------------------------------------------------------------------

TEST_CASE("where: forward with broadcasting", "[where]") {
  Tensor cond = flags({1, 0, 1}, {3, 1});
  Tensor a = tensor({1, 2, 3, 4}, {1, 4}, kFloat64);
  Tensor b = tensor({-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12}, {3, 4}, kFloat64);
  Tensor y = where(cond, a, b);
  REQUIRE(y.shape() == Shape{3, 4});
  REQUIRE(y.to_vector<double>() == std::vector<double>{1, 2, 3, 4, -5, -6, -7, -8, 1, 2, 3, 4});
}

TEST_CASE("where: gradients flow to the chosen branch, summed over broadcast dims", "[where]") {
  Tensor cond = flags({1, 0, 1}, {3, 1});
  Tensor a = leaf(tensor({1, 2, 3, 4}, {1, 4}, kFloat64));
  Tensor b = leaf(zeros({3, 4}, kFloat64));
  where(cond, a, b).sum().backward();
  REQUIRE(a.grad().shape() == Shape{1, 4});
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{2, 2, 2, 2});  // rows 0 and 2 chose a
  REQUIRE(b.grad().to_vector<double>() == std::vector<double>{0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0});
}

TEST_CASE("where: gradcheck with broadcast, non-contiguous and 0-d branches", "[where]") {
  Generator gen(31);
  Tensor cond = gt(randn({4, 3}, kFloat64, &gen), scalar_tensor(0.0, kFloat64));
  auto fn = [&](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]); };
  REQUIRE(gradcheck(fn, {leaf(randn({4, 3}, kFloat64, &gen)), leaf(randn({4, 3}, kFloat64, &gen))}));
  REQUIRE(gradcheck(fn, {leaf(randn({3, 4}, kFloat64, &gen).t()), leaf(randn({1, 3}, kFloat64, &gen))}));
  REQUIRE(gradcheck(fn, {leaf(randn({4, 6}, kFloat64, &gen).slice(1, 0, 6, 2)), leaf(scalar_tensor(0.7, kFloat64))}));
  // The condition itself may broadcast: [4, 1] against [4, 3] branches.
  Tensor row_cond = flags({0, 1, 1, 0}, {4, 1});
  REQUIRE(gradcheck([&](const std::vector<Tensor>& in) { return where(row_cond, in[0], in[1]); },
                    {leaf(randn({4, 3}, kFloat64, &gen)), leaf(randn({3}, kFloat64, &gen))}));
}

TEST_CASE("where: only branches that require grad get one", "[where]") {
  Tensor cond = flags({1, 0}, {2});
  Tensor a = leaf(tensor({1, 2}, {}, kFloat64));
  Tensor constant = tensor({5, 6}, {}, kFloat64);
  Tensor y = where(cond, a, constant);
  REQUIRE(y.grad_fn()->name() == "WhereBackward");
  y.sum().backward();
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{1, 0});
  REQUIRE_FALSE(constant.grad().defined());
}

TEST_CASE("where: shapes that do not broadcast are named", "[where]") {
  REQUIRE_THROWS_WITH(where(flags({1, 0}, {2}), ones({3}), ones({3})),
                      Catch::Contains("where: condition [2], input [3] and other [3] cannot be broadcast"));
}

// ---- masked_fill -------------------------------------------------------------------------------

TEST_CASE("masked_fill: forward with a broadcast mask", "[masked_fill]") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64);
  Tensor y = masked_fill(x, flags({0, 1, 1}, {3}), -1.0);
  REQUIRE(y.to_vector<double>() == std::vector<double>{1, -1, -1, 4, -1, -1});
  // The attention pattern: -inf above the diagonal.
  Tensor scores = zeros({3, 3}, kFloat64);
  Tensor future = flags({0, 1, 1, 0, 0, 1, 0, 0, 0}, {3, 3});
  std::vector<double> masked = masked_fill(scores, future, -INFINITY).to_vector<double>();
  REQUIRE(masked == std::vector<double>{0, -INFINITY, -INFINITY, 0, 0, -INFINITY, 0, 0, 0});
}

TEST_CASE("masked_fill: filled positions get no gradient", "[masked_fill]") {
  Tensor x = leaf(tensor({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64));
  masked_fill(x, flags({1, 0}, {2, 1}), 9.0).sum().backward();
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{0, 0, 0, 1, 1, 1});
}

TEST_CASE("masked_fill: gradcheck on contiguous and non-contiguous inputs", "[masked_fill]") {
  Generator gen(32);
  Tensor mask = flags({1, 0, 0, 1}, {4});
  auto fn = [&](const std::vector<Tensor>& in) { return masked_fill(in[0], mask, 0.5); };
  REQUIRE(gradcheck(fn, {leaf(randn({3, 4}, kFloat64, &gen))}));
  REQUIRE(gradcheck(fn, {leaf(randn({4, 3}, kFloat64, &gen).t())}));
  REQUIRE(gradcheck(fn, {leaf(randn({6, 4}, kFloat64, &gen).slice(0, 1, 6, 2))}));
}

TEST_CASE("masked_fill: bad masks are named", "[masked_fill]") {
  Tensor x = ones({2, 3});
  REQUIRE_THROWS_WITH(masked_fill(x, ones({2, 3}), 0.0), Catch::Contains("masked_fill: mask must be a bool tensor"));
  REQUIRE_THROWS_WITH(masked_fill(x, flags({1, 0}, {2}), 0.0),
                      Catch::Contains("masked_fill: mask of shape [2] cannot be broadcast to input of shape [2, 3]"));
}

// ---- comparison ----------------------------------------------------------------------------------

TEST_CASE("comparison ops give bool results with broadcasting", "[comparison]") {
  Tensor a = tensor({1, 2, 3}, {3, 1}, kFloat64);
  Tensor b = tensor({2, 3}, {2}, kFloat64);
  using Flags = std::vector<bool>;
  REQUIRE(eq(a, b).to_vector<bool>() == Flags{false, false, true, false, false, true});
  REQUIRE(ne(a, b).to_vector<bool>() == Flags{true, true, false, true, true, false});
  REQUIRE(lt(a, b).to_vector<bool>() == Flags{true, true, false, true, false, false});
  REQUIRE(le(a, b).to_vector<bool>() == Flags{true, true, true, true, false, true});
  REQUIRE(gt(a, b).to_vector<bool>() == Flags{false, false, false, false, true, false});
  REQUIRE(ge(a, b).to_vector<bool>() == Flags{false, false, true, false, true, true});
  for (const Tensor& t : {eq(a, b), ne(a, b), lt(a, b), le(a, b), gt(a, b), ge(a, b)}) {
    REQUIRE(t.dtype() == kBool);
    REQUIRE(t.shape() == Shape{3, 2});
  }
  // Mixed dtypes compare in the promoted one: int64 2 == float32 2.0.
  REQUIRE(eq(from_vector(std::vector<int64_t>{2}, {1}), tensor({2.0})).item<bool>());
}

TEST_CASE("comparison ops carry no gradient", "[comparison]") {
  Tensor x = leaf(tensor({-1, 1}, {}, kFloat64));
  Tensor positive = gt(x, scalar_tensor(0.0, kFloat64));
  REQUIRE_FALSE(positive.requires_grad());
  REQUIRE(positive.grad_fn() == nullptr);
  // They still steer gradients as the condition of where.
  where(positive, x, x * 3.0).sum().backward();
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{3, 1});
}

TEST_CASE("comparison ops name shapes that do not broadcast", "[comparison]") {
  REQUIRE_THROWS_WITH(eq(ones({2}), ones({3})), Catch::Contains("eq: shapes [2] and [3] cannot be broadcast"));
  REQUIRE_THROWS_WITH(ge(ones({2, 2}), ones({3})), Catch::Contains("ge: shapes [2, 2] and [3] cannot be broadcast"));
}

// ---- logical_not, logical_and, logical_or -----------------------------------------------------------

TEST_CASE("logical ops give bool results with broadcasting", "[comparison][logical]") {
  using Flags = std::vector<bool>;
  Tensor column = flags({1, 0, 1}, {3, 1});
  Tensor row = flags({0, 1}, {2});
  // [3, 1] with [2] → [3, 2]: entry (i, j) combines column[i] and row[j].
  Tensor both = logical_and(column, row), either = logical_or(column, row);
  REQUIRE(both.shape() == Shape{3, 2});
  REQUIRE(either.shape() == Shape{3, 2});
  REQUIRE(both.to_vector<bool>() == Flags{false, true, false, false, false, true});
  REQUIRE(either.to_vector<bool>() == Flags{true, true, false, true, true, true});
  REQUIRE(logical_not(column).to_vector<bool>() == Flags{false, true, false});
  REQUIRE(logical_not(column).shape() == Shape{3, 1});
  // A [1, S] padding row against an [L, S] mask, as attention layers combine them.
  Tensor padded = flags({0, 0, 1}, {1, 3});
  Tensor future = flags({0, 1, 1, 0, 0, 1}, {2, 3});
  REQUIRE(logical_or(padded, future).to_vector<bool>() == Flags{false, true, true, false, false, true});
  for (const Tensor& t : {both, either, logical_not(row)}) REQUIRE(t.dtype() == kBool);
}

TEST_CASE("logical ops read any dtype as truth values, like torch.logical_*", "[comparison][logical]") {
  using Flags = std::vector<bool>;
  // Nonzero is true, NaN included; int64 and float mix without a cast.
  Tensor numbers = tensor({0.0, -2.5, NAN, 0.5}, {}, kFloat64);
  Tensor ids = from_vector(std::vector<int64_t>{3, 0, 0, 7}, {4});
  REQUIRE(logical_not(numbers).to_vector<bool>() == Flags{true, false, false, false});
  REQUIRE(logical_not(ids).to_vector<bool>() == Flags{false, true, true, false});
  REQUIRE(logical_and(numbers, ids).to_vector<bool>() == Flags{false, false, false, true});
  REQUIRE(logical_or(numbers, ids).to_vector<bool>() == Flags{true, true, true, true});
  REQUIRE(logical_and(ids, scalar_tensor(1.0)).to_vector<bool>() == Flags{true, false, false, true});
  REQUIRE(logical_not(logical_not(ids)).to_vector<bool>() == Flags{true, false, false, true});
}

TEST_CASE("logical ops carry no gradient", "[comparison][logical]") {
  Tensor x = leaf(tensor({0, 1}, {}, kFloat64));
  for (const Tensor& t : {logical_not(x), logical_and(x, x), logical_or(x, scalar_tensor(0.0, kFloat64))}) {
    REQUIRE_FALSE(t.requires_grad());
    REQUIRE(t.grad_fn() == nullptr);
  }
}

TEST_CASE("logical ops name shapes that do not broadcast and undefined inputs", "[comparison][logical]") {
  REQUIRE_THROWS_WITH(logical_and(flags({1, 0}, {2}), flags({1, 0, 1}, {3})),
                      Catch::Contains("logical_and: shapes [2] and [3] cannot be broadcast"));
  REQUIRE_THROWS_WITH(logical_or(ones({2, 2}), ones({3})),
                      Catch::Contains("logical_or: shapes [2, 2] and [3] cannot be broadcast"));
  REQUIRE_THROWS_WITH(logical_not(Tensor()), Catch::Contains("logical_not: got an undefined tensor"));
  REQUIRE_THROWS_WITH(logical_or(Tensor(), ones({2})), Catch::Contains("logical_or: got an undefined tensor"));
}

// ---- to_dtype ---------------------------------------------------------------------------------------

TEST_CASE("to_dtype converts values", "[to_dtype]") {
  Tensor x = tensor({-1.5, 0, 2.75}, {}, kFloat64);
  Tensor f = to_dtype(x, kFloat32);
  REQUIRE(f.dtype() == kFloat32);
  REQUIRE(f.to_vector<double>() == std::vector<double>{-1.5, 0, 2.75});
  Tensor i = to_dtype(x, kInt64);  // truncates toward zero, like a C++ cast and PyTorch
  REQUIRE(i.to_vector<int64_t>() == std::vector<int64_t>{-1, 0, 2});
  REQUIRE(to_dtype(x, kBool).to_vector<bool>() == std::vector<bool>{true, false, true});
  // The same dtype is the same tensor, no copy.
  REQUIRE(to_dtype(x, kFloat64).shares_storage(x));
  // A transposed input converts in its logical order.
  Tensor t = tensor({1, 2, 3, 4}, {2, 2}, kFloat64).t();
  REQUIRE(to_dtype(t, kFloat32).to_vector<float>() == std::vector<float>{1, 3, 2, 4});
}

TEST_CASE("to_dtype: float casts carry the gradient back in the input's dtype", "[to_dtype]") {
  Tensor x = leaf(tensor({1, 2, 3}));  // float32
  Tensor y = to_dtype(x, kFloat64);
  REQUIRE(y.grad_fn()->name() == "ToDtypeBackward");
  mul(y, tensor({0.5, -1, 4}, {}, kFloat64)).sum().backward();
  REQUIRE(x.grad().dtype() == kFloat32);
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{0.5, -1, 4});

  REQUIRE(x.to(kFloat64).grad_fn()->name() == "ToDtypeBackward");  // Tensor::to is the same op

  Tensor w = leaf(tensor({1, 2}, {}, kFloat64));
  to_dtype(w, kFloat32).sum().backward();
  REQUIRE(w.grad().dtype() == kFloat64);
  REQUIRE(w.grad().to_vector<double>() == std::vector<double>{1, 1});
}

TEST_CASE("to_dtype: gradcheck through float64 -> float32 -> float64", "[to_dtype]") {
  // Rounding to float32 would swamp a 1e-6 difference, so the check steps by eps = 2^-10 on inputs that
  // are multiples of 2^-6 and scales them by float32 constants with short mantissas: every value on the
  // way is exact in float32, so the central differences are exact too and the usual tolerances apply.
  Generator gen(33);
  Tensor k = randint(-64, 64, {3, 4}, kInt64, &gen);
  Tensor x = leaf(div(to_dtype(k, kFloat64), scalar_tensor(64.0, kFloat64)).t().detach());  // [4, 3], transposed
  Tensor scale = tensor({0.5, -1.25, 3}, {3});                                               // float32
  auto fn = [&](const std::vector<Tensor>& in) { return to_dtype(mul(to_dtype(in[0], kFloat32), scale), kFloat64); };
  GradcheckOptions options;
  options.eps = 1.0 / 1024;
  REQUIRE(gradcheck(fn, {x}, options));
}

TEST_CASE("to_dtype: casts to int64 or bool are not differentiable", "[to_dtype]") {
  Tensor x = leaf(tensor({0.5, 2.5}, {}, kFloat64));
  Tensor i = to_dtype(x, kInt64);
  REQUIRE_FALSE(i.requires_grad());
  REQUIRE(i.grad_fn() == nullptr);
  REQUIRE_FALSE(to_dtype(x, kBool).requires_grad());
  REQUIRE_THROWS_WITH(to_dtype(Tensor(), kFloat32), Catch::Contains("to_dtype: got an undefined tensor"));
}
