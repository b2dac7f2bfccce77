// nn::Embedding and functional::embedding: lookups for any id shape, gradient
// accumulation for repeated ids, the padding row, default init, errors.
#include <catch2/catch.hpp>
#include <cmath>

#include "focus.h"
#include "nn/functional/embedding.h"
#include "nn/gradcheck.h"
#include "nn/layers/embedding.h"

using namespace focus;
namespace F = focus::nn::functional;

TEST_CASE("embedding picks rows for ids of any shape", "[embedding]") {
  nn::Embedding embed(10, 4);
  Tensor ids = from_vector(std::vector<int64_t>{3, 0, 9, 3, 7, 1}, {2, 3});
  Tensor y = embed(ids);
  REQUIRE(y.shape() == Shape{2, 3, 4});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t d = 0; d < 4; ++d)
        REQUIRE(y.at({i, j, d}) == embed.weight.at({static_cast<int64_t>(ids.at({i, j})), d}));
  CHECK(embed(from_vector(std::vector<int64_t>{5}, {})).shape() == Shape{4});  // a 0-d id
  Tensor transposed_ids = ids.t();                                             // non-contiguous [3, 2]
  Tensor yt = embed(transposed_ids);
  REQUIRE(yt.shape() == Shape{3, 2, 4});
  for (int64_t d = 0; d < 4; ++d) CHECK(yt.at({2, 0, d}) == y.at({0, 2, d}));
  CHECK(embed.extra_repr() == "10, 4");
  CHECK(embed.named_parameters()[0].first == "weight");
}

TEST_CASE("repeated ids accumulate their gradients", "[embedding]") {
  Tensor weight = randn({5, 3}, kFloat64).requires_grad_();
  Tensor ids = from_vector(std::vector<int64_t>{1, 1, 2, 1}, {4});
  Tensor upstream = randn({4, 3}, kFloat64);
  sum(mul(F::embedding(ids, weight), upstream)).backward();
  Tensor g = weight.grad();
  for (int64_t d = 0; d < 3; ++d) {
    CHECK(g.at({1, d}) == Approx(upstream.at({0, d}) + upstream.at({1, d}) + upstream.at({3, d})));
    CHECK(g.at({2, d}) == Approx(upstream.at({2, d})));
    CHECK(g.at({0, d}) == 0.0);
    CHECK(g.at({4, d}) == 0.0);
  }
}

TEST_CASE("the padding row starts at zero and gets no gradient", "[embedding]") {
  nn::Embedding embed(nn::EmbeddingOptions(6, 3).padding_idx(2));
  for (int64_t d = 0; d < 3; ++d) CHECK(embed.weight.at({2, d}) == 0.0);
  CHECK(embed.extra_repr() == "6, 3, padding_idx=2");
  Tensor ids = from_vector(std::vector<int64_t>{2, 4, 2, 0}, {2, 2});
  Tensor y = embed(ids);
  for (int64_t d = 0; d < 3; ++d) CHECK(y.at({0, 0, d}) == 0.0);
  sum(y).backward();
  Tensor g = embed.weight.grad();
  for (int64_t d = 0; d < 3; ++d) {
    CHECK(g.at({2, d}) == 0.0);  // read twice, still no gradient
    CHECK(g.at({4, d}) == 1.0);
    CHECK(g.at({0, d}) == 1.0);
    CHECK(g.at({1, d}) == 0.0);
  }
  // A negative padding_idx counts from the end, as in PyTorch.
  nn::Embedding from_end(nn::EmbeddingOptions(6, 3).padding_idx(-1));
  REQUIRE(from_end.options.padding_idx().has_value());
  CHECK(*from_end.options.padding_idx() == 5);
  for (int64_t d = 0; d < 3; ++d) CHECK(from_end.weight.at({5, d}) == 0.0);
}

TEST_CASE("embedding gradients are right numerically", "[embedding][gradcheck]") {
  nn::Embedding embed(7, 3);
  Tensor ids = from_vector(std::vector<int64_t>{6, 0, 3, 3, 1, 6}, {3, 2});
  REQUIRE(nn::gradcheck(embed, [&](const std::vector<Tensor>&) { return embed(ids); }, {}));
  // The functional form on a transposed (non-contiguous) table.
  Tensor table_t = randn({3, 7}, kFloat64).requires_grad_();
  REQUIRE(gradcheck([&](const std::vector<Tensor>& in) { return F::embedding(ids.t(), in[0].t()); }, {table_t}));
}

TEST_CASE("default initialisation is N(0, 1)", "[embedding]") {
  manual_seed(11);
  nn::Embedding embed(1000, 100);
  std::vector<double> v = embed.weight.to_vector<double>();
  double mean = 0, sq = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  for (double x : v) sq += (x - mean) * (x - mean);
  const double std = std::sqrt(sq / v.size());
  CHECK(std::abs(mean) < 0.01);  // standard error 0.003
  CHECK(std::abs(std - 1.0) < 0.01);
}

TEST_CASE("from_pretrained copies the table and freezes it by default", "[embedding]") {
  Tensor table = tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  auto frozen = nn::Embedding::from_pretrained(table);
  CHECK_FALSE(frozen->weight.requires_grad());
  CHECK(frozen->weight.to_vector<float>() == table.to_vector<float>());
  CHECK_FALSE(frozen->weight.shares_storage(table));
  auto trainable = nn::Embedding::from_pretrained(table, nn::EmbeddingFromPretrainedOptions().freeze(false));
  CHECK(trainable->weight.requires_grad());
  CHECK(trainable->num_parameters(true) == 6);
  // With a padding_idx the given row is kept (as in PyTorch) but gets no gradient.
  auto padded =
      nn::Embedding::from_pretrained(table, nn::EmbeddingFromPretrainedOptions().freeze(false).padding_idx(1));
  CHECK(padded->options.padding_idx() == std::optional<int64_t>(1));
  CHECK(padded->weight.to_vector<float>() == table.to_vector<float>());
  sum((*padded)(from_vector(std::vector<int64_t>{1, 2}, {2}))).backward();
  CHECK(padded->weight.grad().to_vector<float>() == std::vector<float>{0, 0, 0, 0, 1, 1});
}

TEST_CASE("embedding errors name the id and the vocabulary", "[embedding]") {
  nn::Embedding embed(1000, 8);
  REQUIRE_THROWS_WITH(embed(from_vector(std::vector<int64_t>{3, 1005}, {2})),
                      Catch::Contains("token id 1005 is out of range for a vocabulary of 1000"));
  REQUIRE_THROWS_WITH(embed(from_vector(std::vector<int64_t>{-1}, {1})), Catch::Contains("token id -1"));
  REQUIRE_THROWS_WITH(embed(zeros({2}, kFloat32)), Catch::Contains("token ids must be an int64 tensor, got float32"));
  REQUIRE_THROWS_WITH(nn::Embedding(nn::EmbeddingOptions(10, 4).padding_idx(10)),
                      Catch::Contains("padding_idx 10 is out of range"));
}
