#include "datasets/sentence_pairs.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <stdexcept>

namespace focus::data {

std::string SentencePairsReport::to_string() const {
  std::string out = fmt::format("{}: {} lines read, {} pairs kept, {} malformed", path, lines_read, kept, malformed);
  if (!first_malformed.empty()) {
    out += " (";
    for (size_t i = 0; i < first_malformed.size(); ++i) {
      if (i > 0) out += "; ";
      out += fmt::format("line {}: {}", first_malformed[i].line, first_malformed[i].reason);
    }
    if (malformed > static_cast<int64_t>(first_malformed.size())) out += "; ...";
    out += ")";
  }
  if (too_long > 0) out += fmt::format(", {} over the length limit", too_long);
  if (stopped_at_max_pairs) out += fmt::format(", stopped after line {} (max_pairs reached)", lines_read);
  return out;
}

namespace {

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> columns;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    columns.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) return columns;
    start = tab + 1;
  }
}

// Ranks distinct sources in first-appearance order: pairs sharing a rank move together.
std::vector<int64_t> source_groups(const std::vector<TextPair>& pairs, int64_t& group_count) {
  std::map<std::vector<std::string>, int64_t> group_of_source;
  std::vector<int64_t> groups;
  groups.reserve(pairs.size());
  for (const TextPair& pair : pairs) {
    auto [it, inserted] = group_of_source.try_emplace(pair.source_tokens, static_cast<int64_t>(group_of_source.size()));
    groups.push_back(it->second);
  }
  group_count = static_cast<int64_t>(group_of_source.size());
  return groups;
}

}  // namespace

SentencePairs::SentencePairs(const std::string& path, SentencePairsOptions options)
    : options_(std::move(options)),
      source_tokenizer_(options_.reverse ? options_.second_tokenizer : options_.first_tokenizer),
      target_tokenizer_(options_.reverse ? options_.first_tokenizer : options_.second_tokenizer) {
  if (options_.max_length < 0 || options_.max_pairs < 0) {
    throw std::invalid_argument(fmt::format("SentencePairs: max_length ({}) and max_pairs ({}) must be >= 0",
                                            options_.max_length, options_.max_pairs));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("SentencePairs: cannot open '{}'", path));
  report_.path = path;

  const Tokenizer first_tokenizer(options_.first_tokenizer);
  const Tokenizer second_tokenizer(options_.second_tokenizer);
  std::string line;
  int64_t line_number = 0;
  auto reject = [&](std::string reason) {
    ++report_.malformed;
    if (report_.first_malformed.size() < SentencePairsReport::kMaxListed) {
      report_.first_malformed.push_back({line_number, std::move(reason)});
    }
  };
  while (std::getline(in, line)) {
    ++line_number;
    report_.lines_read = line_number;
    if (line_number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      reject("empty line");
      continue;
    }
    if (!utf8::is_valid(line)) {
      reject("invalid UTF-8");
      continue;
    }
    const std::vector<std::string_view> columns = split_tabs(line);
    if (columns.size() == 1) {
      reject("no tab");
      continue;
    }
    if (columns.size() > 3) {
      reject(fmt::format("{} tab-separated columns, expected 2 or 3", columns.size()));
      continue;
    }
    std::vector<std::string> first_tokens = first_tokenizer.tokenize(columns[0]);
    std::vector<std::string> second_tokens = second_tokenizer.tokenize(columns[1]);
    // A side of only spaces or invisible characters tokenises to nothing: as empty as "".
    if (first_tokens.empty() || second_tokens.empty()) {
      reject(fmt::format("empty {} side", first_tokens.empty() ? options_.first_language : options_.second_language));
      continue;
    }
    if (options_.max_length > 0 && (static_cast<int64_t>(first_tokens.size()) > options_.max_length ||
                                    static_cast<int64_t>(second_tokens.size()) > options_.max_length)) {
      ++report_.too_long;
      continue;
    }
    TextPair pair;
    pair.source = std::string(columns[0]);
    pair.target = std::string(columns[1]);
    pair.source_tokens = std::move(first_tokens);
    pair.target_tokens = std::move(second_tokens);
    pair.line = line_number;
    if (options_.reverse) {
      std::swap(pair.source, pair.target);
      std::swap(pair.source_tokens, pair.target_tokens);
    }
    pairs_.push_back(std::move(pair));
    ++report_.kept;
    if (options_.max_pairs > 0 && report_.kept == options_.max_pairs) {
      // Stop only if something is left, so "stopped" never hides an end of file.
      report_.stopped_at_max_pairs = in.peek() != std::char_traits<char>::eof();
      break;
    }
  }
  if (in.bad()) throw std::runtime_error(fmt::format("SentencePairs: read error in '{}' after line {}", path, line_number));
}

PairSplit SentencePairs::split(SplitFractions fractions, uint64_t seed) const {
  return split_pairs(pairs_, fractions, seed);
}

PairSplit split_pairs(const std::vector<TextPair>& pairs, SplitFractions fractions, uint64_t seed) {
  const double total = fractions.train + fractions.validation + fractions.test;
  if (fractions.train < 0 || fractions.validation < 0 || fractions.test < 0 || std::abs(total - 1.0) > 1e-9) {
    throw std::invalid_argument(fmt::format("split_pairs: fractions {}/{}/{} must be >= 0 and sum to 1",
                                            fractions.train, fractions.validation, fractions.test));
  }
  int64_t group_count = 0;
  const std::vector<int64_t> groups = source_groups(pairs, group_count);

  // Shuffled group order; the first part goes to train, the next to validation.
  std::vector<int64_t> order(static_cast<size_t>(group_count));
  std::iota(order.begin(), order.end(), int64_t{0});
  Generator generator(derive_seed(seed, SeedStream::Split, 0));
  for (int64_t i = group_count - 1; i > 0; --i) {
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(generator.integer(0, i + 1))]);
  }
  const auto train_end = static_cast<int64_t>(std::llround(fractions.train * static_cast<double>(group_count)));
  const auto validation_end = std::min(
      group_count,
      static_cast<int64_t>(std::llround((fractions.train + fractions.validation) * static_cast<double>(group_count))));
  std::vector<int> part_of_group(static_cast<size_t>(group_count));
  for (int64_t position = 0; position < group_count; ++position) {
    part_of_group[static_cast<size_t>(order[static_cast<size_t>(position)])] =
        position < train_end ? 0 : (position < validation_end ? 1 : 2);
  }

  PairSplit split;
  for (size_t i = 0; i < pairs.size(); ++i) {
    switch (part_of_group[static_cast<size_t>(groups[i])]) {
      case 0: split.train.push_back(pairs[i]); break;
      case 1: split.validation.push_back(pairs[i]); break;
      default: split.test.push_back(pairs[i]); break;
    }
  }
  return split;
}

std::vector<std::vector<std::string>> source_token_lists(const std::vector<TextPair>& pairs) {
  std::vector<std::vector<std::string>> lists;
  lists.reserve(pairs.size());
  for (const TextPair& pair : pairs) lists.push_back(pair.source_tokens);
  return lists;
}

std::vector<std::vector<std::string>> target_token_lists(const std::vector<TextPair>& pairs) {
  std::vector<std::vector<std::string>> lists;
  lists.reserve(pairs.size());
  for (const TextPair& pair : pairs) lists.push_back(pair.target_tokens);
  return lists;
}

EncodedPairs::EncodedPairs(const std::vector<TextPair>& pairs, const Vocab& source_vocab, const Vocab& target_vocab) {
  examples_.reserve(pairs.size());
  for (const TextPair& pair : pairs) {
    SentencePair example;
    example.source = source_vocab.encode(pair.source_tokens, false, false, &source_unknowns_);
    example.target = target_vocab.encode(pair.target_tokens, false, false, &target_unknowns_);
    example.source_text = pair.source;
    example.target_text = pair.target;
    source_tokens_ += static_cast<int64_t>(example.source.size());
    target_tokens_ += static_cast<int64_t>(example.target.size());
    examples_.push_back(std::move(example));
  }
}

SentencePair EncodedPairs::get(int64_t index) const {
  if (index < 0 || index >= size()) {
    throw std::out_of_range(fmt::format("EncodedPairs::get: index {} is outside [0, {})", index, size()));
  }
  return examples_[static_cast<size_t>(index)];
}

std::vector<int64_t> EncodedPairs::source_lengths() const {
  std::vector<int64_t> lengths;
  lengths.reserve(examples_.size());
  for (const SentencePair& example : examples_) lengths.push_back(static_cast<int64_t>(example.source.size()));
  return lengths;
}

}  // namespace focus::data
