#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/sampler.h"
#include "tensor/tensor.h"

namespace focus::data {

/// One example of a sequence-to-sequence task: token ids of both sides (no
/// <sos>/<eos>; collate_sequences adds them) and the text they came from, for
/// display and as BLEU references.
struct SentencePair {
  std::vector<int64_t> source;
  std::vector<int64_t> target;
  std::string source_text;
  std::string target_text;
};

/// A padded batch of SentencePairs, ready for an encoder-decoder.
/// B = batch size, S = longest source, T = longest target + 1. Padding is
/// Vocab::kPad (0) and masks are true on real tokens.
struct SequenceBatch {
  Tensor source;          ///< [B, S] int64
  Tensor source_lengths;  ///< [B] int64, tokens per source row
  Tensor source_mask;     ///< [B, S] bool
  Tensor target_input;    ///< [B, T] int64: <sos> y1 .. yn (teacher forcing input)
  Tensor target_output;   ///< [B, T] int64: y1 .. yn <eos> (what to predict)
  Tensor target_lengths;  ///< [B] int64, n + 1 per row
  Tensor target_mask;     ///< [B, T] bool, true where target_output is not padding
  std::vector<std::string> source_texts;  ///< per row, for display
  std::vector<std::string> target_texts;  ///< per row, BLEU references

  int64_t size() const { return source.defined() ? source.size(0) : 0; }
};

/// Pads a list of examples into a SequenceBatch (the DataLoader's collate
/// function for sequence tasks). Throws on an empty list or an example with an
/// empty source (a row with no real token would make attention divide by zero).
SequenceBatch collate_sequences(std::vector<SentencePair>&& examples);
/// The batch's token and mask tensors on `device` (through pinned memory, copies queued
/// asynchronously when device is a GPU). The lengths and texts stay on the host: an LSTM
/// reads lengths on the host to plan its steps (as PyTorch's pack_padded_sequence does),
/// and a copy on the GPU would have to be read back every step.
SequenceBatch to_device(SequenceBatch&& batch, Device device);

/// Options of bucket_batches.
struct BucketOptions {
  /// Sorting happens within shuffled chunks of this many batches: large enough
  /// to find similar lengths, small enough to keep batches random across epochs.
  int64_t chunk_batches = 50;
  /// Drop the one batch smaller than batch_size (there is at most one).
  bool drop_last = false;
};

/// Index batches of similar length for one epoch: shuffle all indices, cut them
/// into chunks of `chunk_batches * batch_size`, sort each chunk by length
/// (stable, so ties stay shuffled), cut chunks into batches, then shuffle the
/// order of the batches. Every index appears exactly once per epoch (unless
/// drop_last); the result depends only on (lengths, batch_size, seed, epoch).
std::vector<std::vector<int64_t>> bucket_batches(const std::vector<int64_t>& lengths, int64_t batch_size,
                                                 uint64_t seed, int64_t epoch, BucketOptions options = {});

/// A DataLoader batch sampler that calls bucket_batches for each epoch; the
/// lengths are copied in.
///
///     DataLoader<SentencePair, SequenceBatch> loader(
///         train, make_bucket_sampler(train->source_lengths(), 64, seed), collate_sequences);
BatchSampler make_bucket_sampler(std::vector<int64_t> lengths, int64_t batch_size, uint64_t seed,
                                 BucketOptions options = {});

/// Batches of a plain shuffle with no sorting, as the DataLoader's own shuffling
/// makes them (the baseline bucketing is measured against).
std::vector<std::vector<int64_t>> random_batches(int64_t count, int64_t batch_size, uint64_t seed, int64_t epoch);

/// Fraction of the padded [B, max length] cells of all batches that are padding.
double padding_fraction(const std::vector<std::vector<int64_t>>& batches, const std::vector<int64_t>& lengths);

}  // namespace focus::data
