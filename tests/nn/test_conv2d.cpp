// conv2d (autograd/ops/conv2d.cpp, kernels in tensor/cpu/conv.cpp), the functional
// form and nn::Conv2d: forward and all three gradients against direct nested loops
// over stride, padding ('same' included, asymmetric for even kernels), dilation,
// groups and bias; batches spanning several chunks and thread counts; numerical
// gradchecks on contiguous, transposed and broadcast inputs; the layer's init,
// parameters and error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "focus.h"
#include "nn/functional/conv.h"
#include "nn/gradcheck.h"
#include "nn/layers/conv2d.h"
#include "../support.h"

using namespace focus;
using focus::testing::conv_params;
using focus::testing::random;
namespace F = focus::nn::functional;
using kernels::Conv2dParams;

namespace {

// One convolution's setup: input [N, C, H, W], weight [OC, C / groups, KH, KW].
struct Case {
  std::string name;
  int64_t N, C, H, W, OC, KH, KW;
  Conv2dParams p;
  bool bias = true;
};

std::vector<Case> cases() {
  Conv2dParams asym = conv_params(1, 1, 1, 1);  // what padding='same' gives a 4×4 kernel
  asym.pad_bottom = asym.pad_right = 2;
  Conv2dParams rect = conv_params(2, 1, 0, 1);
  rect.dilation_w = 2;
  return {
      {"3x3, stride 1, padding 1", 2, 3, 7, 6, 4, 3, 3, conv_params(1, 1, 1, 1)},
      {"stride 2, padding 1, no bias", 3, 2, 9, 8, 5, 3, 3, conv_params(2, 2, 1, 1), false},
      {"dilation 2, padding 2", 2, 3, 10, 9, 4, 3, 3, conv_params(1, 1, 2, 2, 2)},
      {"groups 2", 2, 4, 6, 7, 6, 3, 3, conv_params(1, 1, 1, 1, 1, 2)},
      {"depthwise, 2 filters per channel", 2, 3, 6, 6, 6, 3, 3, conv_params(1, 1, 1, 1, 1, 3)},
      {"1x1 (no im2col)", 3, 5, 4, 5, 7, 1, 1, conv_params(1, 1, 0, 0)},
      {"1x1 with groups, no bias", 2, 4, 3, 5, 6, 1, 1, conv_params(1, 1, 0, 0, 1, 2), false},
      {"1x1, stride 2", 2, 3, 7, 6, 4, 1, 1, conv_params(2, 2, 0, 0)},
      {"2x3 kernel, stride (2, 1), padding (0, 1), dilation (1, 2)", 2, 3, 9, 8, 4, 2, 3, rect},
      {"asymmetric padding (same, 4x4 kernel)", 2, 2, 6, 7, 3, 4, 4, asym},
      {"stride 3 leaves the last rows unread", 2, 2, 8, 8, 3, 3, 3, conv_params(3, 3, 0, 0)},
      {"37 images over several multi-image chunks", 37, 3, 5, 5, 4, 3, 3, conv_params(1, 1, 1, 1)},
      {"large planes, one image per chunk", 3, 16, 40, 40, 8, 3, 3, conv_params(1, 1, 1, 1)},
      // 64 or more taps per output (C/groups·KH·KW) take float32 to the direct path (channels
      // along the vector, tensor/cpu/conv_direct.cpp), and dx of a stride-1 convolution with it.
      // Its channel blocks are 16 wide, then 8, under AVX2, and 32 wide, then 16, under AVX-512.
      {"direct path: 20 filters (AVX2: a 16- and an 8-wide block; AVX-512: one 32-wide), 405 pixels over 5 images",
       5, 8, 9, 9, 20, 3, 3, conv_params(1, 1, 1, 1)},
      {"direct path: 44 filters (AVX2: 16, 16, 16 wide; AVX-512: 32 and 16), 294 pixels over 6 images", 6, 8, 7, 7,
       44, 3, 3, conv_params(1, 1, 1, 1)},
      {"direct path: stride 2, dilation 2, groups 2 of 13 filters", 3, 16, 11, 10, 26, 3, 3,
       conv_params(2, 2, 2, 2, 2, 2)},
      {"direct path: 1x1 over 64 channels", 2, 64, 5, 5, 12, 1, 1, conv_params(1, 1, 0, 0)},
      {"direct path: 4x4 kernel, asymmetric padding", 2, 8, 7, 6, 10, 4, 4, asym},
      // Rows of 3 padded to 5, shorter than a vector: the zero-bordered copy's row moves are all
      // masked, and its 512 planes are split between 2 threads.
      {"direct path: 3x3 maps of 64 images, the zero border copied by both threads", 64, 8, 3, 3, 12, 3, 3,
       conv_params(1, 1, 1, 1)},
      // Each thread pads a group of images at a time: with 2 threads, groups of 8 images of 7x7,
      // the second one short by one.
      {"direct path: 15 images padded a group at a time, the last group short", 15, 16, 7, 7, 40, 3, 3,
       conv_params(1, 1, 1, 1)},
  };
}

struct Geometry {
  int64_t N, C, H, W, OC, Cg, OCg, KH, KW, OH, OW;
};

Geometry geometry(const Case& c) {
  Geometry g{c.N, c.C, c.H, c.W, c.OC, c.C / c.p.groups, c.OC / c.p.groups, c.KH, c.KW, 0, 0};
  g.OH = (c.H + c.p.pad_top + c.p.pad_bottom - c.p.dilation_h * (c.KH - 1) - 1) / c.p.stride_h + 1;
  g.OW = (c.W + c.p.pad_left + c.p.pad_right - c.p.dilation_w * (c.KW - 1) - 1) / c.p.stride_w + 1;
  return g;
}

// Calls f(n, oc, oh, ow, c_in, c_w, ki, kj, ih, iw) for every in-bounds product term
// x[n, c_in, ih, iw] · w[oc, c_w, ki, kj] of the convolution's definition.
template <typename F>
void for_each_term(const Case& c, F&& f) {
  const Geometry g = geometry(c);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t oc = 0; oc < g.OC; ++oc)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow)
          for (int64_t cw = 0; cw < g.Cg; ++cw)
            for (int64_t ki = 0; ki < g.KH; ++ki)
              for (int64_t kj = 0; kj < g.KW; ++kj) {
                const int64_t ih = oh * c.p.stride_h - c.p.pad_top + ki * c.p.dilation_h;
                const int64_t iw = ow * c.p.stride_w - c.p.pad_left + kj * c.p.dilation_w;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                f(n, oc, oh, ow, (oc / g.OCg) * g.Cg + cw, cw, ki, kj, ih, iw);
              }
}

// y[n, oc, oh, ow] = b[oc] + Σ x[n, c, oh·s − pad + ki·d, ow·s − pad + kj·d] · w[oc, c, ki, kj]
Tensor naive_conv(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  const Geometry g = geometry(c);
  std::vector<double> xv = x.contiguous().to_vector<double>(), wv = w.contiguous().to_vector<double>();
  std::vector<double> y(g.N * g.OC * g.OH * g.OW, 0.0);
  auto out = [&](int64_t n, int64_t oc, int64_t oh, int64_t ow) -> double& {
    return y[((n * g.OC + oc) * g.OH + oh) * g.OW + ow];
  };
  if (b.defined()) {
    std::vector<double> bv = b.to_vector<double>();
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t oc = 0; oc < g.OC; ++oc)
        for (int64_t i = 0; i < g.OH * g.OW; ++i) y[(n * g.OC + oc) * g.OH * g.OW + i] = bv[oc];
  }
  for_each_term(c, [&](int64_t n, int64_t oc, int64_t oh, int64_t ow, int64_t ci, int64_t cw, int64_t ki, int64_t kj,
                       int64_t ih, int64_t iw) {
    out(n, oc, oh, ow) += xv[((n * g.C + ci) * g.H + ih) * g.W + iw] * wv[((oc * g.Cg + cw) * g.KH + ki) * g.KW + kj];
  });
  return from_vector(y, {g.N, g.OC, g.OH, g.OW});
}

// The adjoint of each product term: dx += w·dy, dw += x·dy, and db = Σ dy.
struct Grads {
  Tensor dx, dw, db;
};
Grads naive_conv_backward(const Case& c, const Tensor& x, const Tensor& w, const Tensor& dy) {
  const Geometry g = geometry(c);
  std::vector<double> xv = x.contiguous().to_vector<double>(), wv = w.contiguous().to_vector<double>();
  std::vector<double> dyv = dy.contiguous().to_vector<double>();
  std::vector<double> dx(xv.size(), 0.0), dw(wv.size(), 0.0), db(g.OC, 0.0);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t oc = 0; oc < g.OC; ++oc)
      for (int64_t i = 0; i < g.OH * g.OW; ++i) db[oc] += dyv[(n * g.OC + oc) * g.OH * g.OW + i];
  for_each_term(c, [&](int64_t n, int64_t oc, int64_t oh, int64_t ow, int64_t ci, int64_t cw, int64_t ki, int64_t kj,
                       int64_t ih, int64_t iw) {
    const double d = dyv[((n * g.OC + oc) * g.OH + oh) * g.OW + ow];
    const int64_t xi = ((n * g.C + ci) * g.H + ih) * g.W + iw, wi = ((oc * g.Cg + cw) * g.KH + ki) * g.KW + kj;
    dx[xi] += wv[wi] * d;
    dw[wi] += xv[xi] * d;
  });
  return {from_vector(dx, x.shape()), from_vector(dw, w.shape()), from_vector(db, {g.OC})};
}

// Elementwise |got − want| <= tol·(1 + |want|).
void require_close(const Tensor& got, const Tensor& want, double tol) {
  REQUIRE(got.shape() == want.shape());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - w[i]) / (1 + std::abs(w[i])));
  INFO("worst relative error " << worst);
  REQUIRE(worst <= tol);
}

// The op's arguments for a Case (padding as before + extra after).
Tensor run_conv(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  return conv2d(x, w, b, {c.p.stride_h, c.p.stride_w}, {c.p.pad_top, c.p.pad_left}, {c.p.dilation_h, c.p.dilation_w},
                c.p.groups, {c.p.pad_bottom - c.p.pad_top, c.p.pad_right - c.p.pad_left});
}

struct CaseTensors {
  Tensor x, w, b;
};
CaseTensors make(const Case& c, DType dtype, uint64_t seed) {
  CaseTensors t;
  t.x = random({c.N, c.C, c.H, c.W}, seed, dtype);
  t.w = random({c.OC, c.C / c.p.groups, c.KH, c.KW}, seed + 1, dtype);
  if (c.bias) t.b = random({c.OC}, seed + 2, dtype);
  return t;
}

// Restores the thread count when a test that changes it ends.
struct ThreadCount {
  int saved = get_num_threads();
  ~ThreadCount() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("conv2d forward matches the direct loops", "[conv2d]") {
  ThreadCount restore;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& c : cases()) {
      for (DType dtype : {kFloat32, kFloat64}) {
        INFO(c.name << ", " << dtype_name(dtype) << ", " << threads << " threads");
        CaseTensors t = make(c, dtype, 10);
        Tensor y = run_conv(c, t.x, t.w, t.b);
        REQUIRE(y.dtype() == dtype);
        require_close(y, naive_conv(c, t.x, t.w, t.b), dtype == kFloat32 ? 1e-5 : 1e-12);
      }
    }
  }
}

TEST_CASE("conv2d forward by hand", "[conv2d]") {
  // One 3×3 image, a 2×2 kernel, padding 1: every output is the sum of the
  // kernel-weighted pixels under the window, zeros outside.
  Tensor x = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = tensor({1, 10, 100, 1000}, {1, 1, 2, 2});
  Tensor y = conv2d(x, w, tensor({0.5}), {2, 2}, {1, 1});
  // Windows start at (−1, −1), (−1, 1), (1, −1), (1, 1):
  //   [0 0; 0 1] → 1000·1,   [0 0; 2 3] → 100·2 + 1000·3,
  //   [0 4; 0 7] → 10·4 + 1000·7,   [5 6; 8 9] → 5 + 60 + 800 + 9000
  REQUIRE(y.shape() == Shape{1, 1, 2, 2});
  REQUIRE(y.to_vector<double>() == std::vector<double>{1000.5, 3200.5, 7040.5, 9865.5});
}

TEST_CASE("conv2d backward matches the direct-loop gradients", "[conv2d]") {
  ThreadCount restore;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& c : cases()) {
      for (DType dtype : {kFloat32, kFloat64}) {
        INFO(c.name << ", " << dtype_name(dtype) << ", " << threads << " threads");
        CaseTensors t = make(c, dtype, 20);
        t.x.requires_grad_();
        t.w.requires_grad_();
        if (t.b.defined()) t.b.requires_grad_();
        Tensor y = run_conv(c, t.x, t.w, t.b);
        Tensor dy = random(y.shape(), 23, dtype);
        y.backward(dy);
        Grads want = naive_conv_backward(c, t.x, t.w, dy);
        // dW sums N·OH·OW products (up to 4800): float32 rounding grows like the square root of the count.
        const Geometry geo = geometry(c);
        const double terms = static_cast<double>(c.N * geo.OH * geo.OW);
        const double tol = dtype == kFloat32 ? 3e-6 * std::sqrt(terms) : 1e-12;
        require_close(t.x.grad(), want.dx, tol);
        require_close(t.w.grad(), want.dw, tol);
        if (t.b.defined()) require_close(t.b.grad(), want.db, tol);
      }
    }
  }
}

TEST_CASE("conv2d computes only the gradients that are needed", "[conv2d]") {
  Case c = cases()[0];
  CaseTensors t = make(c, kFloat64, 30);
  t.w.requires_grad_();  // input and bias need none
  Tensor y = run_conv(c, t.x, t.w, t.b);
  Tensor dy = random(y.shape(), 31);
  y.backward(dy);
  REQUIRE_FALSE(t.x.grad().defined());
  require_close(t.w.grad(), naive_conv_backward(c, t.x, t.w, dy).dw, 1e-12);
}

namespace {

// 3×3 convolutions of stride 1 with 32 or more input and output channels (multiples of 16) run
// Winograd's F(4×4, 3×3) in float32 on AVX-512 (tensor/cpu/conv_winograd.cpp), forward and for dx:
// tiles of 4×4 outputs, the last ones cut by the plane's edge, over blocks of images shared by threads.
std::vector<Case> winograd_cases() {
  Conv2dParams asym = conv_params(1, 1, 2, 2);  // 2 before, 1 after
  asym.pad_bottom = asym.pad_right = 1;
  return {
      {"192 -> 192 channels on 7x7 planes (2x2 tiles, the last row and column cut)", 6, 192, 7, 7, 192, 3, 3,
       conv_params(1, 1, 1, 1)},
      {"32 -> 32 channels on 15x15 planes, no bias", 3, 32, 15, 15, 32, 3, 3, conv_params(1, 1, 1, 1), false},
      {"64 -> 48 channels on 5x9 planes", 2, 64, 5, 9, 48, 3, 3, conv_params(1, 1, 1, 1)},
      {"48 -> 64 channels, no padding: 9x6 to 7x4", 2, 48, 9, 6, 64, 3, 3, conv_params(1, 1, 0, 0)},
      {"32 -> 64 channels, padding 2 before and 1 after", 2, 32, 6, 6, 64, 3, 3, asym},
      {"64 -> 64 channels on a 1x1 plane", 3, 64, 1, 1, 64, 3, 3, conv_params(1, 1, 1, 1)},
      {"37 images of 4x4, 64 -> 64 channels, in blocks over both threads", 37, 64, 4, 4, 64, 3, 3,
       conv_params(1, 1, 1, 1)},
  };
}

// Sets an environment variable for a scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const char* value) : name(std::move(n)) { setenv(name.c_str(), value, 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("conv2d: Winograd's F(4x4, 3x3) path matches the direct loops, forward and dx", "[conv2d]") {
  ThreadCount restore;
  const bool winograd_built = cpu_capability() == CpuCapability::AVX512;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const std::vector<Case> all = winograd_cases();
    for (size_t i = 0; i < all.size(); ++i) {
      const Case& c = all[i];
      INFO(c.name << ", " << threads << " threads");
      CaseTensors t = make(c, kFloat32, 40);
      t.x.requires_grad_();
      Tensor y = run_conv(c, t.x, t.w, t.b);
      Tensor dy = random(y.shape(), 43, kFloat32);
      y.backward(dy);
      // Float32 rounding grows like the square root of the C·9 terms summed; products moving through
      // the basis and back, where large terms cancel, make it about 13 times the direct sum's: at
      // 192 channels of unit normal inputs and weights (outputs up to about 40) the worst output is
      // off by 6.4e-4·(1 + |y|), against 5e-5 summed directly.
      const double terms = static_cast<double>(c.C * 9), tol = 4e-5 * std::sqrt(terms);
      require_close(y, naive_conv(c, t.x, t.w, t.b), tol);
      require_close(t.x.grad(), naive_conv_backward(c, t.x, t.w, dy).dx, tol);

      // FOCUS_CONV_WINOGRAD=0 gives the direct path, within its own tolerance; with its own rounding
      // too, so on AVX-512 the 56,448 outputs of the first case differ somewhere: Winograd did run.
      ScopedEnv direct("FOCUS_CONV_WINOGRAD", "0");
      Tensor x = t.x.detach().requires_grad_();
      Tensor y_direct = run_conv(c, x, t.w, t.b);
      y_direct.backward(dy);
      require_close(y_direct, naive_conv(c, t.x, t.w, t.b), 3e-6 * std::sqrt(terms));
      if (winograd_built && i == 0) {
        CHECK(y_direct.to_vector<float>() != y.to_vector<float>());
        CHECK(x.grad().to_vector<float>() != t.x.grad().to_vector<float>());
      }
    }
  }
}

TEST_CASE("conv2d gradcheck of input, weight and bias", "[conv2d][gradcheck]") {
  auto check = [](const Case& c) {
    INFO(c.name);
    CaseTensors t = make(c, kFloat64, 40);
    std::vector<Tensor> inputs{t.x.requires_grad_(), t.w.requires_grad_()};
    if (t.b.defined()) inputs.push_back(t.b.requires_grad_());
    GradcheckOptions options;
    options.input_names = {"input", "weight", "bias"};
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return run_conv(c, in[0], in[1], c.bias ? in[2] : Tensor()); },
                    inputs, options));
  };
  check({"padding 1, groups 2", 2, 4, 5, 4, 4, 3, 3, conv_params(1, 1, 1, 1, 1, 2)});
  check({"stride 2, dilation 2, no bias", 2, 2, 7, 6, 3, 2, 3, conv_params(2, 1, 2, 1, 2), false});
  check({"1x1", 2, 3, 3, 4, 2, 1, 1, conv_params(1, 1, 0, 0)});
}

TEST_CASE("conv2d gradcheck on transposed and broadcast inputs", "[conv2d][gradcheck]") {
  const Case c{"3x3, padding 1", 3, 2, 4, 5, 3, 3, 3, conv_params(1, 1, 1, 1)};
  // The input is a transposed view ([N, C, W, H] storage), the weight a view with its
  // kernel dims swapped, and the bias one value broadcast to every channel.
  Tensor x = random({3, 2, 5, 4}, 50).transpose(2, 3).requires_grad_();
  Tensor w = random({3, 2, 3, 3}, 51).transpose(2, 3).requires_grad_();
  Tensor b = random({1}, 52).requires_grad_();
  REQUIRE_FALSE(x.is_contiguous());
  REQUIRE_FALSE(w.is_contiguous());
  CHECK(gradcheck([&](const std::vector<Tensor>& in) { return run_conv(c, in[0], in[1], in[2].expand({3})); },
                  {x, w, b}));
  // One image broadcast over the batch: its gradient is the sum over the copies.
  Tensor image = random({1, 2, 4, 5}, 53).requires_grad_();
  Tensor weight = random({3, 2, 3, 3}, 54);
  CHECK(gradcheck([&](const std::vector<Tensor>& in) { return run_conv(c, in[0].expand({3, 2, 4, 5}), weight, {}); },
                  {image}));
}

TEST_CASE("functional conv2d: padding 'same' keeps the size, an even kernel pads one more after",
          "[conv2d]") {
  Tensor x = random({2, 3, 7, 6}, 60);
  for (int64_t k : {3, 4, 5}) {
    for (int64_t d : {1, 2}) {
      INFO("kernel " << k << ", dilation " << d);
      Tensor w = random({4, 3, k, k}, 61 + k);
      Tensor y = F::conv2d(x, w, {}, F::Conv2dFuncOptions().padding(nn::Padding::Same).dilation(d));
      REQUIRE(y.shape() == Shape{2, 4, 7, 6});
      const int64_t total = d * (k - 1);
      Conv2dParams p = conv_params(1, 1, total / 2, total / 2, d);
      p.pad_bottom = p.pad_right = total - total / 2;
      Case c{"same", 2, 3, 7, 6, 4, k, k, p, false};
      require_close(y, naive_conv(c, x, w, {}), 1e-12);
    }
  }
  Tensor w = random({4, 3, 3, 3}, 70);
  REQUIRE(F::conv2d(x, w, {}, F::Conv2dFuncOptions().padding(nn::Padding::Valid)).shape() == Shape{2, 4, 5, 4});
  REQUIRE(F::conv2d(x, w, {}, F::Conv2dFuncOptions().padding({1, 0}).stride({2, 1})).shape() == Shape{2, 4, 4, 4});
  REQUIRE_THROWS_WITH(F::conv2d(x, w, {}, F::Conv2dFuncOptions().padding(nn::Padding::Same).stride(2)),
                      Catch::Contains("padding='same' needs stride 1, got stride 2"));
}

TEST_CASE("conv2d error messages name the op and the shapes", "[conv2d]") {
  Tensor w = random({6, 3, 3, 3}, 80);
  REQUIRE_THROWS_WITH(conv2d(random({3, 8, 8}, 81), w),
                      Catch::Contains("conv2d: expected a 4-D input [N, C, H, W], got shape [3, 8, 8]"));
  REQUIRE_THROWS_WITH(conv2d(random({2, 4, 8, 8}, 82), w),
                      Catch::Contains("conv2d: input of shape [2, 4, 8, 8] and weight of shape [6, 3, 3, 3] do not "
                                      "match"));
  REQUIRE_THROWS_WITH(conv2d(random({2, 6, 8, 8}, 82), w, {}, {1, 1}, {0, 0}, {1, 1}, 4),
                      Catch::Contains("conv2d: input of shape [2, 6, 8, 8] and weight of shape [6, 3, 3, 3] do not "
                                      "match"));
  REQUIRE_THROWS_WITH(conv2d(random({1, 3, 2, 8}, 83), w),
                      Catch::Contains("conv2d: input of shape [1, 3, 2, 8] (padded to 2x8) is smaller than the kernel "
                                      "of shape [6, 3, 3, 3]"));
  REQUIRE_THROWS_WITH(conv2d(random({1, 3, 8, 8}, 84), w, random({5}, 85)),
                      Catch::Contains("conv2d: expected a float64 bias of shape [6], got float64 of shape [5]"));
  REQUIRE_THROWS_WITH(conv2d(random({1, 3, 8, 8}, 84, kFloat32), w),
                      Catch::Contains("conv2d: expected float32 or float64 input and weight of one dtype, got float32 "
                                      "and float64"));
  REQUIRE_THROWS_WITH(conv2d(random({1, 0, 8, 8}, 84), random({6, 0, 3, 3}, 86)),
                      Catch::Contains("conv2d: weight of shape [6, 0, 3, 3] is empty"));
  // An empty batch is fine: an empty output of the right shape.
  REQUIRE(conv2d(random({0, 3, 8, 8}, 87), w).shape() == Shape{0, 6, 6, 6});
  REQUIRE_THROWS_WITH(conv2d(random({1, 3, 8, 8}, 84), w, {}, {0, 1}),
                      Catch::Contains("stride, dilation and groups must be positive"));
}

TEST_CASE("Conv2d layer: parameters, default init, parity with the functional form", "[conv2d][layer]") {
  manual_seed(7);
  nn::Conv2d conv(nn::Conv2dOptions(4, 6, {3, 2}).stride(2).padding({1, 0}).groups(2));
  REQUIRE(conv.weight.shape() == Shape{6, 2, 3, 2});
  REQUIRE(conv.bias.shape() == Shape{6});
  REQUIRE(conv.type_name() == "Conv2d");
  REQUIRE(conv.extra_repr() == "4, 6, kernel_size=(3, 2), stride=2, padding=(1, 0), groups=2");
  auto names = conv.named_parameters();
  REQUIRE(names.size() == 2);
  REQUIRE(names[0].first == "weight");
  REQUIRE(names[1].first == "bias");

  // kaiming_uniform_(a = √5): U(±1/√fan_in) with fan_in = (4 / 2)·3·2 = 12, the bias likewise.
  nn::Conv2d wide(nn::Conv2dOptions(16, 32, 3));
  const double bound = 1.0 / std::sqrt(16.0 * 9.0);
  for (const Tensor& t : {wide.weight, wide.bias}) {
    std::vector<double> v = t.to_vector<double>();
    double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    REQUIRE(lo >= -bound);
    REQUIRE(hi <= bound);
    REQUIRE(hi - lo > 1.6 * bound);  // spread over the whole interval, not a constant
  }

  Tensor x = random({3, 4, 7, 5}, 90, kFloat32);
  Tensor y = conv(x);
  REQUIRE(y.shape() == Shape{3, 6, 4, 2});
  REQUIRE(conv.last_output_shape() == Shape{3, 6, 4, 2});
  Conv2dParams p = conv_params(2, 2, 1, 0, 1, 2);
  require_close(y, naive_conv({"layer", 3, 4, 7, 5, 6, 3, 2, p}, x, conv.weight, conv.bias), 1e-5);

  nn::Conv2d same(nn::Conv2dOptions(4, 5, 4).padding(nn::Padding::Same).bias(false));
  REQUIRE_FALSE(same.bias.defined());
  REQUIRE(same.named_parameters().size() == 1);
  REQUIRE(same.extra_repr() == "4, 5, kernel_size=4, padding='same', bias=False");
  REQUIRE(same(x).shape() == Shape{3, 5, 7, 5});
}

TEST_CASE("Conv2d layer gradcheck and state_dict round trip", "[conv2d][layer][gradcheck]") {
  nn::Conv2d conv(nn::Conv2dOptions(2, 3, 3).padding(1).dilation({1, 2}));
  Tensor x = random({2, 2, 4, 5}, 100).requires_grad_();
  CHECK(nn::gradcheck(conv, [&](const std::vector<Tensor>& in) { return conv(in[0]); }, {x}));
  conv.to(kFloat64);  // nn::gradcheck gave the layer back in float32

  nn::Conv2d copy(nn::Conv2dOptions(2, 3, 3).padding(1).dilation({1, 2}));
  copy.to(kFloat64);
  copy.load_state_dict(conv.state_dict());
  Tensor input = random({1, 2, 4, 5}, 101);
  require_close(copy(input), conv(input), 0);
}

TEST_CASE("Conv2d error messages name the layer and both shapes", "[conv2d][layer]") {
  nn::Conv2d conv(3, 32, 3);
  REQUIRE_THROWS_WITH(conv(random({3, 32, 32}, 110, kFloat32)),
                      Catch::Contains("Conv2d(3, 32, kernel_size=3): expected input of shape [N, 3, H, W], got "
                                      "[3, 32, 32]"));
  REQUIRE_THROWS_WITH(conv(random({2, 4, 8, 8}, 111, kFloat32)),
                      Catch::Contains("Conv2d(3, 32, kernel_size=3): expected input of shape [N, 3, H, W], got "
                                      "[2, 4, 8, 8]"));
  REQUIRE_THROWS_WITH(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).groups(2)),
                      Catch::Contains("Conv2d: in_channels (3) and out_channels (4) must be divisible by groups (2)"));
  REQUIRE_THROWS_WITH(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).stride(2).padding(nn::Padding::Same)),
                      Catch::Contains("Conv2d: padding='same' needs stride 1, got stride 2"));
}
