#pragma once
// The translator's data: the synthetic date task or a file of sentence pairs, split into
// train / validation / test, with vocabularies and tokenizers, and the encoding of
// sentences typed by a user.
#include <cstdint>
#include <istream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/sequence_batch.h"
#include "datasets/tokenizer.h"
#include "datasets/vocab.h"

namespace translate {

/// Which data, and how to cut it; stored in checkpoints so eval and resume rebuild the same split.
struct CorpusOptions {
  std::string task = "dates";  ///< "dates" (synthetic) or "pairs" (a TSV file)
  std::string data_path;       ///< the TSV file (pairs)
  bool reverse = false;        ///< translate the second column into the first
  int64_t max_length = 10;     ///< pairs: drop pairs with more tokens on either side
  /// pairs: keep a random sample of this many pairs (0 = all). Sampled over the whole
  /// file rather than its first lines, which in the Tatoeba files are the shortest.
  int64_t max_pairs = 0;
  int64_t min_freq = 2;       ///< pairs: rarer training tokens become <unk>
  int64_t max_vocab = 0;      ///< pairs: vocabulary size limit per side (0 = none)
  int64_t date_train = 20000;  ///< dates: training examples (from the training partition of dates)
  int64_t date_eval = 1000;    ///< dates: validation and test examples each (held-out dates)
  uint64_t seed = 0;

  std::map<std::string, std::string> to_metadata() const;
  static CorpusOptions from_metadata(const std::map<std::string, std::string>& metadata);
};

/// A list of examples as a Dataset (for splits of a file and for tests).
class PairList : public focus::data::Dataset<focus::data::SentencePair> {
 public:
  explicit PairList(std::vector<focus::data::SentencePair> pairs) : pairs_(std::move(pairs)) {}
  int64_t size() const override { return static_cast<int64_t>(pairs_.size()); }
  focus::data::SentencePair get(int64_t index) const override;

 private:
  std::vector<focus::data::SentencePair> pairs_;
};

using PairDataset = focus::data::Dataset<focus::data::SentencePair>;

/// Everything training and evaluation read.
struct Corpus {
  CorpusOptions options;
  focus::data::Vocab source_vocab, target_vocab;
  focus::data::Tokenizer source_tokenizer, target_tokenizer;
  std::shared_ptr<const PairDataset> train, validation, test;
  /// Longest source a user may type, in tokens (longer input is truncated).
  int64_t max_source_length = 0;
  std::string description;  ///< a few lines for the log
};

/// The tokenizers of a task (pairs: lowercased words, French spacing on the French side).
std::pair<focus::data::Tokenizer, focus::data::Tokenizer> task_tokenizers(const CorpusOptions& options);
/// The longest source a model of this task reads.
int64_t task_max_source_length(const CorpusOptions& options);

/// Builds the corpus: dates are generated, a TSV file is read (malformed lines are reported with
/// their line numbers on stderr), sampled, split 80/10/10 by source sentence, and vocabularies
/// are built from the training part.
Corpus load_corpus(const CorpusOptions& options);

/// Every usable pair of `path` (tokenised like `options`' task), encoded with given vocabularies:
/// the test set of `translate eval --data` for a file other than the training one.
std::shared_ptr<const PairDataset> load_pairs_for_eval(const std::string& path, const CorpusOptions& options,
                                                       const focus::data::Vocab& source_vocab,
                                                       const focus::data::Vocab& target_vocab);

/// Source lengths of every example (for length bucketing).
std::vector<int64_t> source_lengths(const PairDataset& dataset);

/// A user's sentence ready for the model.
struct EncodedInput {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;  ///< as the model sees them: unknown ones shown as <unk>
  std::vector<std::string> notes;   ///< unknown words, truncation
};

/// Tokenises and encodes `text`; unknown tokens become <unk> and input over `max_length` tokens
/// is truncated, each with a note (typed bytes in notes are escaped). Throws std::invalid_argument
/// on empty (or all-space) input.
EncodedInput encode_input(const std::string& text, const focus::data::Tokenizer& tokenizer,
                          const focus::data::Vocab& vocab, int64_t max_length);

/// One line a user typed or piped in.
struct InputLine {
  std::string text;   ///< the line without its '\n' (and '\r'), cut after max_bytes
  int64_t bytes = 0;  ///< how long the line really was
};
/// Reads the next line of `in` into `line`, holding at most `max_bytes` of it however long it is
/// (line.bytes > max_bytes tells the caller it was cut). Returns false at the end of the input.
bool read_input_line(std::istream& in, InputLine& line, int64_t max_bytes);

}  // namespace translate
