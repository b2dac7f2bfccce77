#include "nn/layers/gru.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "nn/init.h"

namespace focus::nn {

GRU::GRU(const GRUOptions& options, Generator* generator) : options_(options) {
  const int64_t H = options.hidden_size();
  if (options.input_size() <= 0 || H <= 0 || options.num_layers() <= 0)
    throw std::invalid_argument(fmt::format("GRU: input_size, hidden_size and num_layers must be positive, got "
                                            "{}, {} and {}",
                                            options.input_size(), H, options.num_layers()));
  if (!(options.dropout() >= 0.0 && options.dropout() <= 1.0))
    throw std::invalid_argument(fmt::format("GRU: dropout must be in [0, 1], got {}", options.dropout()));

  const int64_t directions = options.bidirectional() ? 2 : 1;
  for (int64_t layer = 0; layer < options.num_layers(); ++layer) {
    const int64_t in_features = layer == 0 ? options.input_size() : directions * H;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const std::string suffix = fmt::format("_l{}{}", layer, direction == 1 ? "_reverse" : "");
      functional::GRUWeights w;
      w.weight_ih = register_parameter("weight_ih" + suffix, empty({3 * H, in_features}));
      w.weight_hh = register_parameter("weight_hh" + suffix, empty({3 * H, H}));
      if (options.bias()) {
        w.bias_ih = register_parameter("bias_ih" + suffix, empty({3 * H}));
        w.bias_hh = register_parameter("bias_hh" + suffix, empty({3 * H}));
      }
      weights_.push_back(w);
    }
  }
  reset_parameters(generator);
}

void GRU::reset_parameters(Generator* generator) {
  // PyTorch's reset_parameters for recurrent layers: every parameter U(−1/√H, 1/√H).
  const double bound = 1.0 / std::sqrt(static_cast<double>(options_.hidden_size()));
  for (Tensor& p : parameters()) init::uniform_(p, -bound, bound, generator);
}

std::string GRU::extra_repr() const {
  std::string repr = fmt::format("{}, {}", options_.input_size(), options_.hidden_size());
  if (options_.num_layers() != 1) repr += fmt::format(", num_layers={}", options_.num_layers());
  if (!options_.bias()) repr += ", bias=False";
  if (options_.batch_first()) repr += ", batch_first=True";
  if (options_.dropout() != 0.0) repr += fmt::format(", dropout={}", options_.dropout());
  if (options_.bidirectional()) repr += ", bidirectional=True";
  return repr;
}

const functional::GRUWeights& GRU::weights(int64_t layer, int64_t direction) const {
  const int64_t directions = options_.bidirectional() ? 2 : 1;
  if (layer < 0 || layer >= options_.num_layers() || direction < 0 || direction >= directions)
    throw std::out_of_range(fmt::format("GRU({}): no layer {} direction {}", extra_repr(), layer, direction));
  return weights_[static_cast<size_t>(layer * directions + direction)];
}

functional::GRUOutput GRU::forward(const Tensor& input, const Tensor& h0, const Tensor& lengths) {
  functional::GRUFunctionalOptions run;
  run.bidirectional = options_.bidirectional();
  run.batch_first = options_.batch_first();
  run.dropout = options_.dropout();
  run.training = is_training();
  run.name = fmt::format("GRU({})", extra_repr());
  return functional::gru(input, weights_, h0, lengths, run);
}

}  // namespace focus::nn
