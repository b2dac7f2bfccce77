// max_pool2d (autograd/ops/max_pool2d.cpp, kernels in tensor/cpu/pool.cpp), the
// functional form and nn::MaxPool2d: values and argmax indices against direct
// loops, gradients routed to the maxima (overlapping windows add), numerically
// and against the composite reshape + amax, −∞ padding, NaN, error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "focus.h"
#include "nn/functional/pooling.h"
#include "nn/layers/max_pool2d.h"
#include "../support.h"

using namespace focus;
using focus::testing::random;
namespace F = focus::nn::functional;

namespace {

// Distinct values at least 0.01 apart in random order: no window has a tie, so the
// maximum cannot switch under gradcheck's tiny perturbations.
Tensor distinct(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> order = randperm(shape_numel(shape), &gen).to_vector<int64_t>();
  std::vector<double> values(order.size());
  for (size_t i = 0; i < order.size(); ++i) values[i] = 0.01 * static_cast<double>(order[i]) - 1.0;
  return from_vector(values, shape);
}

struct Window {
  int64_t kh, kw, sh, sw, ph, pw;
};

// y and argmax positions by the definition: the largest in-bounds value of each window.
std::pair<std::vector<double>, std::vector<int64_t>> naive_max_pool(const Tensor& x, const Window& w) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = (H + 2 * w.ph - w.kh) / w.sh + 1, OW = (W + 2 * w.pw - w.kw) / w.sw + 1;
  std::vector<double> xv = x.contiguous().to_vector<double>(), y;
  std::vector<int64_t> idx;
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double best = -std::numeric_limits<double>::infinity();
        int64_t at = -1;
        for (int64_t i = 0; i < w.kh; ++i)
          for (int64_t j = 0; j < w.kw; ++j) {
            const int64_t h = oh * w.sh - w.ph + i, c = ow * w.sw - w.pw + j;
            if (h < 0 || h >= H || c < 0 || c >= W) continue;
            if (xv[p * H * W + h * W + c] > best) best = xv[p * H * W + h * W + c], at = h * W + c;
          }
        y.push_back(best);
        idx.push_back(at);
      }
  return {y, idx};
}

Tensor pool(const Tensor& x, const Window& w) {
  return max_pool2d(x, {w.kh, w.kw}, {w.sh, w.sw}, {w.ph, w.pw});
}

const std::vector<Window> kWindows = {
    {2, 2, 2, 2, 0, 0},  // the usual halving
    {3, 3, 2, 2, 1, 1},  // overlapping, padded (ResNet's stem)
    {3, 3, 1, 1, 1, 1},  // every element in up to 9 windows
    {2, 3, 1, 2, 1, 1},  // rectangular
    {1, 1, 1, 1, 0, 0},  // the identity
    {3, 2, 3, 3, 0, 0},  // stride beyond the kernel skips elements
};

}  // namespace

TEST_CASE("max_pool2d values and indices match the direct loops", "[max_pool2d]") {
  for (const Window& w : kWindows) {
    for (DType dtype : {kFloat32, kFloat64}) {
      INFO("kernel (" << w.kh << ", " << w.kw << ") stride (" << w.sh << ", " << w.sw << ") padding (" << w.ph
                      << ", " << w.pw << ") " << dtype_name(dtype));
      Tensor x = distinct({2, 3, 7, 8}, 1).to(dtype);
      auto [y, indices] = max_pool2d_with_indices(x, {w.kh, w.kw}, {w.sh, w.sw}, {w.ph, w.pw});
      auto [want, want_idx] = naive_max_pool(x, w);
      REQUIRE(y.dtype() == dtype);
      REQUIRE(indices.dtype() == kInt64);
      REQUIRE(y.to_vector<double>() == want);
      REQUIRE(indices.to_vector<int64_t>() == want_idx);
    }
  }
}

TEST_CASE("max_pool2d by hand", "[max_pool2d]") {
  // 4×4 plane, 2×2 windows: the max of each quadrant and where it sits (h·4 + w).
  Tensor x = tensor({1, 5, 2, 0,   //
                     3, 4, 8, 7,   //
                     9, 0, 1, 1,   //
                     2, 6, 3, 4},
                    {1, 1, 4, 4});
  auto [y, indices] = F::max_pool2d_with_indices(x, 2);
  REQUIRE(y.to_vector<float>() == std::vector<float>{5, 8, 9, 4});
  REQUIRE(indices.to_vector<int64_t>() == std::vector<int64_t>{1, 6, 8, 15});
  // Padding is −∞, never 0: an all-negative input keeps its own maxima at the border.
  Tensor negative = tensor({-1, -2, -3, -4}, {1, 1, 2, 2});
  REQUIRE(F::max_pool2d(negative, 2, 1, 1).to_vector<float>() ==
          std::vector<float>{-1, -1, -2, -1, -1, -2, -3, -3, -4});
  // NaN wins, as in PyTorch.
  Tensor with_nan = tensor({1, std::nan(""), 3, 4}, {1, 1, 2, 2});
  REQUIRE(std::isnan(F::max_pool2d(with_nan, 2).item<double>()));
}

TEST_CASE("max_pool2d ties keep the first maximum, NaN wins, on wide rows too", "[max_pool2d]") {
  // Rows of 40: long enough for the vectorised run (8 outputs at a time) and its scalar tail.
  for (int64_t stride : {1, 2}) {
    INFO("stride " << stride);
    Tensor flat = full({1, 2, 3, 40}, 7.0);
    auto [y, indices] = max_pool2d_with_indices(flat, {2, 2}, {stride, stride});
    auto [want, want_idx] = naive_max_pool(flat, {2, 2, stride, stride, 0, 0});
    REQUIRE(y.to_vector<double>() == want);
    REQUIRE(indices.to_vector<int64_t>() == want_idx);  // the window's first element, every time

    Tensor x = distinct({1, 1, 4, 40}, 11).to(kFloat32);
    x.set({0, 0, 1, 17}, std::nan(""));
    auto [z, z_idx] = max_pool2d_with_indices(x, {2, 2}, {stride, stride});
    const int64_t OW = z.size(3);
    for (int64_t oh = 0; oh < z.size(2); ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const bool holds_nan = oh * stride <= 1 && 1 < oh * stride + 2 && ow * stride <= 17 && 17 < ow * stride + 2;
        REQUIRE(std::isnan(z.at({0, 0, oh, ow})) == holds_nan);
        if (holds_nan) REQUIRE(z_idx.at({0, 0, oh, ow}) == 1 * 40 + 17);
      }
  }
}

TEST_CASE("max_pool2d 2x2 stride 2 on rows the vector path covers to the last element", "[max_pool2d]") {
  // Widths 16 and 32 end a block of 8 windows exactly at the row's end (the pair-of-loads path);
  // 34, 31 and 15 leave a tail of fewer than 8 windows (masked loads; 31 → 15 → 7 are the CIFAR
  // recipe's odd maps, the last column unused); 3 has only a tail; padding 1 moves the windows off
  // the vector grid.
  for (int64_t width : {16, 32, 34, 31, 15, 3})
    for (int64_t pad : {0, 1}) {
      INFO("width " << width << ", padding " << pad);
      Tensor x = distinct({2, 3, 6, width}, 5).to(kFloat32);
      x.set({1, 2, 5, width - 1}, 100.0);  // the very last element of the tensor wins its window
      auto [y, indices] = max_pool2d_with_indices(x, {2, 2}, {2, 2}, {pad, pad});
      auto [want, want_idx] = naive_max_pool(x, {2, 2, 2, 2, pad, pad});
      REQUIRE(y.to_vector<double>() == want);
      REQUIRE(indices.to_vector<int64_t>() == want_idx);
    }
}

TEST_CASE("max_pool2d backward sends each gradient to its window's maximum", "[max_pool2d]") {
  for (const Window& w : kWindows) {
    INFO("kernel (" << w.kh << ", " << w.kw << ") stride (" << w.sh << ", " << w.sw << ")");
    Tensor x = distinct({2, 2, 6, 7}, 2).requires_grad_();
    Tensor y = pool(x, w);
    Tensor dy = random(y.shape(), 3);
    y.backward(dy);
    // dx[argmax] += dy, summed where windows overlap.
    std::vector<int64_t> idx = naive_max_pool(x, w).second;
    std::vector<double> dyv = dy.to_vector<double>(), dx(x.numel(), 0.0);
    const int64_t out_plane = y.size(2) * y.size(3);
    for (size_t i = 0; i < idx.size(); ++i) dx[(i / out_plane) * 42 + idx[i]] += dyv[i];
    REQUIRE(x.grad().to_vector<double>() == dx);
  }
}

TEST_CASE("max_pool2d gradcheck, also on transposed and broadcast inputs", "[max_pool2d][gradcheck]") {
  for (const Window& w : {kWindows[0], kWindows[1], kWindows[3]}) {
    Tensor x = distinct({2, 2, 5, 6}, 4).requires_grad_();
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return pool(in[0], w); }, {x}));
  }
  Tensor transposed = distinct({2, 2, 6, 5}, 5).transpose(2, 3).requires_grad_();
  REQUIRE_FALSE(transposed.is_contiguous());
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return pool(in[0], kWindows[1]); }, {transposed}));
  Tensor one_image = distinct({1, 2, 5, 6}, 6).requires_grad_();
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return pool(in[0].expand({3, 2, 5, 6}), kWindows[2]); },
                  {one_image}));
}

TEST_CASE("max_pool2d agrees with the composite reshape + amax", "[max_pool2d]") {
  // Non-overlapping 2×2 windows are dims 3 and 5 of x viewed as [N, C, H/2, 2, W/2, 2].
  Tensor a = distinct({2, 3, 6, 8}, 7).requires_grad_(), b = a.detach().clone().requires_grad_();
  Tensor fused = pool(a, kWindows[0]);
  Tensor composite = amax(reshape(b, {2, 3, 3, 2, 4, 2}), {3, 5});
  REQUIRE(fused.to_vector<double>() == composite.to_vector<double>());
  Tensor dy = random(fused.shape(), 8);
  fused.backward(dy);
  composite.backward(dy);
  REQUIRE(a.grad().to_vector<double>() == b.grad().to_vector<double>());
}

TEST_CASE("MaxPool2d layer", "[max_pool2d][layer]") {
  nn::MaxPool2d pool2(2);
  REQUIRE(pool2.stride == nn::Size2(2));  // stride defaults to the kernel size
  REQUIRE(pool2.named_parameters().empty());
  REQUIRE(pool2.type_name() == "MaxPool2d");
  REQUIRE(pool2.extra_repr() == "kernel_size=2, stride=2, padding=0");
  Tensor x = distinct({2, 3, 8, 6}, 9).to(kFloat32);
  Tensor y = pool2(x);
  REQUIRE(y.shape() == Shape{2, 3, 4, 3});
  REQUIRE(pool2.last_output_shape() == Shape{2, 3, 4, 3});
  REQUIRE(y.to_vector<double>() == F::max_pool2d(x, 2).to_vector<double>());

  nn::MaxPool2d overlapping(3, 2, 1);
  REQUIRE(overlapping.extra_repr() == "kernel_size=3, stride=2, padding=1");
  REQUIRE(overlapping(x).to_vector<double>() == naive_max_pool(x, {3, 3, 2, 2, 1, 1}).first);
}

TEST_CASE("max_pool2d error messages name the op or layer and the shapes", "[max_pool2d]") {
  REQUIRE_THROWS_WITH(nn::MaxPool2d(2)(random({3, 8, 8}, 10)),
                      Catch::Contains("MaxPool2d(kernel_size=2, stride=2, padding=0): expected input of shape "
                                      "[N, C, H, W], got [3, 8, 8]"));
  REQUIRE_THROWS_WITH(F::max_pool2d(random({3, 8, 8}, 10), 2),
                      Catch::Contains("max_pool2d: expected a 4-D input [N, C, H, W], got shape [3, 8, 8]"));
  REQUIRE_THROWS_WITH(F::max_pool2d(random({1, 1, 8, 8}, 11), 3, 1, 2),
                      Catch::Contains("max_pool2d: padding (2, 2) must be non-negative and at most half the kernel "
                                      "size (3, 3)"));
  REQUIRE_THROWS_WITH(F::max_pool2d(random({1, 1, 2, 8}, 12), 3),
                      Catch::Contains("max_pool2d: input of shape [1, 1, 2, 8] (padded by (0, 0)) is smaller than the "
                                      "kernel (3, 3)"));
  REQUIRE_THROWS_WITH(F::max_pool2d(random({1, 1, 8, 8}, 13), 2, 0),
                      Catch::Contains("max_pool2d: kernel size and stride must be positive"));
}
