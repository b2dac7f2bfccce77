#include "nn/init.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "autograd/grad_mode.h"
#include "tensor/linalg.h"

namespace focus::nn::init {

namespace {

void check_floating(const Tensor& tensor, const char* op) {
  check_defined(tensor, op);
  if (!is_floating(tensor.dtype()))
    throw std::invalid_argument(
        fmt::format("init::{}: expected a float32 or float64 tensor, got {}", op, dtype_name(tensor.dtype())));
}

// Draws a fresh tensor with `draw` in the target's dtype and copies it in: works
// for any layout (views included) and keeps every handle to the storage valid.
template <typename Draw>
Tensor fill_from(const Tensor& tensor, Draw&& draw) {
  NoGradGuard no_grad;
  Tensor values = draw(TensorOptions(tensor.dtype()));
  Tensor target = tensor;  // a handle: copy_ writes into the shared storage
  target.copy_(values.device() == tensor.device() ? values : values.to(tensor.device()));
  return tensor;
}

int64_t fan(const Tensor& tensor, FanMode mode) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  return mode == FanMode::FanIn ? fan_in : fan_out;
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: {
      const double slope = param.value_or(0.01);
      return std::sqrt(2.0 / (1.0 + slope * slope));
    }
  }
  return 1.0;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  check_defined(tensor, "calculate_fan_in_and_fan_out");
  if (tensor.dim() < 2)
    throw std::invalid_argument(fmt::format(
        "calculate_fan_in_and_fan_out: needs a tensor with at least 2 dims (a weight [out, in, k...]), got shape {}",
        shape_str(tensor.shape())));
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

Tensor uniform_(const Tensor& tensor, double a, double b, Generator* gen) {
  check_floating(tensor, "uniform_");
  if (!(a <= b)) throw std::invalid_argument(fmt::format("init::uniform_: expected a <= b, got a={} b={}", a, b));
  return fill_from(tensor, [&](TensorOptions options) { return uniform(tensor.shape(), a, b, options, gen); });
}

Tensor normal_(const Tensor& tensor, double mean, double std, Generator* gen) {
  check_floating(tensor, "normal_");
  if (!(std >= 0.0)) throw std::invalid_argument(fmt::format("init::normal_: std must be >= 0, got {}", std));
  return fill_from(tensor, [&](TensorOptions options) { return normal(tensor.shape(), mean, std, options, gen); });
}

Tensor constant_(const Tensor& tensor, double value) {
  check_floating(tensor, "constant_");
  NoGradGuard no_grad;
  Tensor target = tensor;
  target.fill_(value);
  return tensor;
}

Tensor zeros_(const Tensor& tensor) { return constant_(tensor, 0.0); }
Tensor ones_(const Tensor& tensor) { return constant_(tensor, 1.0); }

Tensor xavier_uniform_(const Tensor& tensor, double gain, Generator* gen) {
  check_floating(tensor, "xavier_uniform_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  // U(-a, a) has variance a²/3, so a = √3·std.
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, gen);
}

Tensor xavier_normal_(const Tensor& tensor, double gain, Generator* gen) {
  check_floating(tensor, "xavier_normal_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  return normal_(tensor, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

Tensor kaiming_uniform_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_floating(tensor, "kaiming_uniform_");
  const int64_t n = fan(tensor, mode);
  if (n == 0) return tensor;  // an empty weight: nothing to fill (PyTorch warns and skips too)
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(n));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_floating(tensor, "kaiming_normal_");
  const int64_t n = fan(tensor, mode);
  if (n == 0) return tensor;
  return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(n)), gen);
}

Tensor dirac_(const Tensor& tensor) {
  check_floating(tensor, "dirac_");
  if (tensor.dim() < 3 || tensor.dim() > 5)
    throw std::invalid_argument(fmt::format(
        "init::dirac_: expected a convolution weight [out, in, k...] with 1 to 3 kernel dims, got shape {}",
        shape_str(tensor.shape())));
  const int64_t out = tensor.size(0), in = tensor.size(1);
  int64_t kernel = 1, centre = 0;  // the centre tap's offset within one [k...] kernel, row-major
  for (int64_t d = 2; d < tensor.dim(); ++d) {
    kernel *= tensor.size(d);
    centre = centre * tensor.size(d) + tensor.size(d) / 2;
  }
  std::vector<double> values(static_cast<size_t>(out * in * kernel), 0.0);
  for (int64_t i = 0; i < std::min(out, in); ++i) values[static_cast<size_t>((i * in + i) * kernel + centre)] = 1.0;
  return fill_from(tensor, [&](TensorOptions options) { return from_vector(values, tensor.shape()).to(options.dtype); });
}

Tensor patch_whitening_(const Tensor& weight, const Tensor& images, double eps) {
  check_floating(weight, "patch_whitening_");
  check_defined(images, "patch_whitening_");
  if (weight.dim() != 4 || weight.size(2) != weight.size(3))
    throw std::invalid_argument(fmt::format("init::patch_whitening_: expected a square convolution weight [out, C, k, k], got {}",
                                            shape_str(weight.shape())));
  const int64_t channels = weight.size(1), k = weight.size(2), dim = channels * k * k;
  if (weight.size(0) != 2 * dim)
    throw std::invalid_argument(fmt::format(
        "init::patch_whitening_: a weight with {} input channels and {}x{} kernels needs 2·{} = {} filters, got {}",
        channels, k, k, dim, 2 * dim, weight.size(0)));
  if (images.dim() != 4 || images.size(1) != channels || images.size(2) < k || images.size(3) < k || images.size(0) < 1)
    throw std::invalid_argument(fmt::format("init::patch_whitening_: expected images [N, {}, H >= {}, W >= {}], got {}",
                                            channels, k, k, shape_str(images.shape())));
  if (!(eps > 0)) throw std::invalid_argument(fmt::format("init::patch_whitening_: eps must be > 0, got {}", eps));
  // The covariance of the patches, accumulated in float64: Σ p·pᵀ / count over every k×k window.
  Tensor host = images.to(kCPU).to(kFloat64).contiguous();
  const double* x = static_cast<const double*>(host.data_ptr());
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  std::vector<double> covariance(static_cast<size_t>(dim * dim), 0.0), patch(static_cast<size_t>(dim));
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y + k <= h; ++y)
      for (int64_t xo = 0; xo + k <= w; ++xo) {
        // The patch in the weight's own order: channel, kernel row, kernel column.
        for (int64_t c = 0, e = 0; c < channels; ++c)
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx, ++e) patch[e] = x[((img * channels + c) * h + y + dy) * w + xo + dx];
        for (int64_t i = 0; i < dim; ++i)
          for (int64_t j = 0; j <= i; ++j) covariance[i * dim + j] += patch[i] * patch[j];
      }
  const double count = static_cast<double>(n * (h - k + 1) * (w - k + 1));
  for (double& value : covariance) value /= count;
  linalg::EigenDecomposition eigen = linalg::eigh(from_vector(covariance, {dim, dim}));
  const double* lambda = static_cast<const double*>(eigen.eigenvalues.data_ptr());
  const double* vectors = static_cast<const double*>(eigen.eigenvectors.data_ptr());
  // Filter f (descending eigenvalue: column dim−1−f) = v / √(λ + eps); filter dim + f = its negative.
  std::vector<double> filters(static_cast<size_t>(2 * dim * dim));
  for (int64_t f = 0; f < dim; ++f) {
    const int64_t column = dim - 1 - f;
    const double scale = 1.0 / std::sqrt(std::max(lambda[column], 0.0) + eps);
    for (int64_t e = 0; e < dim; ++e) {
      filters[f * dim + e] = vectors[e * dim + column] * scale;
      filters[(dim + f) * dim + e] = -vectors[e * dim + column] * scale;
    }
  }
  return fill_from(weight, [&](TensorOptions options) { return from_vector(filters, weight.shape()).to(options.dtype); });
}

}  // namespace focus::nn::init
