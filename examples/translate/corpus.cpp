#include "corpus.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>

#include "datasets/date_task.h"
#include "datasets/sentence_pairs.h"
#include "metadata_fields.h"
#include "translator_limits.h"

namespace translate {

using namespace focus;
using data::SentencePair;

namespace {

// The longest date rendering ("Wednesday, the 30th of September, 2009") is under 40 characters.
constexpr int64_t kDateMaxSource = 48;

data::SentencePairsOptions pair_options(const CorpusOptions& options) {
  data::SentencePairsOptions o;
  o.reverse = options.reverse;
  o.max_length = options.max_length;
  return o;
}

}  // namespace

std::map<std::string, std::string> CorpusOptions::to_metadata() const {
  return {{"data.task", task},
          {"data.path", data_path},
          {"data.reverse", reverse ? "1" : "0"},
          {"data.max_length", std::to_string(max_length)},
          {"data.max_pairs", std::to_string(max_pairs)},
          {"data.min_freq", std::to_string(min_freq)},
          {"data.max_vocab", std::to_string(max_vocab)},
          {"data.date_train", std::to_string(date_train)},
          {"data.date_eval", std::to_string(date_eval)},
          {"data.seed", std::to_string(seed)}};
}

CorpusOptions CorpusOptions::from_metadata(const std::map<std::string, std::string>& metadata) {
  const MetadataFields fields(metadata);
  constexpr int64_t kAnyCount = std::numeric_limits<int64_t>::max();
  CorpusOptions o;
  o.task = fields.choice("data.task", {"dates", "pairs"});
  o.data_path = fields.text("data.path");
  o.reverse = fields.flag("data.reverse");
  o.max_length = fields.integer("data.max_length", 0, limits::kMaxSentenceTokens);
  o.max_pairs = fields.integer("data.max_pairs", 0, kAnyCount);
  o.min_freq = fields.integer("data.min_freq", 1, kAnyCount);
  o.max_vocab = fields.integer("data.max_vocab", 0, limits::kMaxVocab);
  o.date_train = fields.integer("data.date_train", 1, limits::kMaxDateExamples);
  o.date_eval = fields.integer("data.date_eval", 1, limits::kMaxDateExamples);
  o.seed = fields.unsigned_integer("data.seed");
  return o;
}

SentencePair PairList::get(int64_t index) const {
  if (index < 0 || index >= size())
    throw std::out_of_range(fmt::format("PairList::get: index {} is outside [0, {})", index, size()));
  return pairs_[static_cast<size_t>(index)];
}

std::pair<data::Tokenizer, data::Tokenizer> task_tokenizers(const CorpusOptions& options) {
  if (options.task == "dates")
    return {data::DateTranslationTask::tokenizer(), data::DateTranslationTask::tokenizer()};
  data::SentencePairsOptions o = pair_options(options);
  return options.reverse ? std::make_pair(data::Tokenizer(o.second_tokenizer), data::Tokenizer(o.first_tokenizer))
                         : std::make_pair(data::Tokenizer(o.first_tokenizer), data::Tokenizer(o.second_tokenizer));
}

int64_t task_max_source_length(const CorpusOptions& options) {
  return options.task == "dates" ? kDateMaxSource : (options.max_length > 0 ? options.max_length : 50);
}

Corpus load_corpus(const CorpusOptions& options) {
  if (options.task != "dates" && options.task != "pairs")
    throw std::invalid_argument(fmt::format("unknown task '{}': expected dates or pairs", options.task));
  auto [source_tokenizer, target_tokenizer] = task_tokenizers(options);
  Corpus corpus{options, data::Vocab(), data::Vocab(), source_tokenizer, target_tokenizer, nullptr, nullptr,
                nullptr, task_max_source_length(options), ""};
  if (options.task == "dates") {
    // Training dates and held-out dates come from disjoint partitions of the calendar.
    corpus.source_vocab = data::DateTranslationTask::source_vocab();
    corpus.target_vocab = data::DateTranslationTask::target_vocab();
    corpus.train = std::make_shared<data::DateTranslationTask>(options.seed, options.date_train,
                                                               data::DateTaskOptions{.partition = data::DatePartition::Train});
    corpus.validation = std::make_shared<data::DateTranslationTask>(
        options.seed + 1, options.date_eval, data::DateTaskOptions{.partition = data::DatePartition::Test});
    corpus.test = std::make_shared<data::DateTranslationTask>(
        options.seed + 2, options.date_eval, data::DateTaskOptions{.partition = data::DatePartition::Test});
    corpus.description = fmt::format(
        "dates: {} training examples, {} validation and {} test examples of held-out dates; "
        "vocabularies {} source / {} target characters",
        options.date_train, options.date_eval, options.date_eval, corpus.source_vocab.size(),
        corpus.target_vocab.size());
    return corpus;
  }

  if (options.data_path.empty()) throw std::invalid_argument("the pairs task needs --data PATH.tsv");
  data::SentencePairs file(options.data_path, pair_options(options));
  const data::SentencePairsReport& report = file.report();
  if (report.malformed > 0) fmt::print(stderr, "warning: {}\n", report.to_string());
  std::vector<data::TextPair> pairs = file.pairs();
  if (options.max_pairs > 0 && static_cast<int64_t>(pairs.size()) > options.max_pairs) {
    // A seeded sample in file order: the file is sorted by length, so its head is not representative.
    std::vector<size_t> index(pairs.size());
    std::iota(index.begin(), index.end(), 0);
    std::mt19937_64 rng(options.seed);
    std::shuffle(index.begin(), index.end(), rng);
    index.resize(static_cast<size_t>(options.max_pairs));
    std::sort(index.begin(), index.end());
    std::vector<data::TextPair> sample;
    sample.reserve(index.size());
    for (size_t i : index) sample.push_back(pairs[i]);
    pairs = std::move(sample);
  }
  if (pairs.size() < 10)
    throw std::runtime_error(fmt::format("{}: only {} usable pairs ({})", options.data_path, pairs.size(),
                                         report.to_string()));
  data::PairSplit split = data::split_pairs(pairs, {0.8, 0.1, 0.1}, options.seed);
  data::VocabOptions vocab_options{.min_freq = options.min_freq, .max_size = options.max_vocab};
  corpus.source_vocab = data::Vocab::build(data::source_token_lists(split.train), vocab_options);
  corpus.target_vocab = data::Vocab::build(data::target_token_lists(split.train), vocab_options);
  auto encode = [&](const std::vector<data::TextPair>& part) {
    return std::make_shared<data::EncodedPairs>(part, corpus.source_vocab, corpus.target_vocab);
  };
  auto train = encode(split.train);
  corpus.train = train;
  corpus.validation = encode(split.validation);
  corpus.test = encode(split.test);
  corpus.description = fmt::format(
      "{}\n{} pairs used{}: {} train / {} validation / {} test (split by source sentence); vocabularies "
      "{} source / {} target tokens (min frequency {}); <unk> in training: {:.2f}% source, {:.2f}% target tokens",
      report.to_string(), pairs.size(),
      options.max_pairs > 0 ? fmt::format(" (a random sample, --max-pairs {})", options.max_pairs) : "",
      split.train.size(), split.validation.size(), split.test.size(), corpus.source_vocab.size(),
      corpus.target_vocab.size(), options.min_freq,
      100.0 * static_cast<double>(train->source_unknowns()) / static_cast<double>(std::max<int64_t>(1, train->source_tokens())),
      100.0 * static_cast<double>(train->target_unknowns()) / static_cast<double>(std::max<int64_t>(1, train->target_tokens())));
  return corpus;
}

std::shared_ptr<const PairDataset> load_pairs_for_eval(const std::string& path, const CorpusOptions& options,
                                                       const data::Vocab& source_vocab,
                                                       const data::Vocab& target_vocab) {
  data::SentencePairs file(path, pair_options(options));
  if (file.report().malformed > 0) fmt::print(stderr, "warning: {}\n", file.report().to_string());
  if (file.size() == 0) throw std::runtime_error(fmt::format("{}: no usable pairs ({})", path, file.report().to_string()));
  return std::make_shared<data::EncodedPairs>(file.pairs(), source_vocab, target_vocab);
}

std::vector<int64_t> source_lengths(const PairDataset& dataset) {
  std::vector<int64_t> lengths(static_cast<size_t>(dataset.size()));
  for (int64_t i = 0; i < dataset.size(); ++i)
    lengths[static_cast<size_t>(i)] = static_cast<int64_t>(dataset.get(i).source.size());
  return lengths;
}

EncodedInput encode_input(const std::string& text, const data::Tokenizer& tokenizer, const data::Vocab& vocab,
                          int64_t max_length) {
  std::vector<std::string> tokens = tokenizer.tokenize(text);
  // Char mode keeps spaces as tokens; a line of spaces has nothing to translate either way.
  bool blank = std::all_of(tokens.begin(), tokens.end(), [](const std::string& t) { return t == " "; });
  if (tokens.empty() || blank) throw std::invalid_argument("empty input: nothing to translate");
  EncodedInput input;
  if (max_length > 0 && static_cast<int64_t>(tokens.size()) > max_length) {
    input.notes.push_back(fmt::format("input is {} tokens long; truncated to the first {} (the model was trained on "
                                      "sentences of at most {})",
                                      tokens.size(), max_length, max_length));
    tokens.resize(static_cast<size_t>(max_length));
  }
  std::vector<std::string> unknown;
  for (const std::string& token : tokens) {
    int64_t id = vocab.id(token);
    input.ids.push_back(id);
    input.tokens.push_back(id == data::Vocab::kUnk ? vocab.token(data::Vocab::kUnk) : token);
    if (id == data::Vocab::kUnk) unknown.push_back(quoted(token, limits::kMaxLabelCharacters));  // typed bytes, escaped
  }
  if (!unknown.empty())
    input.notes.push_back(fmt::format("{} not in the vocabulary, read as <unk>: {}",
                                      unknown.size() == 1 ? "1 token is" : fmt::format("{} tokens are", unknown.size()),
                                      fmt::join(unknown, " ")));
  return input;
}

bool read_input_line(std::istream& in, InputLine& line, int64_t max_bytes) {
  line.text.clear();
  line.bytes = 0;
  std::streambuf* buffer = in.rdbuf();
  bool any = false;
  int last = 0;
  for (int c = buffer->sbumpc(); c != std::char_traits<char>::eof(); c = buffer->sbumpc()) {
    any = true;
    if (c == '\n') break;
    // Count every byte, keep only what may be read: a line of a gigabyte costs max_bytes of memory.
    if (line.bytes < max_bytes) line.text += static_cast<char>(c);
    ++line.bytes;
    last = c;
  }
  if (!any) {
    in.setstate(std::ios::eofbit);
    return false;
  }
  if (last == '\r') {  // a Windows line ending is not part of the sentence
    --line.bytes;
    if (static_cast<int64_t>(line.text.size()) > line.bytes) line.text.pop_back();
  }
  return true;
}

}  // namespace translate
