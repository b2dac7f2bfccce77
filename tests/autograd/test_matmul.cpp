// Gradients of matmul on every layout the forward handles: contiguous,
// transposed and sliced inputs, vectors, and broadcast batch dims.
#include <catch2/catch.hpp>

#include "focus.h"

using namespace focus;

namespace {
Tensor input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen).requires_grad_();
}
// A leaf that is the transpose of its storage (last two dims swapped): non-contiguous.
Tensor transposed_input(const Shape& shape, uint64_t seed) {
  Shape storage_shape = shape;
  std::swap(storage_shape[shape.size() - 1], storage_shape[shape.size() - 2]);
  Generator gen(seed);
  return views::transpose(randn(storage_shape, kFloat64, &gen), -1, -2).requires_grad_();
}
using Inputs = const std::vector<Tensor>&;
Tensor product(Inputs in) { return matmul(in[0], in[1]); }
}  // namespace

TEST_CASE("matmul gradient of 2-D operands", "[autograd][matmul]") {
  SECTION("contiguous") { REQUIRE(gradcheck(product, {input({4, 3}, 1), input({3, 5}, 2)})); }
  SECTION("transposed views on either side") {
    Tensor a_t = transposed_input({4, 3}, 3), b_t = transposed_input({3, 5}, 4);
    REQUIRE_FALSE(a_t.is_contiguous());
    REQUIRE(gradcheck(product, {a_t, input({3, 5}, 5)}));
    REQUIRE(gradcheck(product, {input({4, 3}, 6), b_t}));
    REQUIRE(gradcheck(product, {a_t, b_t}));
  }
  SECTION("sliced inputs") {
    Generator gen(7);
    Tensor wide = randn({4, 8}, kFloat64, &gen);
    Tensor every_other = views::slice(wide, 1, 0, 6, 2).requires_grad_();  // [4, 3], column stride 2
    REQUIRE(gradcheck(product, {every_other, input({3, 5}, 8)}));
    REQUIRE(gradcheck([](Inputs in) { return matmul(slice(in[0], 0, 1, 4), transpose(in[1], 0, 1)); },
                      {input({5, 3}, 9), input({2, 3}, 10)}));
  }
  SECTION("the same tensor on both sides adds both gradients") {
    REQUIRE(gradcheck([](Inputs in) { return matmul(in[0], in[0]); }, {input({4, 4}, 11)}));
    REQUIRE(gradcheck([](Inputs in) { return matmul(in[0], transpose(in[0], 0, 1)); }, {input({3, 5}, 12)}));
  }
}

TEST_CASE("matmul gradient by hand: d(sum(a @ b))", "[autograd][matmul]") {
  // sum(a @ b) = Σ_ij Σ_k a_ik b_kj, so da_ik = Σ_j b_kj (row sums of b), db_kj = Σ_i a_ik (column sums of a).
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor b = tensor({1, -1, 2, 0, 3, 5}, {3, 2}).requires_grad_();
  sum(a.matmul(b)).backward();
  REQUIRE(a.grad().to_vector<float>() == std::vector<float>{0, 2, 8, 0, 2, 8});
  REQUIRE(b.grad().to_vector<float>() == std::vector<float>{5, 5, 7, 7, 9, 9});
}

TEST_CASE("matmul gradient with vectors", "[autograd][matmul]") {
  SECTION("1-D @ 1-D") { REQUIRE(gradcheck(product, {input({5}, 20), input({5}, 21)})); }
  SECTION("1-D @ 2-D") { REQUIRE(gradcheck(product, {input({3}, 22), input({3, 4}, 23)})); }
  SECTION("2-D @ 1-D") { REQUIRE(gradcheck(product, {input({4, 3}, 24), input({3}, 25)})); }
  SECTION("1-D @ batched") { REQUIRE(gradcheck(product, {input({3}, 26), input({2, 3, 4}, 27)})); }
  SECTION("batched @ 1-D") { REQUIRE(gradcheck(product, {input({2, 4, 3}, 28), input({3}, 29)})); }
  SECTION("vector against a transposed matrix") {
    REQUIRE(gradcheck(product, {input({3}, 30), transposed_input({3, 4}, 31)}));
    REQUIRE(gradcheck(product, {transposed_input({4, 3}, 32), input({3}, 33)}));
  }
}

TEST_CASE("matmul gradient with batch dims", "[autograd][matmul]") {
  SECTION("broadcast batch dims [2, 1, 3, 4] @ [5, 4, 6]") {
    REQUIRE(gradcheck(product, {input({2, 1, 3, 4}, 40), input({5, 4, 6}, 41)}));
  }
  SECTION("a batch against one shared matrix, as in a Linear layer on a sequence") {
    REQUIRE(gradcheck(product, {input({2, 3, 4}, 42), input({4, 5}, 43)}));
    REQUIRE(gradcheck(product, {input({2, 3, 4}, 44), transposed_input({4, 5}, 45)}));
    REQUIRE(gradcheck(product, {transposed_input({2, 3, 4}, 46), input({4, 5}, 47)}));
  }
  SECTION("one matrix against a batch") {
    REQUIRE(gradcheck(product, {input({3, 4}, 48), input({2, 2, 4, 5}, 49)}));
  }
  SECTION("batch dims permuted and expanded") {
    REQUIRE(gradcheck([](Inputs in) { return matmul(permute(in[0], {1, 0, 2}), expand(in[1], {3, 4, 2})); },
                      {input({5, 3, 4}, 50), input({1, 4, 2}, 51)}));
  }
  SECTION("transposed batches") {
    REQUIRE(gradcheck(product, {transposed_input({2, 3, 4}, 52), transposed_input({2, 4, 5}, 53)}));
  }
}

TEST_CASE("matmul gradient reaches only the inputs that need it", "[autograd][matmul]") {
  Tensor a = input({3, 4}, 60);
  Tensor b = randn({4, 2}, kFloat64);  // a constant
  sum(matmul(a, b)).backward();
  REQUIRE(a.grad().shape() == Shape{3, 4});
  REQUIRE_FALSE(b.grad().defined());
}

TEST_CASE("matmul shape errors come from the forward", "[autograd][matmul]") {
  REQUIRE_THROWS_WITH(matmul(input({2, 3}, 70), input({4, 5}, 71)),
                      Catch::Contains("matmul: shapes [2, 3] and [4, 5] cannot be multiplied"));
}
