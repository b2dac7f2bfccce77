#pragma once
// Embedding: a lookup table of vectors indexed by token id, like torch.nn.Embedding.
#include <cstdint>
#include <optional>
#include <string>

#include "nn/unary_module.h"

namespace focus::nn {

/// int64 ids of any shape → [ids..., embedding_dim], rows of `weight` [num_embeddings,
/// embedding_dim]. weight starts N(0, 1) like PyTorch's, with the padding_idx row (if
/// any; negative counts from the end) zero and excluded from gradients, so padding
/// tokens stay the zero vector.
class Embedding : public UnaryModule {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt);

  /// An Embedding holding a copy of `embeddings` [num_embeddings, embedding_dim];
  /// `freeze` keeps it out of training (requires_grad off).
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& embeddings, bool freeze = true,
                                                    std::optional<int64_t> padding_idx = std::nullopt);

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "Embedding"; }
  std::string extra_repr() const override;

  /// Re-draws weight from N(0, 1) and zeroes the padding row.
  void reset_parameters();

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  ///< normalised to [0, num_embeddings)
  Tensor weight;
};

}  // namespace focus::nn
