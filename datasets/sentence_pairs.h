#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/sequence_batch.h"
#include "datasets/tokenizer.h"
#include "datasets/vocab.h"

namespace focus::data {

/// One usable line of a sentence-pair file: the two sides as written in the
/// file and their tokens (source/target already swapped when `reverse`).
struct TextPair {
  std::string source;
  std::string target;
  std::vector<std::string> source_tokens;
  std::vector<std::string> target_tokens;
  int64_t line = 0;  ///< 1-based line number in the file
};

/// A line that could not be read as a pair, and why.
struct MalformedLine {
  int64_t line = 0;  ///< 1-based
  std::string reason;
};

/// What reading a sentence-pair file did with each line. Every line is
/// accounted for: lines_read = kept + malformed + too_long.
struct SentencePairsReport {
  std::string path;
  int64_t lines_read = 0;
  int64_t kept = 0;
  int64_t malformed = 0;
  int64_t too_long = 0;                       ///< over max_length tokens on either side
  bool stopped_at_max_pairs = false;          ///< reading stopped early, after line lines_read
  std::vector<MalformedLine> first_malformed; ///< the first kMaxListed malformed lines
  static constexpr size_t kMaxListed = 5;

  /// One line for logs, e.g. "data.tsv: 10 lines read, 7 pairs kept, 2 malformed
  /// (line 3: no tab; line 8: empty French side), 1 longer than 5 tokens".
  std::string to_string() const;
};

/// Options of SentencePairs.
struct SentencePairsOptions {
  /// Names of the two columns, used in messages ("empty French side").
  std::string first_language = "English";
  std::string second_language = "French";
  /// Tokenizers of the first and second column (before any `reverse`).
  TokenizerOptions first_tokenizer{.lowercase = true};
  TokenizerOptions second_tokenizer{.lowercase = true, .french_spacing = true};
  /// Translate from the second column to the first (French -> English).
  bool reverse = false;
  /// Drop pairs with more tokens than this on either side; 0 = no limit.
  int64_t max_length = 0;
  /// Stop after this many kept pairs (in file order); 0 = all.
  int64_t max_pairs = 0;
};

/// Fractions of a train / validation / test split; they must sum to 1.
struct SplitFractions {
  double train = 0.8;
  double validation = 0.1;
  double test = 0.1;
};

/// The three parts of a split, each in file order.
struct PairSplit {
  std::vector<TextPair> train;
  std::vector<TextPair> validation;
  std::vector<TextPair> test;
};

/// Sentence pairs read from a tab-separated file, one pair per line:
/// `first<TAB>second[<TAB>attribution]` (the Tatoeba / manythings.org format,
/// e.g. `Go.<TAB>Va !`). UTF-8, LF or CRLF line endings, an optional BOM.
///
/// Lines that are not a pair (no tab, an empty side, too many columns, invalid
/// UTF-8) are never dropped silently: they are counted in report() with the
/// first five line numbers and reasons.
class SentencePairs {
 public:
  /// Reads and tokenises `path`; throws naming the file when it cannot be opened.
  explicit SentencePairs(const std::string& path, SentencePairsOptions options = {});

  const std::vector<TextPair>& pairs() const { return pairs_; }
  int64_t size() const { return static_cast<int64_t>(pairs_.size()); }
  const SentencePairsReport& report() const { return report_; }
  const SentencePairsOptions& options() const { return options_; }

  /// Tokenizers of the source and target side (after `reverse`); use their
  /// detokenize() to display decoded sentences.
  const Tokenizer& source_tokenizer() const { return source_tokenizer_; }
  const Tokenizer& target_tokenizer() const { return target_tokenizer_; }

  /// A deterministic split by `seed`. Pairs with the same source tokens (one
  /// English sentence with several French translations) go to the same part,
  /// so no test source is ever seen in training; the fractions therefore apply
  /// to distinct sources and are met to within rounding of that count.
  PairSplit split(SplitFractions fractions, uint64_t seed) const;

 private:
  SentencePairsOptions options_;
  Tokenizer source_tokenizer_;
  Tokenizer target_tokenizer_;
  std::vector<TextPair> pairs_;
  SentencePairsReport report_;
};

/// Splits an already-read list of pairs (see SentencePairs::split).
PairSplit split_pairs(const std::vector<TextPair>& pairs, SplitFractions fractions, uint64_t seed);

/// The source token lists of `pairs`, to build a source Vocab from (training part only).
std::vector<std::vector<std::string>> source_token_lists(const std::vector<TextPair>& pairs);
/// The target token lists of `pairs`.
std::vector<std::vector<std::string>> target_token_lists(const std::vector<TextPair>& pairs);

/// TextPairs encoded with a source and a target vocabulary: the Dataset a
/// DataLoader reads, one SentencePair per pair, collated by collate_sequences.
class EncodedPairs : public Dataset<SentencePair> {
 public:
  EncodedPairs(const std::vector<TextPair>& pairs, const Vocab& source_vocab, const Vocab& target_vocab);

  int64_t size() const override { return static_cast<int64_t>(examples_.size()); }
  SentencePair get(int64_t index) const override;

  /// Source lengths in tokens, by index (for bucket_batches).
  std::vector<int64_t> source_lengths() const;
  /// Tokens that encoded as <unk>, per side, over the whole set.
  int64_t source_unknowns() const { return source_unknowns_; }
  int64_t target_unknowns() const { return target_unknowns_; }
  /// Total tokens per side (to put the unknowns in proportion).
  int64_t source_tokens() const { return source_tokens_; }
  int64_t target_tokens() const { return target_tokens_; }

 private:
  std::vector<SentencePair> examples_;
  int64_t source_unknowns_ = 0;
  int64_t target_unknowns_ = 0;
  int64_t source_tokens_ = 0;
  int64_t target_tokens_ = 0;
};

}  // namespace focus::data
