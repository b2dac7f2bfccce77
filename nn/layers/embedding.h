#pragma once
// Embedding: a lookup table of vectors indexed by token id, like torch.nn.Embedding.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "nn/unary_module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// Embedding's arguments with PyTorch's names and defaults, as chained setters:
/// `EmbeddingOptions(10000, 256).padding_idx(0)`.
class EmbeddingOptions {
 public:
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}

  /// The row of the padding token: kept zero and out of the gradient. Negative counts from the end.
  EmbeddingOptions& padding_idx(std::optional<int64_t> index) { padding_idx_ = index; return *this; }

  int64_t num_embeddings() const { return num_embeddings_; }
  int64_t embedding_dim() const { return embedding_dim_; }
  const std::optional<int64_t>& padding_idx() const { return padding_idx_; }

 private:
  int64_t num_embeddings_, embedding_dim_;
  std::optional<int64_t> padding_idx_;
};

/// Embedding::from_pretrained's arguments, PyTorch's names and defaults:
/// `EmbeddingFromPretrainedOptions().freeze(false).padding_idx(0)`.
class EmbeddingFromPretrainedOptions {
 public:
  /// Keep the table out of training (requires_grad off); on by default, as in PyTorch.
  EmbeddingFromPretrainedOptions& freeze(bool on) { freeze_ = on; return *this; }
  EmbeddingFromPretrainedOptions& padding_idx(std::optional<int64_t> index) { padding_idx_ = index; return *this; }

  bool freeze() const { return freeze_; }
  const std::optional<int64_t>& padding_idx() const { return padding_idx_; }

 private:
  bool freeze_ = true;
  std::optional<int64_t> padding_idx_;
};

/// int64 ids of any shape → [ids..., embedding_dim], rows of `weight` [num_embeddings,
/// embedding_dim]. weight starts N(0, 1) like PyTorch's, with the padding_idx row (if
/// any) zero and excluded from gradients, so padding tokens stay the zero vector.
class Embedding : public UnaryModule {
 public:
  /// `gen` (optional, not owned) draws the initial table; the default generator otherwise.
  /// A negative padding_idx is stored in `options` counted from the front, as PyTorch does.
  explicit Embedding(const EmbeddingOptions& options, Generator* gen = nullptr);
  Embedding(int64_t num_embeddings, int64_t embedding_dim)
      : Embedding(EmbeddingOptions(num_embeddings, embedding_dim)) {}

  /// An Embedding holding a copy of `embeddings` [num_embeddings, embedding_dim], frozen unless
  /// `.freeze(false)`.
  static std::shared_ptr<Embedding> from_pretrained(
      const Tensor& embeddings, const EmbeddingFromPretrainedOptions& options = EmbeddingFromPretrainedOptions());

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "Embedding"; }
  std::string extra_repr() const override;

  /// Re-draws weight from N(0, 1) (from `gen`, or the default generator) and zeroes the padding row.
  void reset_parameters(Generator* gen = nullptr);

  EmbeddingOptions options;  ///< padding_idx normalised to [0, num_embeddings)
  Tensor weight;
};

}  // namespace focus::nn
