// nn::Flatten: the shapes PyTorch gives, a view of contiguous input, gradients, errors.
#include <catch2/catch.hpp>

#include "focus.h"
#include "nn/gradcheck.h"
#include "nn/layers/flatten.h"

using namespace focus;

TEST_CASE("Flatten keeps the batch dim by default", "[flatten]") {
  nn::Flatten flatten;
  Tensor x = arange(0, 2 * 3 * 4 * 5, 1, kFloat32).reshape({2, 3, 4, 5});
  Tensor y = flatten(x);
  CHECK(y.shape() == Shape{2, 60});
  CHECK(y.to_vector<float>() == x.to_vector<float>());  // row-major order is unchanged
  CHECK(y.shares_storage(x));                           // a view, no copy
  CHECK(flatten.extra_repr() == "start_dim=1, end_dim=-1");
  CHECK(flatten.last_output_shape() == Shape{2, 60});
}

TEST_CASE("Flatten with explicit dims", "[flatten]") {
  Tensor x = zeros({2, 3, 4, 5});
  CHECK(nn::Flatten(0, -1)(x).shape() == Shape{120});
  CHECK(nn::Flatten(1, 2)(x).shape() == Shape{2, 12, 5});
  CHECK(nn::Flatten(-2, -1)(x).shape() == Shape{2, 3, 20});
  CHECK(nn::Flatten(2, 2)(x).shape() == Shape{2, 3, 4, 5});
}

TEST_CASE("Flatten of a non-contiguous input copies and keeps values", "[flatten]") {
  Tensor x = arange(0, 24, 1, kFloat32).reshape({2, 3, 4}).transpose(1, 2);  // [2, 4, 3]
  Tensor y = nn::Flatten()(x);
  REQUIRE(y.shape() == Shape{2, 12});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 3; ++j) CHECK(y.at({n, i * 3 + j}) == x.at({n, i, j}));
}

TEST_CASE("Flatten passes gradients through", "[flatten][gradcheck]") {
  nn::Flatten flatten;
  Generator gen(1);
  Tensor x = randn({2, 3, 4}, kFloat64, &gen).requires_grad_();
  REQUIRE(nn::gradcheck(flatten, [&](const std::vector<Tensor>& in) { return flatten(in[0].transpose(0, 2)); }, {x}));
}

TEST_CASE("Flatten rejects dims the input lacks", "[flatten]") {
  nn::Flatten flatten;
  REQUIRE_THROWS_WITH(flatten(zeros({5})), Catch::Contains("Flatten(start_dim=1, end_dim=-1): input of shape [5]"));
  REQUIRE_THROWS_WITH(nn::Flatten(2, 1)(zeros({2, 3, 4})), Catch::Contains("start_dim 2 is after end_dim 1"));
}
