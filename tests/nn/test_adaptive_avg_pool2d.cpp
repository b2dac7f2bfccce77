// adaptive_avg_pool2d (autograd/ops/adaptive_avg_pool2d.cpp, kernels in
// tensor/cpu/pool.cpp), the functional form and nn::AdaptiveAvgPool2d: PyTorch's
// windows [⌊i·H/out⌋, ⌈(i+1)·H/out⌉) by hand and against direct loops (output
// smaller, equal and larger than the input), gradients against the loops'
// adjoint, numerically and against the composite mean (global pooling), errors.
#include <catch2/catch.hpp>

#include <vector>

#include "focus.h"
#include "nn/functional/pooling.h"
#include "nn/layers/adaptive_avg_pool2d.h"
#include "../support.h"

using namespace focus;
using focus::testing::random;
namespace F = focus::nn::functional;

namespace {

// For every output: its window's input positions (PyTorch's start/end formula).
template <typename F>
void for_each_window(const Shape& shape, int64_t OH, int64_t OW, F&& f) {
  const int64_t P = shape[0] * shape[1], H = shape[2], W = shape[3];
  int64_t out = 0;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow, ++out) {
        const int64_t h0 = (oh * H) / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
        const int64_t w0 = (ow * W) / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
        std::vector<int64_t> inside;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) inside.push_back(p * H * W + h * W + w);
        f(out, inside);
      }
}

std::vector<double> naive_adaptive(const Tensor& x, int64_t OH, int64_t OW) {
  std::vector<double> xv = x.contiguous().to_vector<double>(), y;
  for_each_window(x.shape(), OH, OW, [&](int64_t, const std::vector<int64_t>& inside) {
    double s = 0;
    for (int64_t i : inside) s += xv[i];
    y.push_back(s / static_cast<double>(inside.size()));
  });
  return y;
}

void require_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
}

const std::vector<std::pair<int64_t, int64_t>> kSizes = {{1, 1}, {3, 3}, {2, 4}, {7, 6}, {10, 9}, {4, 1}};

}  // namespace

TEST_CASE("adaptive_avg_pool2d windows by hand", "[adaptive_avg_pool2d]") {
  // One row of 5 to 3 outputs: windows [0, 2), [1, 4), [3, 5) (they overlap when 5 / 3 is not whole).
  Tensor x = tensor({1, 2, 3, 4, 5}, {1, 1, 1, 5});
  REQUIRE(F::adaptive_avg_pool2d(x, {1, 3}).to_vector<float>() == std::vector<float>{1.5f, 3.0f, 4.5f});
  // Global average pooling: one mean per plane.
  Tensor planes = tensor({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
  REQUIRE(F::adaptive_avg_pool2d(planes, 1).to_vector<float>() == std::vector<float>{2.5f, 25.0f});
  // More outputs than inputs: 2 → 3 repeats the middle element's neighbours: [0, 1), [0, 2), [1, 2).
  Tensor two = tensor({2, 4}, {1, 1, 1, 2});
  REQUIRE(F::adaptive_avg_pool2d(two, {1, 3}).to_vector<float>() == std::vector<float>{2.0f, 3.0f, 4.0f});
}

TEST_CASE("adaptive_avg_pool2d matches the direct loops", "[adaptive_avg_pool2d]") {
  for (auto [OH, OW] : kSizes)
    for (DType dtype : {kFloat32, kFloat64}) {
      INFO("output (" << OH << ", " << OW << ") " << dtype_name(dtype));
      Tensor x = random({2, 3, 7, 6}, 1, dtype);
      Tensor y = adaptive_avg_pool2d(x, {OH, OW});
      REQUIRE(y.shape() == Shape{2, 3, OH, OW});
      require_close(y.to_vector<double>(), naive_adaptive(x, OH, OW), dtype == kFloat32 ? 1e-6 : 1e-14);
    }
}

TEST_CASE("adaptive_avg_pool2d backward spreads each gradient over its window", "[adaptive_avg_pool2d]") {
  for (auto [OH, OW] : kSizes) {
    Tensor x = random({2, 2, 7, 6}, 2).requires_grad_();
    Tensor y = adaptive_avg_pool2d(x, {OH, OW});
    Tensor dy = random(y.shape(), 3);
    y.backward(dy);
    std::vector<double> dyv = dy.to_vector<double>(), dx(x.numel(), 0.0);
    for_each_window(x.shape(), OH, OW, [&](int64_t out, const std::vector<int64_t>& inside) {
      for (int64_t i : inside) dx[i] += dyv[out] / static_cast<double>(inside.size());
    });
    require_close(x.grad().to_vector<double>(), dx, 1e-14);
  }
}

TEST_CASE("adaptive_avg_pool2d gradcheck, also on transposed and broadcast inputs",
          "[adaptive_avg_pool2d][gradcheck]") {
  for (const std::pair<int64_t, int64_t>& size : {kSizes[0], kSizes[2], kSizes[4]}) {
    Tensor x = random({2, 2, 5, 6}, 4).requires_grad_();
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {size.first, size.second}); },
                    {x}));
  }
  Tensor transposed = random({2, 2, 6, 5}, 5).transpose(2, 3).requires_grad_();
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {3, 2}); }, {transposed}));
  Tensor one_image = random({1, 2, 5, 6}, 6).requires_grad_();
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0].expand({3, 2, 5, 6}), {2, 4}); },
                  {one_image}));
}

TEST_CASE("global adaptive_avg_pool2d agrees with the composite mean", "[adaptive_avg_pool2d]") {
  Tensor a = random({3, 4, 5, 7}, 7).requires_grad_(), b = a.detach().clone().requires_grad_();
  Tensor fused = adaptive_avg_pool2d(a, {1, 1});
  Tensor composite = mean(b, {2, 3}, true);
  require_close(fused.to_vector<double>(), composite.to_vector<double>(), 1e-14);
  Tensor dy = random(fused.shape(), 8);
  fused.backward(dy);
  composite.backward(dy);
  require_close(a.grad().to_vector<double>(), b.grad().to_vector<double>(), 1e-14);
}

TEST_CASE("AdaptiveAvgPool2d layer", "[adaptive_avg_pool2d][layer]") {
  nn::AdaptiveAvgPool2d global(1);
  REQUIRE(global.named_parameters().empty());
  REQUIRE(global.type_name() == "AdaptiveAvgPool2d");
  REQUIRE(global.extra_repr() == "output_size=1");
  Tensor x = random({2, 3, 9, 5}, 9, kFloat32);
  REQUIRE(global(x).shape() == Shape{2, 3, 1, 1});
  REQUIRE(global.last_output_shape() == Shape{2, 3, 1, 1});
  nn::AdaptiveAvgPool2d rect({4, 2});
  REQUIRE(rect.extra_repr() == "output_size=(4, 2)");
  require_close(rect(x).to_vector<double>(), naive_adaptive(x, 4, 2), 1e-6);
}

TEST_CASE("adaptive_avg_pool2d error messages name the op or layer and the shapes", "[adaptive_avg_pool2d]") {
  REQUIRE_THROWS_WITH(nn::AdaptiveAvgPool2d(1)(random({3, 8, 8}, 10)),
                      Catch::Contains("AdaptiveAvgPool2d(output_size=1): expected input of shape [N, C, H, W], got "
                                      "[3, 8, 8]"));
  REQUIRE_THROWS_WITH(F::adaptive_avg_pool2d(random({3, 8, 8}, 10), 1),
                      Catch::Contains("adaptive_avg_pool2d: expected a 4-D input [N, C, H, W], got shape [3, 8, 8]"));
  REQUIRE_THROWS_WITH(nn::AdaptiveAvgPool2d({0, 2}),
                      Catch::Contains("AdaptiveAvgPool2d: output_size must be positive, got (0, 2)"));
  REQUIRE_THROWS_WITH(F::adaptive_avg_pool2d(random({1, 2, 0, 3}, 11), 1),
                      Catch::Contains("adaptive_avg_pool2d: input of shape [1, 2, 0, 3] has an empty plane"));
}
