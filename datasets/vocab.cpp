#include "datasets/vocab.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "datasets/tokenizer.h"
#include "tensor/atomic_file.h"

namespace focus::data {

const std::array<std::string, 4>& Vocab::special_tokens() {
  static const std::array<std::string, 4> kSpecials = {"<pad>", "<sos>", "<eos>", "<unk>"};
  return kSpecials;
}

Vocab::Vocab() {
  for (const std::string& special : special_tokens()) add(special);
}

void Vocab::add(std::string token) {
  ids_.emplace(token, size());
  tokens_.push_back(std::move(token));
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sentences, VocabOptions options) {
  if (options.min_freq < 1) throw std::invalid_argument(fmt::format("Vocab::build: min_freq must be >= 1, got {}", options.min_freq));
  if (options.max_size != 0 && options.max_size < kNumSpecial) {
    throw std::invalid_argument(fmt::format(
        "Vocab::build: max_size {} leaves no room for the {} special tokens", options.max_size, kNumSpecial));
  }
  Vocab vocab;
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& sentence : sentences) {
    for (const std::string& token : sentence) {
      if (!vocab.contains(token)) ++counts[token];
    }
  }
  std::vector<std::pair<std::string, int64_t>> kept;
  for (auto& [token, count] : counts) {
    if (count >= options.min_freq) kept.emplace_back(token, count);
  }
  // The hash map's order is arbitrary; this sort alone decides the ids.
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (options.max_size != 0 && static_cast<int64_t>(kept.size()) > options.max_size - kNumSpecial) {
    kept.resize(static_cast<size_t>(options.max_size - kNumSpecial));
  }
  for (auto& entry : kept) vocab.add(std::move(entry.first));
  return vocab;
}

Vocab Vocab::from_tokens(const std::vector<std::string>& tokens) {
  Vocab vocab;
  for (const std::string& token : tokens) {
    if (vocab.contains(token)) {
      throw std::invalid_argument(fmt::format("Vocab::from_tokens: token '{}' appears twice or is a special token", token));
    }
    vocab.add(token);
  }
  return vocab;
}

int64_t Vocab::id(std::string_view token) const {
  // C++20 heterogeneous lookup in unordered_map needs a transparent hash; one
  // string copy per lookup is cheap next to tokenising.
  auto found = ids_.find(std::string(token));
  return found == ids_.end() ? kUnk : found->second;
}

bool Vocab::contains(std::string_view token) const { return ids_.count(std::string(token)) != 0; }

const std::string& Vocab::token(int64_t id) const {
  if (id < 0 || id >= size()) {
    throw std::out_of_range(fmt::format("Vocab::token: id {} is outside [0, {})", id, size()));
  }
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& tokens, bool add_sos, bool add_eos,
                                   int64_t* unknown_count) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size() + 2);
  if (add_sos) ids.push_back(kSos);
  for (const std::string& token : tokens) {
    const int64_t token_id = id(token);
    if (token_id == kUnk && unknown_count != nullptr && token != special_tokens()[kUnk]) ++*unknown_count;
    ids.push_back(token_id);
  }
  if (add_eos) ids.push_back(kEos);
  return ids;
}

std::vector<std::string> Vocab::decode(const std::vector<int64_t>& ids, DecodeOptions options) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t token_id : ids) {
    if (token_id == kEos && options.stop_at_eos) break;
    if (options.skip_special && (token_id == kPad || token_id == kSos || token_id == kEos)) continue;
    tokens.push_back(token(token_id));
  }
  return tokens;
}

void Vocab::save(const std::string& path) const {
  for (int64_t i = 0; i < size(); ++i) {
    const std::string& t = tokens_[static_cast<size_t>(i)];
    if (t.find_first_of("\n\r") != std::string::npos) {
      throw std::invalid_argument(fmt::format(
          "Vocab::save: token {} contains a line break and cannot be written one per line to '{}'", i, path));
    }
  }
  std::string text;
  for (const std::string& t : tokens_) text += t + '\n';
  try {
    write_file_atomically(path, text);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("Vocab::save: {}", e.what()));
  }
}

Vocab Vocab::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("Vocab::load: cannot open '{}'", path));
  Vocab vocab;
  std::string line;
  int64_t line_number = 0;
  auto fail = [&](const std::string& why) {
    return std::runtime_error(fmt::format("Vocab::load: '{}' line {}: {}", path, line_number, why));
  };
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // tolerate a file edited on Windows
    if (line.empty()) throw fail("empty line (every line must hold one token)");
    if (!utf8::is_valid(line)) throw fail(fmt::format("invalid UTF-8 in {:?}", line));
    // A line break inside a token could never be written back by save() nor produced by a tokenizer:
    // such a token would silently turn into <unk>.
    if (line.find('\r') != std::string::npos)
      throw fail(fmt::format("token {:?} contains a carriage return (a token is one line of text)", line));
    if (line_number <= kNumSpecial) {
      const std::string& expected = special_tokens()[static_cast<size_t>(line_number - 1)];
      if (line != expected) throw fail(fmt::format("expected special token '{}', found {:?}", expected, line));
      continue;
    }
    if (vocab.contains(line)) {
      throw fail(fmt::format("token {:?} already appeared on line {}", line, vocab.id(line) + 1));
    }
    vocab.add(line);
  }
  if (line_number < kNumSpecial) {
    throw std::runtime_error(fmt::format(
        "Vocab::load: '{}' has {} lines, fewer than the {} special tokens", path, line_number, kNumSpecial));
  }
  return vocab;
}

}  // namespace focus::data
