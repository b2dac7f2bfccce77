// linalg::eigh against matrices with known eigen-decompositions, and A = V·diag(λ)·Vᵀ on random ones.
#include <catch2/catch.hpp>

#include "focus.h"
#include "tensor/linalg.h"
#include "../support.h"

using namespace focus;

TEST_CASE("eigh finds the eigenvalues of a known matrix, ascending", "[linalg]") {
  // [[2, 1], [1, 2]]: λ = 1 with (1, −1)/√2, λ = 3 with (1, 1)/√2.
  linalg::EigenDecomposition e = linalg::eigh(tensor({2.0, 1.0, 1.0, 2.0}, {2, 2}, kFloat64));
  CHECK(e.eigenvalues.at({0}) == Approx(1.0).margin(1e-15));
  CHECK(e.eigenvalues.at({1}) == Approx(3.0).margin(1e-15));
  const double r = 1 / std::sqrt(2.0);
  CHECK(std::abs(e.eigenvectors.at({0, 1})) == Approx(r));
  CHECK(e.eigenvectors.at({0, 1}) * e.eigenvectors.at({1, 1}) == Approx(0.5));
  CHECK(e.eigenvectors.at({0, 0}) * e.eigenvectors.at({1, 0}) == Approx(-0.5));
}

TEST_CASE("eigh reconstructs random symmetric matrices with orthonormal vectors", "[linalg]") {
  Generator gen(3);
  for (int64_t n : {1, 3, 12, 40}) {
    INFO("n = " << n);
    Tensor b = randn({n, n}, kFloat64, &gen);
    Tensor a = b + b.transpose(0, 1);
    linalg::EigenDecomposition e = linalg::eigh(a);
    Tensor v = e.eigenvectors;
    Tensor rebuilt = matmul(v * e.eigenvalues.unsqueeze(0), v.transpose(0, 1));
    CHECK(testing::max_abs_diff(rebuilt, a) <= 1e-11);
    CHECK(testing::max_abs_diff(matmul(v.transpose(0, 1), v), eye(n, kFloat64)) <= 1e-12);
    const double* lambda = static_cast<const double*>(e.eigenvalues.data_ptr());
    for (int64_t i = 1; i < n; ++i) CHECK(lambda[i - 1] <= lambda[i]);
  }
}

TEST_CASE("eigh refuses what is not a finite square matrix", "[linalg]") {
  REQUIRE_THROWS_WITH(linalg::eigh(zeros({2, 3})), Catch::Contains("square matrix [n, n], got shape [2, 3]"));
  REQUIRE_THROWS_WITH(linalg::eigh(tensor({1.0, NAN, NAN, 1.0}, {2, 2})), Catch::Contains("element [1, 0] is nan"));
}
