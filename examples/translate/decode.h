#pragma once
// Turning a trained Seq2Seq into translations: greedy decoding and beam search with length
// normalisation, both over whole batches (every live hypothesis of every sentence in one step).
#include <cstdint>
#include <vector>

#include "datasets/sequence_batch.h"
#include "seq2seq.h"

namespace translate {

/// One decoded sentence.
struct Translation {
  std::vector<int64_t> tokens;  ///< target ids, without <sos> and <eos>
  bool ended = false;           ///< true when decoding stopped at <eos>, false at the length limit
  /// Attention over the real source tokens, one row per generated token (plus a last row
  /// for <eos> when `ended`): [rows, source length], float32, on the CPU whatever the model's
  /// device. Undefined without attention.
  Tensor attention;
  double log_probability = 0;  ///< Σ log p of the generated tokens (and <eos>)
  double score = 0;            ///< what the search ranked by: log_probability / (length)^alpha
};

/// The default length limit for a source of `source_length` tokens.
inline int64_t default_max_length(int64_t source_length) { return 2 * source_length + 10; }

/// Greedy decoding of a padded source batch (source [B, S], lengths [B], mask [B, S]): at every step
/// each sentence takes its most likely next token; a sentence stops at <eos>, all stop after
/// `max_length` tokens. The tensors live on the model's device. Runs without gradients; put the
/// model in eval mode first.
std::vector<Translation> greedy_decode(Seq2Seq& model, const Tensor& source, const Tensor& lengths,
                                       const Tensor& mask, int64_t max_length);

/// Beam search over one sentence (source ids without <sos>/<eos>): keeps the `beam` best partial
/// translations by total log-probability; a hypothesis ending in <eos> is finished and ranked by
/// log p / length^length_alpha (length counts <eos>; alpha 0 = no normalisation, 1 = per token).
/// Stops when `beam` hypotheses are finished or after `max_length` tokens (unfinished ones then
/// compete too). With beam = 1 it makes exactly the greedy choices. Runs on the model's device.
/// Throws std::invalid_argument unless 1 <= beam <= limits::kMaxBeam (translator_limits.h).
Translation beam_search(Seq2Seq& model, const std::vector<int64_t>& source, int64_t beam, int64_t max_length,
                        double length_alpha = 1.0);

/// beam_search for every sentence of a padded source batch (source [B, S], lengths [B], mask [B, S],
/// on the model's device) at once: each step runs the live hypotheses of all sentences through the
/// decoder as one batch, and each sentence ranks its own candidates, so the results are beam_search's.
std::vector<Translation> beam_search_batch(Seq2Seq& model, const Tensor& source, const Tensor& lengths,
                                           const Tensor& mask, int64_t beam, int64_t max_length,
                                           double length_alpha = 1.0);

/// Every sentence of a batch: greedy_decode when beam <= 1, else beam_search_batch.
std::vector<Translation> translate_batch(Seq2Seq& model, const focus::data::SequenceBatch& batch, int64_t beam,
                                         int64_t max_length = 0);

}  // namespace translate
