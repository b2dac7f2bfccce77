#pragma once
// The translator's model: a recurrent encoder over the source sentence and a recurrent
// decoder (LSTM, or GRU as in Cho et al. 2014) that attends over the encoder's outputs at
// every step (Bahdanau et al. 2015, Luong et al. 2015, or the scaled dot product of Vaswani
// et al. 2017), or does not attend at all (Sutskever et al. 2014), for comparison.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "datasets/sequence_batch.h"
#include "nn/layers/additive_attention.h"
#include "nn/layers/embedding.h"
#include "nn/layers/gru.h"
#include "nn/layers/gru_cell.h"
#include "nn/layers/linear.h"
#include "nn/layers/lstm.h"
#include "nn/layers/lstm_cell.h"
#include "nn/layers/luong_attention.h"
#include "nn/module.h"
#include "tensor/generator.h"

namespace translate {

using focus::Tensor;

/// How the decoder looks at the source.
enum class AttentionKind {
  Bahdanau,      ///< additive score of the previous state; context feeds the LSTM input
  LuongDot,      ///< hᵀ k of the new state; context and state combined after the LSTM
  LuongGeneral,  ///< hᵀ W k of the new state; as LuongDot otherwise
  ScaledDot,     ///< hᵀ k / √H of the new state (scaled dot-product attention); as LuongDot otherwise
  None,          ///< no attention: the decoder sees the source only through its initial state
};

/// "bahdanau", "luong-dot", "luong-general", "scaled-dot", "none" → the kind; throws on anything else.
AttentionKind parse_attention(const std::string& name);
/// The kind's command-line name.
std::string attention_name(AttentionKind kind);

/// The recurrent cell of the encoder and the decoder.
enum class CellKind {
  LSTM,  ///< state (h, c)
  GRU,   ///< state h only
};

/// "lstm", "gru" → the kind; throws on anything else.
CellKind parse_cell(const std::string& name);
/// The kind's command-line name.
std::string cell_name(CellKind kind);

/// Everything that fixes the model's shape; stored in checkpoints to rebuild it.
struct Seq2SeqConfig {
  int64_t source_vocab = 0;
  int64_t target_vocab = 0;
  int64_t embed = 128;
  /// The decoder's state size, and the encoder's output size (a bidirectional encoder
  /// uses hidden/2 per direction, so its outputs and joined final states are `hidden` wide).
  int64_t hidden = 256;
  int64_t layers = 1;
  bool bidirectional = false;
  double dropout = 0.0;
  AttentionKind attention = AttentionKind::Bahdanau;
  CellKind cell = CellKind::LSTM;

  /// As checkpoint metadata ("model.hidden" = "256", "model.cell" = "gru", ...).
  std::map<std::string, std::string> to_metadata() const;
  /// Reads what to_metadata() wrote, every number parsed whole and within translator_limits.h;
  /// throws std::invalid_argument naming the missing or malformed key, its value (escaped) and what
  /// was expected. A checkpoint without "model.cell" (written before the GRU existed) holds an LSTM.
  static Seq2SeqConfig from_metadata(const std::map<std::string, std::string>& metadata);
  /// Throws std::invalid_argument on impossible sizes (non-positive, odd hidden when bidirectional)
  /// and on sizes over translator_limits.h's (each one, and the parameter count), before anything
  /// is allocated.
  void validate() const;

  /// Every parameter Seq2Seq(config) registers, by name, with its shape: worked out from the sizes
  /// alone, allocating nothing (tests check it against the built model).
  std::vector<std::pair<std::string, focus::Shape>> parameter_shapes() const;
  /// Throws std::invalid_argument unless `tensors` (a checkpoint's model tensors, name → shape) are
  /// exactly parameter_shapes(): a checkpoint whose metadata disagrees with its own weights is
  /// refused before the model it describes is built, naming the first tensor that differs.
  void check_parameter_shapes(const std::map<std::string, focus::Shape>& tensors) const;
  /// "source_vocab=17, target_vocab=22, embed=8, hidden=16, layers=1, ..." for messages.
  std::string describe() const;
};

/// What the decoder reads from the encoder, computed once per batch.
struct Memory {
  Tensor outputs;  ///< encoder outputs [B, S, H], zero at padded positions: the attention values
  Tensor keys;     ///< precomputed keys: W_k k + b (Bahdanau) [B, S, A], (W k)ᵀ (general) or kᵀ (dot) [B, H, S],
                   ///< k itself (scaled-dot) [B, S, H]
  Tensor mask;     ///< bool [B, S], true on real source tokens
  /// The rows `index` (int64 [K]) of every tensor, for beam search.
  Memory select_rows(const Tensor& index) const;
};

/// The decoder's recurrent state between steps.
struct DecoderState {
  std::vector<Tensor> h, c;  ///< per layer, [B, H]; c is empty for a GRU
  Tensor feed;               ///< Luong's attentional state h̃ of the previous step [B, H] (input feeding)
  /// The rows `index` (int64 [K]) of every tensor, for beam search.
  DecoderState select_rows(const Tensor& index) const;
};

/// Embedding → dropout → LSTM or GRU over padded batches (lengths), optionally bidirectional.
class Encoder : public focus::nn::Module {
 public:
  explicit Encoder(const Seq2SeqConfig& config);

  /// source int64 [B, S], lengths int64 [B] → outputs [B, S, H] (zero past each length) and
  /// final states h_n, c_n [layers, B, H] at each sentence's last real token (both directions
  /// joined when bidirectional); c_n is undefined for a GRU.
  struct Output {
    Tensor outputs, h_n, c_n;
  };
  Output forward(const Tensor& source, const Tensor& lengths);

  std::string type_name() const override { return "Encoder"; }

  std::shared_ptr<focus::nn::Embedding> embedding;
  std::shared_ptr<focus::nn::LSTM> lstm;  ///< LSTM cells only
  std::shared_ptr<focus::nn::GRU> gru;    ///< GRU cells only

 private:
  Seq2SeqConfig config_;
};

/// One decoder step's results.
struct StepOutput {
  Tensor features;   ///< what the output head turns into logits, [B, F]
  Tensor attention;  ///< weights over the source [B, S] (undefined without attention)
};

/// Stacked LSTM or GRU cells, one step at a time, with the chosen attention and an output head.
class Decoder : public focus::nn::Module {
 public:
  explicit Decoder(const Seq2SeqConfig& config);

  /// The keys every step will score against, computed once per batch.
  Memory prepare(const Encoder::Output& encoded, const Tensor& mask);
  /// The encoder's final states as the decoder's initial state.
  DecoderState initial_state(const Encoder::Output& encoded) const;
  /// One step from the embedded previous tokens [B, E]; updates `state`.
  StepOutput step(const Tensor& embedded, DecoderState& state, const Memory& memory);
  /// Logits [..., V] from step features [..., F] (one GEMM for all steps when given [B, T, F]).
  Tensor head(const Tensor& features);

  std::string type_name() const override { return "Decoder"; }

  std::shared_ptr<focus::nn::Embedding> embedding;
  std::vector<std::shared_ptr<focus::nn::LSTMCell>> cells;     ///< LSTM cells only
  std::vector<std::shared_ptr<focus::nn::GRUCell>> gru_cells;  ///< GRU cells only
  std::shared_ptr<focus::nn::AdditiveAttention> additive;  ///< Bahdanau only
  std::shared_ptr<focus::nn::LuongAttention> luong;        ///< Luong general only (dot has no parameters)
  std::shared_ptr<focus::nn::Linear> combine;              ///< attentional state: [context; h] → H
  std::shared_ptr<focus::nn::Linear> out;                  ///< H → target vocabulary

 private:
  Seq2SeqConfig config_;
};

/// Encoder + decoder. forward() is the teacher-forced training pass; decode.h searches.
class Seq2Seq : public focus::nn::Module {
 public:
  explicit Seq2Seq(const Seq2SeqConfig& config);

  /// Encoder outputs, keys and initial decoder state for a padded source batch.
  std::pair<Memory, DecoderState> encode(const Tensor& source, const Tensor& lengths, const Tensor& mask);

  /// Logits [B, T, V] for the batch's target positions. With teacher_forcing = 1 every
  /// step reads the true previous token and the output head runs once over all steps;
  /// below 1, each step reads the model's own previous prediction with probability
  /// 1 − teacher_forcing (one draw per step from `generator`, or the default one).
  Tensor forward(const focus::data::SequenceBatch& batch, double teacher_forcing = 1.0,
                 focus::Generator* generator = nullptr);

  std::string type_name() const override { return "Seq2Seq"; }
  const Seq2SeqConfig& config() const { return config_; }
  /// Where the parameters live (after Module::to); decoding creates its tensors there.
  focus::Device device() const { return encoder->embedding->weight.device(); }

  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<Decoder> decoder;

 private:
  Seq2SeqConfig config_;
};

/// Masked cross-entropy of logits [B, T, V] against target ids [B, T]: padding (id 0)
/// adds neither loss nor gradient; the mean is over real target tokens.
focus::Tensor sequence_loss(const focus::Tensor& logits, const focus::Tensor& targets);

}  // namespace translate
