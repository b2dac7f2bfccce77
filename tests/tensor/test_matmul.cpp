// kernels::matmul and kernels::gemm against the definition, computed in double
// by a plain triple loop, on every layout BLAS sees: contiguous, transposed
// views, sliced rows and columns, broadcast batches, and vectors.
#include <catch2/catch.hpp>

#include <cmath>

#include "focus.h"

using namespace focus;

namespace {

Tensor random(const Shape& shape, uint64_t seed, DType dtype = kFloat32) {
  Generator gen(seed);
  return randn(shape, dtype, &gen);
}

// C = A @ B by the definition for tensors of >= 2 dims, batch dims broadcast.
// Operands are first expanded to the full batch and copied, so the loop is plain indexing.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  REQUIRE(b.size(-2) == K);
  Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                 Shape(b.shape().begin(), b.shape().end() - 2), "naive");
  Shape a_full = batch, b_full = batch, c_full = batch;
  a_full.insert(a_full.end(), {M, K});
  b_full.insert(b_full.end(), {K, N});
  c_full.insert(c_full.end(), {M, N});
  std::vector<double> av = kernels::contiguous_copy(views::expand(a, a_full)).to_vector<double>();
  std::vector<double> bv = kernels::contiguous_copy(views::expand(b, b_full)).to_vector<double>();
  std::vector<double> cv(shape_numel(c_full), 0.0);
  for (int64_t n = 0; n < shape_numel(batch); ++n)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += av[(n * M + i) * K + k] * bv[(n * K + k) * N + j];
        cv[(n * M + i) * N + j] = s;
      }
  return from_vector(cv, c_full);
}

// Elementwise |got - want| <= tol * (1 + |want|), shapes equal.
void require_close(const Tensor& got, const Tensor& want, double tol) {
  REQUIRE(got.shape() == want.shape());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - w[i]) / (1 + std::abs(w[i])));
  INFO("worst relative error " << worst);
  REQUIRE(worst <= tol);
}

constexpr double kFloatTol = 1e-5;
constexpr double kDoubleTol = 1e-12;

}  // namespace

TEST_CASE("2-D matmul matches the triple loop", "[matmul]") {
  Tensor a = random({37, 29}, 1), b = random({29, 23}, 2);
  Tensor c = kernels::matmul(a, b);
  REQUIRE(c.shape() == Shape{37, 23});
  REQUIRE(c.dtype() == kFloat32);
  require_close(c, naive_matmul(a, b), kFloatTol);

  // A hand-computed one, to pin down the orientation of everything.
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = tensor({1, 0, 0, 1, 2, -1}, {3, 2});
  REQUIRE(kernels::matmul(x, y).to_vector<float>() == std::vector<float>{7, -1, 16, -1});
}

TEST_CASE("transposed views on either side are read as transposes", "[matmul]") {
  Tensor a_t = random({29, 37}, 3), b_t = random({23, 29}, 4);  // storage of aᵀ and bᵀ
  Tensor a = views::transpose(a_t, 0, 1), b = views::transpose(b_t, 0, 1);
  Tensor a_c = kernels::contiguous_copy(a), b_c = kernels::contiguous_copy(b);
  REQUIRE_FALSE(a.is_contiguous());
  Tensor want = naive_matmul(a_c, b_c);
  require_close(kernels::matmul(a, b_c), want, kFloatTol);
  require_close(kernels::matmul(a_c, b), want, kFloatTol);
  require_close(kernels::matmul(a, b), want, kFloatTol);
}

TEST_CASE("sliced and strided inputs", "[matmul]") {
  Tensor big = random({40, 64}, 5);
  // Rows of a wider matrix: unit column stride, leading dimension 64.
  Tensor rows = views::slice(big, 1, 3, 3 + 29, 1);
  // Every other column: no unit stride at all, so it is copied first.
  Tensor strided = views::slice(big, 1, 0, 58, 2);
  // Every other row of a transpose: unit row stride, column stride 128.
  Tensor t_rows = views::slice(views::transpose(big, 0, 1), 0, 0, 64, 2);  // [32, 40]
  Tensor b = random({29, 11}, 6);
  require_close(kernels::matmul(rows, b), naive_matmul(rows, b), kFloatTol);
  require_close(kernels::matmul(strided, b), naive_matmul(strided, b), kFloatTol);
  Tensor c = random({40, 7}, 7);
  require_close(kernels::matmul(t_rows, c), naive_matmul(t_rows, c), kFloatTol);
  // A broadcast (stride-0) operand has rows BLAS cannot address.
  Tensor row = random({1, 29}, 8);
  Tensor repeated = views::expand(row, {5, 29});
  require_close(kernels::matmul(repeated, b), naive_matmul(repeated, b), kFloatTol);
}

TEST_CASE("vector operands follow torch.matmul", "[matmul]") {
  Tensor v = random({6}, 9), w = random({6}, 10);
  SECTION("1-D @ 1-D is a 0-d dot product") {
    Tensor d = kernels::matmul(v, w);
    REQUIRE(d.dim() == 0);
    double want = 0;
    for (int64_t k = 0; k < 6; ++k) want += v.at({k}) * w.at({k});
    REQUIRE(d.item<double>() == Approx(want).epsilon(1e-6));
    // strided and broadcast vectors
    Tensor long_v = random({12}, 11);
    Tensor every_other = views::slice(long_v, 0, 0, 12, 2);
    Tensor ones_v = views::expand(ones({1}), {6});
    double want2 = 0, want3 = 0;
    for (int64_t k = 0; k < 6; ++k) {
      want2 += long_v.at({2 * k}) * w.at({k});
      want3 += w.at({k});
    }
    REQUIRE(kernels::matmul(every_other, w).item<double>() == Approx(want2).epsilon(1e-6));
    REQUIRE(kernels::matmul(ones_v, w).item<double>() == Approx(want3).epsilon(1e-6));
  }
  SECTION("1-D @ 2-D and 2-D @ 1-D drop the vector's dim") {
    Tensor m = random({6, 4}, 12), n = random({5, 6}, 13);
    Tensor vm = kernels::matmul(v, m);
    REQUIRE(vm.shape() == Shape{4});
    require_close(vm, naive_matmul(views::unsqueeze(v, 0), m).reshape({4}), kFloatTol);
    Tensor nv = kernels::matmul(n, v);
    REQUIRE(nv.shape() == Shape{5});
    require_close(nv, naive_matmul(n, views::unsqueeze(v, 1)).reshape({5}), kFloatTol);
    // the matrix-vector paths with the matrix transposed
    Tensor m_t = views::transpose(random({4, 6}, 14), 0, 1);
    Tensor n_t = views::transpose(random({6, 5}, 15), 0, 1);
    require_close(kernels::matmul(v, m_t), naive_matmul(views::unsqueeze(v, 0), m_t).reshape({4}), kFloatTol);
    require_close(kernels::matmul(n_t, v), naive_matmul(n_t, views::unsqueeze(v, 1)).reshape({5}), kFloatTol);
  }
  SECTION("vectors against batches") {
    Tensor batch_right = random({3, 6, 4}, 16), batch_left = random({2, 5, 6}, 17);
    Tensor vb = kernels::matmul(v, batch_right);
    REQUIRE(vb.shape() == Shape{3, 4});
    require_close(vb, naive_matmul(views::unsqueeze(v, 0), batch_right).reshape({3, 4}), kFloatTol);
    Tensor bv = kernels::matmul(batch_left, v);
    REQUIRE(bv.shape() == Shape{2, 5});
    require_close(bv, naive_matmul(batch_left, views::unsqueeze(v, 1)).reshape({2, 5}), kFloatTol);
  }
}

TEST_CASE("batched matmul broadcasts batch dims", "[matmul]") {
  SECTION("[2, 1, 3, 4] @ [5, 4, 6] -> [2, 5, 3, 6]") {
    Tensor a = random({2, 1, 3, 4}, 20), b = random({5, 4, 6}, 21);
    Tensor c = kernels::matmul(a, b);
    REQUIRE(c.shape() == Shape{2, 5, 3, 6});
    require_close(c, naive_matmul(a, b), kFloatTol);
  }
  SECTION("a batch against one shared matrix (rows of the batch folded into one product)") {
    Tensor a = random({4, 7, 5}, 22), b = random({5, 3}, 23);
    require_close(kernels::matmul(a, b), naive_matmul(a, b), kFloatTol);
    // shared matrix given transposed
    Tensor b_t = views::transpose(random({3, 5}, 24), 0, 1);
    require_close(kernels::matmul(a, b_t), naive_matmul(a, b_t), kFloatTol);
  }
  SECTION("one matrix against a batch") {
    Tensor a = random({7, 5}, 25), b = random({4, 5, 3}, 26);
    require_close(kernels::matmul(a, b), naive_matmul(a, b), kFloatTol);
  }
  SECTION("batches laid out in any order, and expanded batches") {
    // [M, B, K] permuted to [B, M, K]: batch stride K, row stride B*K (no uniform batch stride with rows).
    Tensor a = views::permute(random({3, 4, 5}, 27), {1, 0, 2});
    Tensor b = views::expand(random({1, 5, 2}, 28), {4, 5, 2});
    require_close(kernels::matmul(a, b), naive_matmul(a, b), kFloatTol);
    // batch dims that do not collapse into one stride: a slice of a 4-D tensor
    Tensor c = views::slice(random({3, 4, 5, 6}, 29), 1, 0, 4, 2);  // [3, 2, 5, 6]
    Tensor d = views::transpose(random({3, 2, 2, 6}, 30), -1, -2);  // [3, 2, 6, 2]
    require_close(kernels::matmul(c, d), naive_matmul(c, d), kFloatTol);
  }
  SECTION("many small matrices (one product per thread)") {
    set_num_threads(2);
    Tensor a = random({3000, 4, 5}, 31), b = random({3000, 5, 3}, 32);
    require_close(kernels::matmul(a, b), naive_matmul(a, b), kFloatTol);
  }
  SECTION("few large matrices (threaded by BLAS)") {
    Tensor a = random({2, 130, 120}, 33), b = random({2, 120, 70}, 34);
    require_close(kernels::matmul(a, b), naive_matmul(a, b), 1e-4);
  }
}

TEST_CASE("float64 matmul", "[matmul]") {
  Tensor a = random({2, 9, 13}, 40, kFloat64), b = views::transpose(random({11, 13}, 41, kFloat64), 0, 1);
  Tensor c = kernels::matmul(a, b);
  REQUIRE(c.dtype() == kFloat64);
  require_close(c, naive_matmul(a, b), kDoubleTol);
  Tensor v = random({13}, 42, kFloat64);
  double squares = 0;
  for (double x : v.to_vector<double>()) squares += x * x;
  REQUIRE(kernels::matmul(v, v).item<double>() == Approx(squares).epsilon(1e-14));
}

TEST_CASE("empty dims give empty or zero results", "[matmul]") {
  REQUIRE(kernels::matmul(zeros({0, 3}), zeros({3, 4})).shape() == Shape{0, 4});
  Tensor c = kernels::matmul(ones({2, 0}), ones({0, 3}));  // an empty sum
  REQUIRE(c.shape() == Shape{2, 3});
  REQUIRE(c.to_vector<float>() == std::vector<float>(6, 0.0f));
  REQUIRE(kernels::matmul(ones({0}), ones({0})).item<double>() == 0.0);
}

TEST_CASE("matmul errors name the op and both shapes", "[matmul]") {
  REQUIRE_THROWS_WITH(kernels::matmul(zeros({2, 3}), zeros({4, 5})),
                      "matmul: shapes [2, 3] and [4, 5] cannot be multiplied");
  REQUIRE_THROWS_WITH(kernels::matmul(zeros({3}), zeros({4})), "matmul: shapes [3] and [4] cannot be multiplied");
  REQUIRE_THROWS_WITH(kernels::matmul(zeros({2, 2, 3}), zeros({4})),
                      "matmul: shapes [2, 2, 3] and [4] cannot be multiplied");
  REQUIRE_THROWS_WITH(kernels::matmul(zeros({2, 3, 4}), zeros({3, 4, 5})),
                      Catch::Contains("matmul: batch dims of shapes [2, 3, 4] and [3, 4, 5] cannot be broadcast"));
  REQUIRE_THROWS_WITH(kernels::matmul(zeros({2, 2}, kInt64), zeros({2, 2}, kInt64)),
                      Catch::Contains("matmul: expected float32 or float64 tensors, got int64 and int64"));
  REQUIRE_THROWS_WITH(kernels::matmul(zeros({2, 2}), zeros({2, 2}, kFloat64)),
                      Catch::Contains("matmul: expected tensors of one dtype, got float32 and float64"));
  REQUIRE_THROWS_WITH(kernels::matmul(scalar_tensor(1.0), zeros({2})),
                      Catch::Contains("matmul: both operands need at least 1 dim"));
}

TEST_CASE("gemm: alpha, beta, transpose flags and strided outputs", "[matmul][gemm]") {
  Tensor a = random({5, 4}, 50, kFloat64), b = random({6, 4}, 51, kFloat64);  // a @ bᵀ: [5, 6]
  Tensor c0 = random({5, 6}, 52, kFloat64);
  Tensor want = kernels::add(kernels::mul(naive_matmul(a, kernels::contiguous_copy(views::transpose(b, 0, 1))),
                                          scalar_tensor(2.0, kFloat64)),
                             kernels::mul(c0, scalar_tensor(0.5, kFloat64)));
  SECTION("row-major output") {
    Tensor c = c0.clone();
    kernels::gemm(a, false, b, true, c, 2.0, 0.5);
    require_close(c, want, kDoubleTol);
  }
  SECTION("transpose flags on transposed views cancel out") {
    Tensor c = c0.clone();
    kernels::gemm(views::transpose(kernels::contiguous_copy(views::transpose(a, 0, 1)), 0, 1), false,
                  kernels::contiguous_copy(views::transpose(b, 0, 1)), false, c, 2.0, 0.5);
    require_close(c, want, kDoubleTol);
    Tensor c2 = c0.clone();
    kernels::gemm(kernels::contiguous_copy(views::transpose(a, 0, 1)), true, b, true, c2, 2.0, 0.5);
    require_close(c2, want, kDoubleTol);
  }
  SECTION("column-major (transposed) output") {
    Tensor storage = kernels::contiguous_copy(views::transpose(c0, 0, 1));  // [6, 5]
    Tensor c = views::transpose(storage, 0, 1);                            // [5, 6], unit row stride
    kernels::gemm(a, false, b, true, c, 2.0, 0.5);
    require_close(c, want, kDoubleTol);
  }
  SECTION("output with no unit stride is computed aside and copied back") {
    Tensor storage = zeros({10, 12}, kFloat64);
    Tensor c = views::slice(views::slice(storage, 0, 0, 10, 2), 1, 0, 12, 2);  // [5, 6], strides (24, 2)
    c.copy_(c0);
    kernels::gemm(a, false, b, true, c, 2.0, 0.5);
    require_close(c, want, kDoubleTol);
    REQUIRE(storage.at({1, 1}) == 0.0);  // the gaps are untouched
  }
  SECTION("errors") {
    Tensor c = zeros({5, 6}, kFloat64);
    REQUIRE_THROWS_WITH(kernels::gemm(a, false, b, false, c, 1.0, 0.0),
                        Catch::Contains("gemm: shapes [5, 4] and [6, 4] cannot be multiplied"));
    REQUIRE_THROWS_WITH(kernels::gemm(a, false, b, true, zeros({5, 5}, kFloat64), 1.0, 0.0),
                        Catch::Contains("gemm: out has shape [5, 5], expected [5, 6]"));
  }
}

// float32 rounding grows with the depth of the sums: 2e-5 up to K = 256, in proportion beyond.
// (OpenBLAS needs as much: 1.2e-5 at K = 300, 2.2e-5 at K = 520.)
double depth_tolerance(int64_t K) { return 2 * kFloatTol * std::max<double>(1.0, static_cast<double>(K) / 256.0); }

// Float32 products with M·N·K ≥ 2¹⁸ run on focus's own panel GEMM in the AVX-512 build
// (tensor/cpu/panel_gemm.h; a transposed a up to depth 256; the `avx2` and `default` capabilities run
// them on OpenBLAS). The shapes put rows, columns and depth across every edge it has:
// - rows split between threads (97, 200) or panels split (13, 64 rows);
// - many columns, each thread packing its own blocks of them as it goes (1000, 1024);
// - columns that leave a partial panel and vector (130, 300, 50, 1000);
// - a depth longer than one 256 slice, and not a multiple of the 8×8 transposes that pack a transposed
//   b (259, 520, 1000);
// - a transposed a over depths of 64 to 256 (64, 70 and 250 rows, the last two row blocks per thread).
// β = 0 must not read the output (it starts as NaN); an output with a row stride wider than its width
// keeps its gaps.
TEST_CASE("float32 gemm on the panel path: every tile, panel and depth edge", "[matmul][gemm]") {
  struct Case { int64_t M, N, K; };
  for (const Case& shape : {Case{97, 130, 520}, Case{13, 300, 259}, Case{200, 50, 1000}, Case{64, 1024, 256},
                            Case{70, 1000, 100}, Case{250, 200, 64}}) {
    for (int transposes = 0; transposes < 4; ++transposes) {
      const bool transpose_a = transposes & 1, transpose_b = transposes & 2;
      for (double beta : {0.0, 0.5}) {
        DYNAMIC_SECTION("M " << shape.M << " N " << shape.N << " K " << shape.K << " transposed a " << transpose_a
                             << " transposed b " << transpose_b << " beta " << beta) {
          const int64_t M = shape.M, N = shape.N, K = shape.K;
          Tensor a = random({M, K}, 60), b = random({K, N}, 61), c0 = random({M, N}, 62);
          // Stored transposed ([K, M], [N, K]) when the flag says so.
          Tensor a_arg = transpose_a ? kernels::contiguous_copy(views::transpose(a, 0, 1)) : a;
          Tensor b_arg = transpose_b ? kernels::contiguous_copy(views::transpose(b, 0, 1)) : b;
          Tensor storage = full({M, N + 5}, beta == 0.0 ? std::nan("") : 7.0);
          Tensor c = views::slice(storage, 1, 0, N, 1);  // row stride N + 5
          if (beta != 0.0) c.copy_(c0);
          kernels::gemm(a_arg, transpose_a, b_arg, transpose_b, c, 1.5, beta);
          Tensor want = kernels::mul(naive_matmul(a, b), scalar_tensor(1.5, kFloat64));
          if (beta != 0.0) want = kernels::add(want, kernels::mul(c0.to(kFloat64), scalar_tensor(beta, kFloat64)));
          require_close(c, want, depth_tolerance(K));
          Tensor gaps = views::slice(storage, 1, N, N + 5, 1);
          if (beta == 0.0)
            CHECK(std::isnan(gaps.to_vector<float>()[0]));
          else
            CHECK(kernels::amax(gaps, {}, false).item<double>() == 7.0);
        }
      }
    }
  }
  // And through matmul, whose output is fresh memory (never cleared first).
  Tensor a = random({150, 300}, 63), b = random({300, 70}, 64);
  require_close(kernels::matmul(a, b), naive_matmul(a, b), depth_tolerance(300));
}
