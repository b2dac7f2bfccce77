#pragma once
// Parameter initialisation, like torch.nn.init. Every function fills the given
// tensor in place (its storage, so every handle to it sees the new values),
// records nothing for autograd, and draws from `gen` (the default generator
// when null), so a seed reproduces a model exactly.
//
//   nn::init::kaiming_normal_(conv->weight, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU);
#include <optional>
#include <utility>

#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace focus::nn::init {

/// Which fan the Kaiming initialisers keep the variance for: fan_in preserves the
/// forward pass's activations, fan_out the backward pass's gradients.
enum class FanMode { FanIn, FanOut };

/// The nonlinearity after a layer, for calculate_gain.
enum class Nonlinearity { Linear, Conv, Sigmoid, Tanh, ReLU, LeakyReLU };

/// PyTorch's recommended gains: 1 for Linear, Conv and Sigmoid; 5/3 for Tanh;
/// √2 for ReLU; √(2 / (1 + slope²)) for LeakyReLU, with `param` the negative
/// slope (0.01 when not given, PyTorch's default).
double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param = std::nullopt);

/// (fan_in, fan_out) of a weight of shape [out, in, k...]: in·∏k and out·∏k.
/// Throws for tensors with fewer than 2 dims.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);

/// Fills with U(a, b).
Tensor uniform_(const Tensor& tensor, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
/// Fills with N(mean, std²).
Tensor normal_(const Tensor& tensor, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
/// Fills with `value`.
Tensor constant_(const Tensor& tensor, double value);
Tensor zeros_(const Tensor& tensor);
Tensor ones_(const Tensor& tensor);

/// Glorot & Bengio (2010): U(−a, a) with a = gain·√(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(const Tensor& tensor, double gain = 1.0, Generator* gen = nullptr);
/// Glorot & Bengio (2010): N(0, std²) with std = gain·√(2 / (fan_in + fan_out)).
Tensor xavier_normal_(const Tensor& tensor, double gain = 1.0, Generator* gen = nullptr);

/// He et al. (2015): U(−bound, bound) with bound = gain·√(3 / fan), gain =
/// calculate_gain(nonlinearity, a). PyTorch's defaults (a = 0, fan_in, LeakyReLU).
/// Linear and Conv layers use a = √5, which gives U(−1/√fan_in, 1/√fan_in).
Tensor kaiming_uniform_(const Tensor& tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator* gen = nullptr);
/// He et al. (2015): N(0, std²) with std = gain / √fan.
Tensor kaiming_normal_(const Tensor& tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator* gen = nullptr);

/// torch.nn.init.dirac_: a convolution weight [out, in, k...] that passes its input through,
/// weight[i, i, centre] = 1 for i < min(out, in), 0 elsewhere. Fill a narrowed view,
/// `dirac_(w.narrow(0, 0, w.size(1)))`, to make only the first `in` filters identities.
Tensor dirac_(const Tensor& tensor);

/// Patch whitening (the first layer of the fast CIFAR-10 recipes, after Page's and Jordan's):
/// fills a convolution weight [2·C·k², C, k, k] so that its outputs are the image's k×k patches in
/// the eigenbasis of their covariance, each divided by √(eigenvalue + eps), once with + and once
/// with − sign (so a following ReLU/GELU keeps both halves). `images` [N, C, H, W] are the sample
/// whose patches (every k×k window, stride 1) estimate the covariance E[p·pᵀ] (not centred, as the
/// inputs are normalised). Filters come in descending eigenvalue order: the first are the
/// smooth, high-variance directions, the last the fine detail.
Tensor patch_whitening_(const Tensor& weight, const Tensor& images, double eps = 5e-4);

}  // namespace focus::nn::init
