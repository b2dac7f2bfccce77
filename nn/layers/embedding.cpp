#include "nn/layers/embedding.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/grad_mode.h"
#include "nn/functional/embedding.h"
#include "nn/init.h"

namespace focus::nn {

Embedding::Embedding(const EmbeddingOptions& options, Generator* gen) : options(options) {
  const int64_t num_embeddings = options.num_embeddings(), embedding_dim = options.embedding_dim();
  if (num_embeddings <= 0 || embedding_dim < 0)
    throw std::invalid_argument(fmt::format("Embedding: needs num_embeddings > 0 and embedding_dim >= 0, got {} and {}",
                                            num_embeddings, embedding_dim));
  if (const std::optional<int64_t>& padding_idx = options.padding_idx()) {
    if (*padding_idx < -num_embeddings || *padding_idx >= num_embeddings)
      throw std::invalid_argument(fmt::format("Embedding({}, {}): padding_idx {} is out of range", num_embeddings,
                                              embedding_dim, *padding_idx));
    if (*padding_idx < 0) this->options.padding_idx(*padding_idx + num_embeddings);
  }
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}));
  reset_parameters(gen);
}

void Embedding::reset_parameters(Generator* gen) {
  init::normal_(weight, 0.0, 1.0, gen);  // PyTorch's default: N(0, 1)
  if (const std::optional<int64_t>& padding_idx = options.padding_idx()) {
    NoGradGuard no_grad;
    weight.select(0, *padding_idx).fill_(0.0);
  }
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& embeddings,
                                                      const EmbeddingFromPretrainedOptions& options) {
  check_defined(embeddings, "Embedding::from_pretrained");
  if (embeddings.dim() != 2)
    throw std::invalid_argument(
        fmt::format("Embedding::from_pretrained: expected a 2-D table, got shape {}", shape_str(embeddings.shape())));
  auto layer = std::make_shared<Embedding>(
      EmbeddingOptions(embeddings.size(0), embeddings.size(1)).padding_idx(options.padding_idx()));
  NoGradGuard no_grad;
  layer->weight.set_data(embeddings.detach().clone());
  layer->weight.requires_grad_(!options.freeze());
  return layer;
}

Tensor Embedding::forward(const Tensor& input) { return functional::embedding(input, weight, options.padding_idx()); }

std::string Embedding::extra_repr() const {
  const std::optional<int64_t>& padding_idx = options.padding_idx();
  return padding_idx ? fmt::format("{}, {}, padding_idx={}", options.num_embeddings(), options.embedding_dim(),
                                   *padding_idx)
                     : fmt::format("{}, {}", options.num_embeddings(), options.embedding_dim());
}

}  // namespace focus::nn
