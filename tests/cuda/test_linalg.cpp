// The CUDA matmul, gemm, conv2d and pooling kernels (tensor/cuda/matmul.cu, conv.cu,
// pool.cu) against the CPU's on the same random inputs: every operand layout cuBLAS is
// given (vectors, transposed views, broadcast and stride-0 batches, layouts that must be
// copied), every convolution geometry (stride, dilation, groups, asymmetric padding, 1×1,
// batches split over several workspace chunks), every pooling window rule, and the
// autograd ops' backward passes on GPU leaves. Without a GPU these report "skipped".
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "focus.h"
#include "tests/cuda/cuda_check.h"
#include "tests/support.h"

using namespace focus;
using focus::testing::check_parity;
using focus::testing::gpu;
using focus::testing::kElementwiseTolerance;
using focus::testing::kReductionTolerance;
using focus::testing::conv_params;
using focus::testing::random;
using focus::testing::require_gpu_or_skip;
using kernels::Conv2dParams;
using kernels::Pool2dParams;

namespace {

// GEMM-based results in float32 agree to kReductionTolerance; float64 far closer.
double gemm_tolerance(DType dtype) { return dtype == kFloat32 ? kReductionTolerance : 1e-10; }

std::string with_dtype(const std::string& what, DType dtype) { return what + " (" + std::string(dtype_name(dtype)) + ")"; }

using View = std::function<Tensor(const Tensor&)>;
Tensor itself(const Tensor& t) { return t; }

// ---- matmul -------------------------------------------------------------------------------

// Operands are stored with these shapes, then viewed (transposed, sliced, expanded) on
// their own device, so the GPU sees the same strides as the CPU.
struct MatmulCase {
  std::string name;
  Shape a_shape, b_shape;
  View a_view = itself, b_view = itself;
};

std::vector<MatmulCase> matmul_cases() {
  return {
      {"1-D · 1-D", {37}, {37}},
      {"1-D · 2-D", {19}, {19, 23}},
      {"2-D · 1-D", {21, 19}, {19}},
      {"2-D", {37, 29}, {29, 45}},
      {"batched 3-D", {3, 17, 13}, {3, 13, 11}},
      {"broadcast batch [2, 1, 4, 5] @ [3, 5, 6]", {2, 1, 4, 5}, {3, 5, 6}},
      {"broadcast batch on both sides [3, 1, 4, 5] @ [1, 2, 5, 6]", {3, 1, 4, 5}, {1, 2, 5, 6}},
      {"transposed a and b", {29, 37}, {45, 29}, [](const Tensor& t) { return t.t(); },
       [](const Tensor& t) { return t.t(); }},
      {"batched, transposed a and b", {3, 13, 17}, {3, 11, 13}, [](const Tensor& t) { return t.transpose(-2, -1); },
       [](const Tensor& t) { return t.transpose(-2, -1); }},
      {"3-D @ 2-D (one tall product)", {4, 7, 9}, {9, 5}},
      {"transposed 3-D @ 2-D", {4, 9, 7}, {9, 5}, [](const Tensor& t) { return t.transpose(-2, -1); }},
      {"2-D @ 3-D", {7, 9}, {4, 9, 5}},
      {"expanded batch (stride 0)", {1, 6, 8}, {5, 8, 3}, [](const Tensor& t) { return t.expand({5, 6, 8}); }},
      {"strided rows and columns (copied first)", {20, 30}, {15, 7},
       [](const Tensor& t) { return t.slice(0, 0, 20, 2).slice(1, 0, 30, 2); }},
      {"column slice (row stride > columns)", {12, 40}, {17, 8}, [](const Tensor& t) { return t.slice(1, 3, 20); }},
      {"strided vector · 2-D", {40}, {20, 6}, [](const Tensor& t) { return t.slice(0, 0, 40, 2); }},
      {"1-D · batched", {5}, {2, 5, 3}},
      {"batched · 1-D", {2, 3, 5}, {5}},
      {"rows of one (M = 1) in a batch", {4, 1, 9}, {4, 9, 6}},
  };
}

}  // namespace

TEST_CASE("matmul on the GPU matches the CPU for every layout", "[cuda][matmul]") {
  require_gpu_or_skip();
  uint64_t seed = 100;
  for (const MatmulCase& c : matmul_cases()) {
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor a = random(c.a_shape, ++seed, dtype), b = random(c.b_shape, ++seed, dtype);
      const Tensor want = kernels::matmul(c.a_view(a), c.b_view(b));
      const Tensor got = kernels::matmul(c.a_view(a.to(gpu())), c.b_view(b.to(gpu())));
      REQUIRE(got.shape() == want.shape());
      check_parity(want, got, gemm_tolerance(dtype), with_dtype(c.name, dtype));
    }
  }
}

TEST_CASE("matmul's backward on the GPU matches the CPU", "[cuda][matmul]") {
  require_gpu_or_skip();
  uint64_t seed = 200;
  for (const MatmulCase& c : matmul_cases()) {
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor a = random(c.a_shape, ++seed, dtype), b = random(c.b_shape, ++seed, dtype);
      Tensor a_cpu = a.clone().requires_grad_(), b_cpu = b.clone().requires_grad_();
      Tensor a_gpu = a.to(gpu()).requires_grad_(), b_gpu = b.to(gpu()).requires_grad_();
      Tensor y_cpu = matmul(c.a_view(a_cpu), c.b_view(b_cpu));
      Tensor y_gpu = matmul(c.a_view(a_gpu), c.b_view(b_gpu));
      const Tensor dy = random(y_cpu.shape(), ++seed, dtype);
      y_cpu.backward(dy);
      y_gpu.backward(dy.to(gpu()));
      check_parity(y_cpu, y_gpu, gemm_tolerance(dtype), with_dtype(c.name + ": y", dtype));
      check_parity(a_cpu.grad(), a_gpu.grad(), gemm_tolerance(dtype), with_dtype(c.name + ": da", dtype));
      check_parity(b_cpu.grad(), b_gpu.grad(), gemm_tolerance(dtype), with_dtype(c.name + ": db", dtype));
    }
  }
}

TEST_CASE("matmul on the GPU gives the CPU's error messages", "[cuda][matmul]") {
  require_gpu_or_skip();
  const Tensor a = zeros({2, 3}, TensorOptions(kFloat32).with_device(gpu()));
  const Tensor b = zeros({4, 5}, TensorOptions(kFloat32).with_device(gpu()));
  REQUIRE_THROWS_WITH(kernels::matmul(a, b), "matmul: shapes [2, 3] and [4, 5] cannot be multiplied");
  REQUIRE_THROWS_WITH(kernels::matmul(a, zeros({3, 4})), Catch::Contains("expected all tensors on one device"));
  REQUIRE_THROWS_WITH(kernels::matmul(a, zeros({3, 4}, TensorOptions(kFloat64).with_device(gpu()))),
                      Catch::Contains("expected tensors of one dtype"));
}

TEST_CASE("linear (gemm onto the bias) and its backward on the GPU match the CPU", "[cuda][matmul]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor x = random({5, 7, 9}, 1, dtype), w = random({6, 9}, 2, dtype), b = random({6}, 3, dtype);
    Tensor x_cpu = x.clone().requires_grad_(), w_cpu = w.clone().requires_grad_(), b_cpu = b.clone().requires_grad_();
    Tensor x_gpu = x.to(gpu()).requires_grad_(), w_gpu = w.to(gpu()).requires_grad_(),
           b_gpu = b.to(gpu()).requires_grad_();
    Tensor y_cpu = linear(x_cpu, w_cpu, b_cpu), y_gpu = linear(x_gpu, w_gpu, b_gpu);
    const Tensor dy = random(y_cpu.shape(), 4, dtype);
    y_cpu.backward(dy);
    y_gpu.backward(dy.to(gpu()));
    const double tol = gemm_tolerance(dtype);
    check_parity(y_cpu, y_gpu, tol, with_dtype("linear y", dtype));
    check_parity(x_cpu.grad(), x_gpu.grad(), tol, with_dtype("linear dx", dtype));
    check_parity(w_cpu.grad(), w_gpu.grad(), tol, with_dtype("linear dw", dtype));
    check_parity(b_cpu.grad(), b_gpu.grad(), tol, with_dtype("linear db", dtype));
  }
}

// ---- gemm ---------------------------------------------------------------------------------

TEST_CASE("gemm on the GPU matches the CPU: alpha, beta, transposes, any output layout", "[cuda][gemm]") {
  require_gpu_or_skip();
  const int64_t M = 13, K = 17, N = 11;
  // The output as a view of a stored tensor: plain, transposed (column-major), or with
  // strided rows and columns (cuBLAS cannot write it: computed aside and copied back).
  struct OutLayout {
    std::string name;
    Shape stored;
    View view;
  };
  const std::vector<OutLayout> outs = {
      {"row-major out", {M, N}, itself},
      {"transposed out", {N, M}, [](const Tensor& t) { return t.t(); }},
      {"strided out", {2 * M, 2 * N}, [](const Tensor& t) { return t.slice(0, 0, 2 * M, 2).slice(1, 0, 2 * N, 2); }},
  };
  uint64_t seed = 300;
  for (DType dtype : {kFloat32, kFloat64})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (const OutLayout& out : outs)
          for (double beta : {0.0, -1.3}) {
            const Tensor a = random(ta ? Shape{K, M} : Shape{M, K}, ++seed, dtype);
            const Tensor b = random(tb ? Shape{N, K} : Shape{K, N}, ++seed, dtype);
            const Tensor c = random(out.stored, ++seed, dtype);
            Tensor c_cpu = c.clone(), c_gpu = c.to(gpu());
            kernels::gemm(a, ta, b, tb, out.view(c_cpu), 0.7, beta);
            kernels::gemm(a.to(gpu()), ta, b.to(gpu()), tb, out.view(c_gpu), 0.7, beta);
            // The whole stored tensor: elements outside a strided view must stay untouched.
            check_parity(c_cpu, c_gpu, gemm_tolerance(dtype),
                         with_dtype(out.name + (ta ? ", a transposed" : "") + (tb ? ", b transposed" : "") +
                                        ", beta " + std::to_string(beta),
                                    dtype));
          }
}

TEST_CASE("gemm on the GPU reads transposed views and handles an empty inner dim", "[cuda][gemm]") {
  require_gpu_or_skip();
  for (DType dtype : {kFloat32, kFloat64}) {
    // a given as a transposed view (not through the flag), b as a column slice.
    const Tensor a_stored = random({9, 6}, 1, dtype), b_stored = random({9, 20}, 2, dtype);
    const Tensor c = random({6, 7}, 3, dtype);
    Tensor c_cpu = c.clone(), c_gpu = c.to(gpu());
    kernels::gemm(a_stored.t(), false, b_stored.slice(1, 2, 9), false, c_cpu, 1.5, 0.5);
    kernels::gemm(a_stored.to(gpu()).t(), false, b_stored.to(gpu()).slice(1, 2, 9), false, c_gpu, 1.5, 0.5);
    check_parity(c_cpu, c_gpu, gemm_tolerance(dtype), with_dtype("transposed view and column slice", dtype));

    // K = 0: out = beta · out (and zeros for beta = 0).
    for (double beta : {2.5, 0.0}) {
      const Tensor empty_a = zeros({4, 0}, dtype), empty_b = zeros({0, 5}, dtype);
      const Tensor d = random({4, 5}, 4, dtype);
      Tensor d_cpu = d.clone(), d_gpu = d.to(gpu());
      kernels::gemm(empty_a, false, empty_b, false, d_cpu, 1.0, beta);
      kernels::gemm(empty_a.to(gpu()), false, empty_b.to(gpu()), false, d_gpu, 1.0, beta);
      check_parity(d_cpu, d_gpu, kElementwiseTolerance, with_dtype("K = 0, beta " + std::to_string(beta), dtype));
    }
  }
}

// ---- conv2d -------------------------------------------------------------------------------

namespace {

struct ConvCase {
  std::string name;
  int64_t N, C, H, W, OC, KH, KW;
  Conv2dParams p;
  bool bias = true;
  bool float64 = true;  // also run in float64 (not for the largest case: slow on the CPU)
};

std::vector<ConvCase> conv_cases() {
  Conv2dParams asymmetric = conv_params(1, 1, 1, 1);  // padding='same' for a 4×4 kernel
  asymmetric.pad_bottom = asymmetric.pad_right = 2;
  Conv2dParams uneven = conv_params(2, 1, 0, 1);
  uneven.dilation_w = 2;
  Conv2dParams lopsided = conv_params(2, 3, 0, 0);  // every side padded differently
  lopsided.pad_top = 2, lopsided.pad_bottom = 0, lopsided.pad_left = 1, lopsided.pad_right = 3;
  return {
      {"3->32, 3x3, padding 1", 5, 3, 17, 15, 32, 3, 3, conv_params(1, 1, 1, 1)},
      {"32->64, 3x3, padding 1, on 16x16", 6, 32, 16, 16, 64, 3, 3, conv_params(1, 1, 1, 1)},
      {"stride 2, padding 1", 3, 6, 11, 12, 10, 3, 3, conv_params(2, 2, 1, 1)},
      {"stride 2, no bias", 3, 2, 9, 8, 5, 3, 3, conv_params(2, 2, 1, 1), false},
      {"dilation 2, padding 2", 2, 4, 12, 11, 6, 3, 3, conv_params(1, 1, 2, 2, 2)},
      {"groups 2", 3, 8, 9, 10, 6, 3, 3, conv_params(1, 1, 1, 1, 1, 2)},
      {"depthwise, one image (GEMMs batched over groups)", 1, 4, 9, 8, 8, 3, 3, conv_params(1, 1, 1, 1, 1, 4)},
      {"depthwise, two images, three groups", 2, 3, 7, 6, 6, 3, 3, conv_params(1, 1, 1, 1, 1, 3)},
      {"asymmetric padding (same, 4x4 kernel)", 2, 3, 8, 9, 5, 4, 4, asymmetric},
      {"every side padded differently, stride (2, 3)", 2, 3, 10, 13, 4, 3, 2, lopsided},
      {"2x3 kernel, stride (2, 1), padding (0, 1), dilation (1, 2)", 2, 3, 9, 8, 4, 2, 3, uneven},
      {"stride 3 > kernel 2 (pixels no window reads)", 2, 3, 11, 10, 4, 2, 2, conv_params(3, 3, 0, 0), false},
      {"1x1 (no im2col)", 4, 16, 7, 9, 24, 1, 1, conv_params(1, 1, 0, 0)},
      {"1x1 with groups, no bias", 3, 8, 5, 7, 6, 1, 1, conv_params(1, 1, 0, 0, 1, 2), false},
      {"1x1, stride 2", 2, 6, 9, 8, 5, 1, 1, conv_params(2, 2, 0, 0)},
      // 576 column rows × 4096 columns × 4 bytes = 9 MiB per image: 28 images per 256 MiB
      // workspace chunk, so 64 images take three chunks (28, 28, 8).
      {"several workspace chunks", 64, 64, 64, 64, 16, 3, 3, conv_params(1, 1, 1, 1), true, false},
  };
}

}  // namespace

TEST_CASE("conv2d forward and all three gradients on the GPU match the CPU", "[cuda][conv2d]") {
  require_gpu_or_skip();
  uint64_t seed = 400;
  for (const ConvCase& c : conv_cases()) {
    for (DType dtype : {kFloat32, kFloat64}) {
      if (dtype == kFloat64 && !c.float64) continue;
      const Tensor x = random({c.N, c.C, c.H, c.W}, ++seed, dtype);
      const Tensor w = random({c.OC, c.C / c.p.groups, c.KH, c.KW}, ++seed, dtype);
      const Tensor b = c.bias ? random({c.OC}, ++seed, dtype) : Tensor();
      const Tensor x_gpu = x.to(gpu()), w_gpu = w.to(gpu()), b_gpu = c.bias ? b.to(gpu()) : Tensor();
      const double tol = gemm_tolerance(dtype);

      const Tensor y = kernels::conv2d(x, w, b, c.p);
      check_parity(y, kernels::conv2d(x_gpu, w_gpu, b_gpu, c.p), tol, with_dtype(c.name + ": y", dtype));

      const Tensor dy = random(y.shape(), ++seed, dtype), dy_gpu = dy.to(gpu());
      const kernels::Conv2dGrads want = kernels::conv2d_backward(dy, x, w, c.p, true, true, true);
      const kernels::Conv2dGrads got = kernels::conv2d_backward(dy_gpu, x_gpu, w_gpu, c.p, true, true, true);
      check_parity(want.input, got.input, tol, with_dtype(c.name + ": dx", dtype));
      check_parity(want.weight, got.weight, tol, with_dtype(c.name + ": dw", dtype));
      check_parity(want.bias, got.bias, tol, with_dtype(c.name + ": db", dtype));

      // One gradient at a time takes other paths (no shared workspace; a 1×1 dx straight into dx).
      const kernels::Conv2dGrads input_only = kernels::conv2d_backward(dy_gpu, x_gpu, w_gpu, c.p, true, false, false);
      REQUIRE_FALSE(input_only.weight.defined());
      REQUIRE_FALSE(input_only.bias.defined());
      check_parity(want.input, input_only.input, tol, with_dtype(c.name + ": dx alone", dtype));
      const kernels::Conv2dGrads weight_only =
          kernels::conv2d_backward(dy_gpu, x_gpu, w_gpu, c.p, false, true, false);
      REQUIRE_FALSE(weight_only.input.defined());
      check_parity(want.weight, weight_only.weight, tol, with_dtype(c.name + ": dw alone", dtype));
    }
  }
}

TEST_CASE("conv2d on the GPU reads non-contiguous inputs and weights", "[cuda][conv2d]") {
  require_gpu_or_skip();
  const Conv2dParams p = conv_params(1, 2, 1, 0);
  const Tensor x_stored = random({3, 4, 9, 7}, 1, kFloat32), w_stored = random({5, 4, 2, 3}, 2, kFloat32);
  auto x_view = [](const Tensor& t) { return t.transpose(2, 3); };  // [3, 4, 7, 9]
  auto w_view = [](const Tensor& t) { return t.transpose(2, 3); };  // [5, 4, 3, 2]
  const Tensor y = kernels::conv2d(x_view(x_stored), w_view(w_stored), Tensor(), p);
  const Tensor y_gpu = kernels::conv2d(x_view(x_stored.to(gpu())), w_view(w_stored.to(gpu())), Tensor(), p);
  check_parity(y, y_gpu, kReductionTolerance, "transposed input and weight");
  const Tensor dy_stored = random({y.size(0), y.size(1), y.size(3), y.size(2)}, 3, kFloat32);
  const kernels::Conv2dGrads want =
      kernels::conv2d_backward(dy_stored.transpose(2, 3), x_view(x_stored), w_view(w_stored), p, true, true, true);
  const kernels::Conv2dGrads got = kernels::conv2d_backward(
      dy_stored.to(gpu()).transpose(2, 3), x_view(x_stored.to(gpu())), w_view(w_stored.to(gpu())), p, true, true, true);
  check_parity(want.input, got.input, kReductionTolerance, "transposed: dx");
  check_parity(want.weight, got.weight, kReductionTolerance, "transposed: dw");
  check_parity(want.bias, got.bias, kReductionTolerance, "transposed: db");
}

TEST_CASE("the conv2d autograd op's backward on the GPU matches the CPU", "[cuda][conv2d]") {
  require_gpu_or_skip();
  struct OpCase {
    std::string name;
    Shape x, w;
    std::pair<int64_t, int64_t> stride, padding, dilation;
    int64_t groups;
    std::pair<int64_t, int64_t> extra_padding;
  };
  const std::vector<OpCase> cases = {
      {"3x3, padding 1", {4, 3, 12, 11}, {8, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, {0, 0}},
      {"stride 2, dilation 2, groups 2", {2, 4, 13, 12}, {6, 2, 3, 3}, {2, 2}, {2, 2}, {2, 2}, 2, {0, 0}},
      {"4x4 'same' (asymmetric)", {2, 3, 8, 9}, {5, 3, 4, 4}, {1, 1}, {1, 1}, {1, 1}, 1, {1, 1}},
      {"1x1", {3, 6, 5, 7}, {4, 6, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, {0, 0}},
  };
  uint64_t seed = 500;
  for (const OpCase& c : cases) {
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor x = random(c.x, ++seed, dtype), w = random(c.w, ++seed, dtype), b = random({c.w[0]}, ++seed, dtype);
      Tensor x_cpu = x.clone().requires_grad_(), w_cpu = w.clone().requires_grad_(),
             b_cpu = b.clone().requires_grad_();
      Tensor x_gpu = x.to(gpu()).requires_grad_(), w_gpu = w.to(gpu()).requires_grad_(),
             b_gpu = b.to(gpu()).requires_grad_();
      Tensor y_cpu = conv2d(x_cpu, w_cpu, b_cpu, c.stride, c.padding, c.dilation, c.groups, c.extra_padding);
      Tensor y_gpu = conv2d(x_gpu, w_gpu, b_gpu, c.stride, c.padding, c.dilation, c.groups, c.extra_padding);
      const Tensor dy = random(y_cpu.shape(), ++seed, dtype);
      y_cpu.backward(dy);
      y_gpu.backward(dy.to(gpu()));
      const double tol = gemm_tolerance(dtype);
      check_parity(y_cpu, y_gpu, tol, with_dtype(c.name + ": y", dtype));
      check_parity(x_cpu.grad(), x_gpu.grad(), tol, with_dtype(c.name + ": dx", dtype));
      check_parity(w_cpu.grad(), w_gpu.grad(), tol, with_dtype(c.name + ": dw", dtype));
      check_parity(b_cpu.grad(), b_gpu.grad(), tol, with_dtype(c.name + ": db", dtype));
    }
  }
}

TEST_CASE("conv2d on the GPU gives the CPU's error messages", "[cuda][conv2d]") {
  require_gpu_or_skip();
  const TensorOptions on_gpu = TensorOptions(kFloat32).with_device(gpu());
  const Tensor x = zeros({1, 4, 5, 5}, on_gpu);
  REQUIRE_THROWS_WITH(kernels::conv2d(x, zeros({2, 4, 3, 3}), Tensor(), Conv2dParams{}),
                      Catch::Contains("expected all tensors on one device"));
  REQUIRE_THROWS_WITH(kernels::conv2d(x, zeros({2, 3, 3, 3}, on_gpu), Tensor(), Conv2dParams{}),
                      Catch::Contains("do not match"));
}

// ---- pooling ------------------------------------------------------------------------------

namespace {

Pool2dParams pool_params(int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                         int64_t pad_w) {
  Pool2dParams p;
  p.kernel_h = kernel_h, p.kernel_w = kernel_w;
  p.stride_h = stride_h, p.stride_w = stride_w;
  p.pad_h = pad_h, p.pad_w = pad_w;
  return p;
}

// All values distinct (a shuffled ramp in [−0.5, 0.5)), so every window has one maximum.
Tensor distinct(const Shape& shape, uint64_t seed, DType dtype) {
  Generator gen(seed);
  const int64_t n = shape_numel(shape);
  return kernels::affine(randperm(n, &gen).to(dtype).reshape(shape), 1.0 / static_cast<double>(n), -0.5);
}

struct PoolCase {
  std::string name;
  Shape input;
  Pool2dParams p;
};

std::vector<PoolCase> pool_cases() {
  return {
      {"2x2, stride 2", {3, 5, 11, 13}, pool_params(2, 2, 2, 2, 0, 0)},
      {"3x3, stride 2, padding 1 (overlapping)", {3, 5, 11, 13}, pool_params(3, 3, 2, 2, 1, 1)},
      {"3x3, stride 1, padding 1 (every pixel in 9 windows)", {2, 3, 10, 9}, pool_params(3, 3, 1, 1, 1, 1)},
      {"2x3, stride (1, 2), padding (1, 1)", {2, 4, 9, 12}, pool_params(2, 3, 1, 2, 1, 1)},
      {"CIFAR-sized 2x2, stride 2", {128, 32, 16, 16}, pool_params(2, 2, 2, 2, 0, 0)},
  };
}

}  // namespace

TEST_CASE("max_pool2d and its backward on the GPU match the CPU", "[cuda][pool]") {
  require_gpu_or_skip();
  uint64_t seed = 600;
  for (const PoolCase& c : pool_cases()) {
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor x = distinct(c.input, ++seed, dtype);
      const auto [y, indices] = kernels::max_pool2d(x, c.p);
      const auto [y_gpu, indices_gpu] = kernels::max_pool2d(x.to(gpu()), c.p);
      check_parity(y, y_gpu, 0.0, with_dtype(c.name + ": y", dtype));
      check_parity(indices, indices_gpu, 0.0, with_dtype(c.name + ": indices", dtype));

      const Tensor dy = random(y.shape(), ++seed, dtype);
      check_parity(kernels::max_pool2d_backward(dy, indices, x.shape()),
                   kernels::max_pool2d_backward(dy.to(gpu()), indices_gpu, x.shape()), kElementwiseTolerance,
                   with_dtype(c.name + ": dx", dtype));

      // The autograd op on a GPU leaf.
      Tensor x_cpu = x.clone().requires_grad_(), x_gpu = x.to(gpu()).requires_grad_();
      const std::pair<int64_t, int64_t> kernel{c.p.kernel_h, c.p.kernel_w}, stride{c.p.stride_h, c.p.stride_w},
          padding{c.p.pad_h, c.p.pad_w};
      max_pool2d(x_cpu, kernel, stride, padding).backward(dy);
      max_pool2d(x_gpu, kernel, stride, padding).backward(dy.to(gpu()));
      check_parity(x_cpu.grad(), x_gpu.grad(), kElementwiseTolerance, with_dtype(c.name + ": autograd dx", dtype));
    }
  }
}

TEST_CASE("max_pool2d on the GPU lets NaN win and reads non-contiguous input", "[cuda][pool]") {
  require_gpu_or_skip();
  Tensor x = distinct({2, 3, 8, 10}, 1, kFloat32);
  x.set({0, 1, 2, 3}, std::nan(""));
  x.set({1, 2, 7, 9}, std::nan(""));
  const Pool2dParams p = pool_params(3, 3, 2, 2, 1, 1);
  const auto [y, indices] = kernels::max_pool2d(x, p);
  const auto [y_gpu, indices_gpu] = kernels::max_pool2d(x.to(gpu()), p);
  const std::vector<double> want = y.to_vector<double>(), got = y_gpu.to(kCPU).to_vector<double>();
  int nans = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    REQUIRE(std::isnan(want[i]) == std::isnan(got[i]));
    if (std::isnan(want[i])) ++nans;
    else REQUIRE(want[i] == got[i]);
  }
  REQUIRE(nans > 0);
  check_parity(indices, indices_gpu, 0.0, "indices with NaN");

  // A transposed view: the kernel reads it through a dense copy.
  const Tensor stored = distinct({2, 3, 10, 8}, 2, kFloat32);
  const auto [yt, it] = kernels::max_pool2d(stored.transpose(2, 3), p);
  const auto [yt_gpu, it_gpu] = kernels::max_pool2d(stored.to(gpu()).transpose(2, 3), p);
  check_parity(yt, yt_gpu, 0.0, "transposed input: y");
  check_parity(it, it_gpu, 0.0, "transposed input: indices");
}

TEST_CASE("avg_pool2d and its backward on the GPU match the CPU, both divisor rules", "[cuda][pool]") {
  require_gpu_or_skip();
  std::vector<PoolCase> cases = pool_cases();
  cases.push_back({"3x2, stride (2, 1), padding (1, 1), transposed input", {3, 4, 10, 7}, pool_params(3, 2, 2, 1, 1, 1)});
  uint64_t seed = 700;
  for (const PoolCase& c : cases) {
    const bool transposed = c.name.find("transposed") != std::string::npos;
    for (bool count_include_pad : {true, false}) {
      for (DType dtype : {kFloat32, kFloat64}) {
        const std::string what = c.name + (count_include_pad ? ", count_include_pad" : ", padding not counted");
        // Stored with H and W swapped when the case reads a transposed view.
        Shape stored = c.input;
        if (transposed) std::swap(stored[2], stored[3]);
        const Tensor x_stored = random(stored, ++seed, dtype);
        auto view = [&](const Tensor& t) { return transposed ? t.transpose(2, 3) : t; };
        const Tensor x = view(x_stored), x_gpu = view(x_stored.to(gpu()));
        const Tensor y = kernels::avg_pool2d(x, c.p, count_include_pad);
        check_parity(y, kernels::avg_pool2d(x_gpu, c.p, count_include_pad), kElementwiseTolerance,
                     with_dtype(what + ": y", dtype));

        const Tensor dy = random(y.shape(), ++seed, dtype);
        check_parity(kernels::avg_pool2d_backward(dy, x.shape(), c.p, count_include_pad),
                     kernels::avg_pool2d_backward(dy.to(gpu()), x.shape(), c.p, count_include_pad),
                     kElementwiseTolerance, with_dtype(what + ": dx", dtype));

        Tensor x_cpu = x_stored.clone().requires_grad_(), x_gpu_leaf = x_stored.to(gpu()).requires_grad_();
        const std::pair<int64_t, int64_t> kernel{c.p.kernel_h, c.p.kernel_w}, stride{c.p.stride_h, c.p.stride_w},
            padding{c.p.pad_h, c.p.pad_w};
        avg_pool2d(view(x_cpu), kernel, stride, padding, count_include_pad).backward(dy);
        avg_pool2d(view(x_gpu_leaf), kernel, stride, padding, count_include_pad).backward(dy.to(gpu()));
        check_parity(x_cpu.grad(), x_gpu_leaf.grad(), kElementwiseTolerance, with_dtype(what + ": autograd dx", dtype));
      }
    }
  }
}

TEST_CASE("adaptive_avg_pool2d and its backward on the GPU match the CPU", "[cuda][pool]") {
  require_gpu_or_skip();
  struct AdaptiveCase {
    std::string name;
    Shape input;
    int64_t out_h, out_w;
  };
  const std::vector<AdaptiveCase> cases = {
      {"7x7 -> 3x3 (overlapping windows)", {3, 5, 7, 7}, 3, 3},
      {"32x32 -> 1x1 (global: a warp per output)", {16, 64, 32, 32}, 1, 1},
      {"16x16 -> 2x3 (a warp per output, partial rows)", {2, 5, 16, 16}, 2, 3},
      {"10x9 -> 4x5", {2, 3, 10, 9}, 4, 5},
      {"5x6 -> 7x8 (more outputs than inputs)", {2, 3, 5, 6}, 7, 8},
      {"CIFAR-sized 8x8 -> 1x1", {128, 64, 8, 8}, 1, 1},
  };
  uint64_t seed = 800;
  for (const AdaptiveCase& c : cases) {
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor x = random(c.input, ++seed, dtype);
      const Tensor y = kernels::adaptive_avg_pool2d(x, c.out_h, c.out_w);
      check_parity(y, kernels::adaptive_avg_pool2d(x.to(gpu()), c.out_h, c.out_w), kReductionTolerance,
                   with_dtype(c.name + ": y", dtype));

      const Tensor dy = random(y.shape(), ++seed, dtype);
      check_parity(kernels::adaptive_avg_pool2d_backward(dy, x.shape()),
                   kernels::adaptive_avg_pool2d_backward(dy.to(gpu()), x.shape()), kElementwiseTolerance,
                   with_dtype(c.name + ": dx", dtype));

      Tensor x_cpu = x.clone().requires_grad_(), x_gpu = x.to(gpu()).requires_grad_();
      adaptive_avg_pool2d(x_cpu, {c.out_h, c.out_w}).backward(dy);
      adaptive_avg_pool2d(x_gpu, {c.out_h, c.out_w}).backward(dy.to(gpu()));
      check_parity(x_cpu.grad(), x_gpu.grad(), kElementwiseTolerance, with_dtype(c.name + ": autograd dx", dtype));
    }
  }
}
