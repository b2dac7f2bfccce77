// Indexing with int64 index tensors: index_select, gather, scatter_add (and the
// index_add kernel behind index_select's backward). Forward against naive loops,
// repeated indices (their gradients must add up), gradcheck, and range errors.
#include <catch2/catch.hpp>

#include "focus.h"

using namespace focus;

namespace {
Tensor input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen).requires_grad_();
}
Tensor indices(const std::vector<int64_t>& values, const Shape& shape) { return from_vector(values, shape); }
using Inputs = const std::vector<Tensor>&;
}  // namespace

TEST_CASE("index_select picks whole slices, repeats allowed", "[indexing][index_select]") {
  Tensor x = arange(0, 12, 1, kFloat32).reshape({4, 3});
  Tensor rows = kernels::index_select(x, 0, indices({3, 0, 3}, {3}));
  REQUIRE(rows.shape() == Shape{3, 3});
  REQUIRE(rows.to_vector<float>() == std::vector<float>{9, 10, 11, 0, 1, 2, 9, 10, 11});
  Tensor cols = index_select(x, -1, indices({2, 2, 1, 0}, {4}));
  REQUIRE(cols.shape() == Shape{4, 4});
  REQUIRE(cols.to_vector<float>() ==
          std::vector<float>{2, 2, 1, 0, 5, 5, 4, 3, 8, 8, 7, 6, 11, 11, 10, 9});

  SECTION("against a naive loop on a transposed 3-D input and int64 values") {
    Generator gen(1);
    Tensor base = randint(0, 1000, {5, 4, 6}, kInt64, &gen);
    Tensor y = views::transpose(base, 0, 2);  // [6, 4, 5]
    Tensor index = indices({4, 0, 0, 2, 3, 1, 4}, {7});
    Tensor got = index_select(y, 2, index);
    REQUIRE(got.shape() == Shape{6, 4, 7});
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t k = 0; k < 7; ++k)
          REQUIRE(got.at({i, j, k}) == y.at({i, j, static_cast<int64_t>(index.at({k}))}));
  }
}

TEST_CASE("index_select gradient adds up repeated rows", "[indexing][index_select]") {
  // An Embedding lookup: token 2 appears three times, so its row's gradient is 3.
  Tensor table = zeros({4, 2}).requires_grad_();
  Tensor tokens = indices({2, 0, 2, 2}, {4});
  sum(index_select(table, 0, tokens)).backward();
  REQUIRE(table.grad().to_vector<float>() == std::vector<float>{1, 1, 0, 0, 3, 3, 0, 0});

  REQUIRE(gradcheck([](Inputs in) { return index_select(in[0], 0, indices({1, 3, 1, 0, 1}, {5})).exp(); },
                    {input({4, 3}, 2)}));
  REQUIRE(gradcheck([](Inputs in) { return index_select(transpose(in[0], 0, 1), 1, indices({2, 2, 0}, {3})) * 2.0; },
                    {input({3, 4}, 3)}));
  REQUIRE(gradcheck([](Inputs in) { return index_select(in[0], 1, indices({1, 0, 1}, {3})).tanh(); },
                    {input({2, 2, 3}, 4)}));
}

TEST_CASE("index_add is index_select's adjoint, also in parallel", "[indexing][index_add]") {
  set_num_threads(2);
  // Many repeated indices into few rows, large enough for several threads.
  const int64_t rows = 50, width = 96, count = 4000;
  Generator gen(5);
  Tensor index = randint(0, rows, {count}, kInt64, &gen);
  Tensor src = randn({count, width}, kFloat64, &gen);
  Tensor base = randn({rows, width}, kFloat64, &gen);
  const std::vector<double> before = base.to_vector<double>();
  Tensor got = kernels::index_add(base, 0, index, src);

  std::vector<double> want = base.to_vector<double>(), s = src.to_vector<double>();
  std::vector<int64_t> idx = index.to_vector<int64_t>();
  for (int64_t i = 0; i < count; ++i)
    for (int64_t k = 0; k < width; ++k) want[idx[i] * width + k] += s[i * width + k];
  std::vector<double> g = got.to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) REQUIRE(g[i] == Approx(want[i]).epsilon(1e-12));
  REQUIRE(base.to_vector<double>() == before);  // a new tensor: the input is left alone

  // Along an inner dim, with several outer rows.
  Tensor x = zeros({3, 4});
  Tensor y = kernels::index_add(x, 1, indices({3, 3, 0}, {3}), ones({3, 3}));
  REQUIRE(y.to_vector<float>() == std::vector<float>{1, 0, 0, 2, 1, 0, 0, 2, 1, 0, 0, 2});
  REQUIRE_THROWS_WITH(kernels::index_add(x, 1, indices({0, 1}, {2}), ones({3, 3})),
                      Catch::Contains("index_add: src has shape [3, 3], expected [3, 2]"));
}

TEST_CASE("gather takes one element per index entry", "[indexing][gather]") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  // dim 1: out[i][j] = x[i][index[i][j]]
  Tensor along_rows = gather(x, 1, indices({2, 0, 1, 1}, {2, 2}));
  REQUIRE(along_rows.to_vector<float>() == std::vector<float>{3, 1, 5, 5});
  // dim 0: out[i][j] = x[index[i][j]][j], with index narrower than x
  Tensor along_cols = gather(x, 0, indices({1, 0, 1, 1}, {2, 2}));
  REQUIRE(along_cols.to_vector<float>() == std::vector<float>{4, 2, 4, 5});

  SECTION("against a naive loop on a 3-D transposed input") {
    Generator gen(6);
    Tensor y = views::transpose(randn({4, 3, 5}, kFloat32, &gen), 0, 2);  // [5, 3, 4]
    Tensor index = randint(0, 3, {4, 6, 2}, kInt64, &gen);               // along dim 1 (size 3)
    Tensor got = gather(y, 1, index);
    REQUIRE(got.shape() == Shape{4, 6, 2});
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 6; ++j)
        for (int64_t k = 0; k < 2; ++k)
          REQUIRE(got.at({i, j, k}) == y.at({i, static_cast<int64_t>(index.at({i, j, k})), k}));
  }
}

TEST_CASE("gather gradient scatters back, repeats add", "[indexing][gather]") {
  Tensor x = zeros({2, 3}).requires_grad_();
  sum(gather(x, 1, indices({0, 0, 0, 2, 1, 2}, {2, 3}))).backward();
  REQUIRE(x.grad().to_vector<float>() == std::vector<float>{3, 0, 0, 0, 1, 2});

  REQUIRE(gradcheck([](Inputs in) { return gather(in[0], 1, indices({2, 0, 2, 1, 1, 1}, {2, 3})).exp(); },
                    {input({2, 4}, 7)}));
  REQUIRE(gradcheck([](Inputs in) { return gather(transpose(in[0], 0, 1), 0, indices({0, 2, 2, 1, 0, 0}, {2, 3})); },
                    {input({3, 3}, 8)}));
  REQUIRE(gradcheck(
      [](Inputs in) { return gather(in[0], 2, indices({1, 1, 0, 1, 0, 0, 1, 1}, {2, 2, 2})).tanh(); },
      {input({2, 3, 2}, 9)}));
}

TEST_CASE("scatter_add adds src at the indexed positions", "[indexing][scatter_add]") {
  Tensor x = zeros({3, 2});
  Tensor src = tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  // dim 0: out[index[i][j]][j] += src[i][j]; out[0][0] receives two entries, out[1][1] three
  Tensor out = scatter_add(x, 0, indices({0, 1, 2, 1, 0, 1}, {3, 2}), src);
  REQUIRE(out.to_vector<float>() == std::vector<float>{6, 0, 0, 2 + 4 + 6, 3, 0});

  SECTION("against a naive loop, with src larger than index and repeats along dim") {
    Generator gen(10);
    Tensor base = randn({4, 5, 3}, kFloat64, &gen);
    Tensor values = views::transpose(randn({3, 6, 4}, kFloat64, &gen), 0, 2);  // [4, 6, 3], non-contiguous
    Tensor index = randint(0, 5, {3, 6, 2}, kInt64, &gen);                     // dim 1; fits x except there
    Tensor got = kernels::scatter_add(base, 1, index, values);
    Tensor want = base.clone();
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 6; ++j)
        for (int64_t k = 0; k < 2; ++k) {
          std::vector<int64_t> at{i, static_cast<int64_t>(index.at({i, j, k})), k};
          want.set(at, want.at(at) + values.at({i, j, k}));
        }
    std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
    for (size_t i = 0; i < w.size(); ++i) REQUIRE(g[i] == Approx(w[i]).epsilon(1e-12));
  }
}

TEST_CASE("scatter_add gradient: dx = dy, dsrc = gather(dy)", "[indexing][scatter_add]") {
  Tensor index = indices({0, 1, 0, 0, 1, 2}, {2, 3});
  REQUIRE(gradcheck([&](Inputs in) { return scatter_add(in[0], 1, index, in[1]).exp(); },
                    {input({2, 3}, 11), input({2, 3}, 12)}));
  // src larger than index: its extra elements get a zero gradient
  REQUIRE(gradcheck([&](Inputs in) { return scatter_add(in[0], 1, index, in[1]).tanh(); },
                    {input({2, 4}, 13), input({3, 5}, 14)}));
  REQUIRE(gradcheck([&](Inputs in) { return scatter_add(transpose(in[0], 0, 1), 0, index, in[1]) * 2.0; },
                    {input({3, 3}, 15), input({2, 3}, 16)}));
  // gather then scatter_add back is the identity on the picked elements
  Tensor x = input({2, 3}, 17);
  Tensor picked = gather(x, 1, index);
  Tensor src = ones({2, 3}, kFloat64).requires_grad_();
  sum(scatter_add(zeros({2, 3}, kFloat64), 1, index, src * picked)).backward();
  REQUIRE(src.grad().to_vector<double>() == picked.detach().to_vector<double>());
}

TEST_CASE("out-of-range and malformed indices are reported", "[indexing]") {
  Tensor x = zeros({5, 3});
  REQUIRE_THROWS_WITH(index_select(x, 0, indices({1, 5}, {2})),
                      Catch::Contains("index_select: index 5 is out of range for dim 0 with size 5"));
  REQUIRE_THROWS_WITH(index_select(x, 1, indices({-1}, {1})),
                      Catch::Contains("index_select: index -1 is out of range for dim 1 with size 3"));
  REQUIRE_THROWS_WITH(index_select(x, 0, tensor({1, 2})), Catch::Contains("index_select: index must be an int64 tensor"));
  REQUIRE_THROWS_WITH(index_select(x, 0, indices({0, 1, 2, 3}, {2, 2})),
                      Catch::Contains("index_select: index must be 1-D, got shape [2, 2]"));
  REQUIRE_THROWS_WITH(gather(x, 1, indices({0, 3}, {1, 2})),
                      Catch::Contains("gather: index 3 is out of range for dim 1 with size 3"));
  REQUIRE_THROWS_WITH(gather(x, 1, indices({0, 1}, {2})), Catch::Contains("gather: index of shape [2] does not fit"));
  REQUIRE_THROWS_WITH(gather(x, 0, indices({0, 0, 0, 0}, {1, 4})),
                      Catch::Contains("gather: index of shape [1, 4] does not fit a tensor of shape [5, 3]"));
  REQUIRE_THROWS_WITH(scatter_add(x, 0, indices({7}, {1, 1}), ones({1, 1})),
                      Catch::Contains("scatter_add: index 7 is out of range for dim 0 with size 5"));
  REQUIRE_THROWS_WITH(scatter_add(x, 0, indices({0, 1}, {1, 2}), ones({1, 1})),
                      Catch::Contains("scatter_add: index of shape [1, 2] is larger than src of shape [1, 1]"));
  REQUIRE_THROWS_WITH(scatter_add(x, 0, indices({0}, {1, 1}), ones({1, 1}, kFloat64)),
                      Catch::Contains("scatter_add: src has dtype float64 but the tensor has float32"));
  REQUIRE_THROWS_WITH(kernels::index_add(x, 0, indices({9}, {1}), ones({1, 3})),
                      Catch::Contains("index_add: index 9 is out of range for dim 0 with size 5"));
}
