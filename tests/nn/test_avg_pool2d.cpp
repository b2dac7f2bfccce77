// avg_pool2d (autograd/ops/avg_pool2d.cpp, kernels in tensor/cpu/pool.cpp), the
// functional form and nn::AvgPool2d: values against direct loops with PyTorch's
// divisor rule (count_include_pad on and off), gradients against the loops'
// adjoint, numerically and against the composite reshape + mean, error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "focus.h"
#include "nn/functional/pooling.h"
#include "nn/layers/avg_pool2d.h"
#include "../support.h"

using namespace focus;
using focus::testing::random;
namespace F = focus::nn::functional;

namespace {

struct Window {
  int64_t kh, kw, sh, sw, ph, pw;
};

// For every output: the in-bounds input positions of its window and the divisor
// (the whole window with count_include_pad, else the in-bounds count).
template <typename F>
void for_each_window(const Shape& shape, const Window& w, bool count_include_pad, F&& f) {
  const int64_t P = shape[0] * shape[1], H = shape[2], W = shape[3];
  const int64_t OH = (H + 2 * w.ph - w.kh) / w.sh + 1, OW = (W + 2 * w.pw - w.kw) / w.sw + 1;
  int64_t out = 0;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow, ++out) {
        std::vector<int64_t> inside;
        for (int64_t i = 0; i < w.kh; ++i)
          for (int64_t j = 0; j < w.kw; ++j) {
            const int64_t h = oh * w.sh - w.ph + i, c = ow * w.sw - w.pw + j;
            if (h >= 0 && h < H && c >= 0 && c < W) inside.push_back(p * H * W + h * W + c);
          }
        const double divisor =
            count_include_pad ? static_cast<double>(w.kh * w.kw) : static_cast<double>(inside.size());
        f(out, inside, divisor);
      }
}

std::vector<double> naive_avg_pool(const Tensor& x, const Window& w, bool count_include_pad) {
  std::vector<double> xv = x.contiguous().to_vector<double>(), y;
  for_each_window(x.shape(), w, count_include_pad, [&](int64_t, const std::vector<int64_t>& inside, double divisor) {
    double s = 0;
    for (int64_t i : inside) s += xv[i];
    y.push_back(s / divisor);
  });
  return y;
}

Tensor pool(const Tensor& x, const Window& w, bool count_include_pad) {
  return avg_pool2d(x, {w.kh, w.kw}, {w.sh, w.sw}, {w.ph, w.pw}, count_include_pad);
}

void require_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
}

const std::vector<Window> kWindows = {
    {2, 2, 2, 2, 0, 0}, {3, 3, 2, 2, 1, 1}, {3, 3, 1, 1, 1, 1}, {2, 3, 1, 2, 1, 1}, {3, 2, 3, 3, 0, 0},
};

}  // namespace

TEST_CASE("avg_pool2d matches the direct loops, with and without the padding counted", "[avg_pool2d]") {
  for (const Window& w : kWindows)
    for (bool include_pad : {true, false})
      for (DType dtype : {kFloat32, kFloat64}) {
        INFO("kernel (" << w.kh << ", " << w.kw << ") stride (" << w.sh << ", " << w.sw << ") padding (" << w.ph
                        << ", " << w.pw << ") count_include_pad " << include_pad << " " << dtype_name(dtype));
        Tensor x = random({2, 3, 7, 8}, 1, dtype);
        Tensor y = pool(x, w, include_pad);
        REQUIRE(y.dtype() == dtype);
        require_close(y.to_vector<double>(), naive_avg_pool(x, w, include_pad), dtype == kFloat32 ? 1e-6 : 1e-14);
      }
}

TEST_CASE("avg_pool2d by hand", "[avg_pool2d]") {
  // 3×3 plane of 1..9, 2×2 windows, stride 2, padding 1: windows at (−1, −1), (−1, 1), (1, −1), (1, 1).
  Tensor x = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  // PyTorch's default counts the padding: every sum is divided by 4.
  REQUIRE(F::avg_pool2d(x, 2, 2, 1).to_vector<float>() == std::vector<float>{0.25f, 1.25f, 2.75f, 7.0f});
  // Without it: by the number of real pixels (1, 2, 2, 4).
  REQUIRE(F::avg_pool2d(x, 2, 2, 1, false).to_vector<float>() == std::vector<float>{1.0f, 2.5f, 5.5f, 7.0f});
}

TEST_CASE("avg_pool2d backward spreads each gradient over its window", "[avg_pool2d]") {
  for (const Window& w : kWindows)
    for (bool include_pad : {true, false}) {
      Tensor x = random({2, 2, 6, 7}, 2).requires_grad_();
      Tensor y = pool(x, w, include_pad);
      Tensor dy = random(y.shape(), 3);
      y.backward(dy);
      std::vector<double> dyv = dy.to_vector<double>(), dx(x.numel(), 0.0);
      for_each_window(x.shape(), w, include_pad, [&](int64_t out, const std::vector<int64_t>& inside, double divisor) {
        for (int64_t i : inside) dx[i] += dyv[out] / divisor;
      });
      require_close(x.grad().to_vector<double>(), dx, 1e-14);
    }
}

TEST_CASE("avg_pool2d gradcheck, also on transposed and broadcast inputs", "[avg_pool2d][gradcheck]") {
  for (const Window& w : {kWindows[1], kWindows[3]})
    for (bool include_pad : {true, false}) {
      Tensor x = random({2, 2, 5, 6}, 4).requires_grad_();
      CHECK(gradcheck([&](const std::vector<Tensor>& in) { return pool(in[0], w, include_pad); }, {x}));
    }
  Tensor transposed = random({2, 2, 6, 5}, 5).transpose(2, 3).requires_grad_();
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return pool(in[0], kWindows[2], true); }, {transposed}));
  Tensor one_image = random({1, 2, 5, 6}, 6).requires_grad_();
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return pool(in[0].expand({3, 2, 5, 6}), kWindows[1], false); },
                  {one_image}));
}

TEST_CASE("avg_pool2d agrees with the composite reshape + mean", "[avg_pool2d]") {
  Tensor a = random({2, 3, 6, 8}, 7).requires_grad_(), b = a.detach().clone().requires_grad_();
  Tensor fused = pool(a, kWindows[0], true);
  Tensor composite = mean(reshape(b, {2, 3, 3, 2, 4, 2}), {3, 5});
  require_close(fused.to_vector<double>(), composite.to_vector<double>(), 1e-14);
  Tensor dy = random(fused.shape(), 8);
  fused.backward(dy);
  composite.backward(dy);
  require_close(a.grad().to_vector<double>(), b.grad().to_vector<double>(), 1e-14);
}

TEST_CASE("AvgPool2d layer", "[avg_pool2d][layer]") {
  nn::AvgPool2d pool2(2);
  REQUIRE(pool2.stride == nn::Size2(2));
  REQUIRE(pool2.count_include_pad);
  REQUIRE(pool2.named_parameters().empty());
  REQUIRE(pool2.type_name() == "AvgPool2d");
  REQUIRE(pool2.extra_repr() == "kernel_size=2, stride=2, padding=0");
  Tensor x = random({2, 3, 8, 6}, 9, kFloat32);
  REQUIRE(pool2(x).shape() == Shape{2, 3, 4, 3});
  REQUIRE(pool2.last_output_shape() == Shape{2, 3, 4, 3});

  nn::AvgPool2d padded({3, 2}, nn::Size2{2, 1}, {1, 1}, false);
  REQUIRE(padded.extra_repr() == "kernel_size=(3, 2), stride=(2, 1), padding=1, count_include_pad=False");
  require_close(padded(x).to_vector<double>(), naive_avg_pool(x, {3, 2, 2, 1, 1, 1}, false), 1e-6);
}

TEST_CASE("avg_pool2d error messages name the op or layer and the shapes", "[avg_pool2d]") {
  REQUIRE_THROWS_WITH(nn::AvgPool2d(2)(random({3, 8, 8}, 10)),
                      Catch::Contains("AvgPool2d(kernel_size=2, stride=2, padding=0): expected input of shape "
                                      "[N, C, H, W], got [3, 8, 8]"));
  REQUIRE_THROWS_WITH(F::avg_pool2d(random({8, 8}, 10), 2),
                      Catch::Contains("avg_pool2d: expected a 4-D input [N, C, H, W], got shape [8, 8]"));
  REQUIRE_THROWS_WITH(F::avg_pool2d(random({1, 1, 8, 8}, 11), {2, 4}, 1, {2, 1}),
                      Catch::Contains("avg_pool2d: padding (2, 1) must be non-negative and at most half the kernel "
                                      "size (2, 4)"));
  REQUIRE_THROWS_WITH(F::avg_pool2d(random({1, 1, 8, 1}, 12), 2),
                      Catch::Contains("avg_pool2d: input of shape [1, 1, 8, 1] (padded by (0, 0)) is smaller than the "
                                      "kernel (2, 2)"));
  REQUIRE_THROWS_WITH(F::avg_pool2d(zeros({1, 1, 8, 8}, kInt64), 2),
                      Catch::Contains("avg_pool2d: expected a float32 or float64 input, got int64"));
}
