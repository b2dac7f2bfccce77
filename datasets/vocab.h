#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace focus::data {

/// Options for building a Vocab from data.
struct VocabOptions {
  /// Tokens seen fewer times are left out (they will encode as <unk>).
  int64_t min_freq = 1;
  /// Largest vocabulary size, the four special tokens included; 0 = no limit.
  int64_t max_size = 0;
};

/// What decode() does with special ids.
struct DecodeOptions {
  /// Stop at the first <eos> (it is not returned).
  bool stop_at_eos = true;
  /// Leave out <pad> and <sos> (and <eos> when not stopping at it).
  bool skip_special = true;
};

/// A two-way map between tokens and integer ids.
///
/// Ids 0..3 are always the special tokens <pad>, <sos>, <eos>, <unk>; the
/// other tokens follow in a deterministic order: most frequent first, ties
/// broken by byte order of the token, so the same data always gives the same ids.
class Vocab {
 public:
  static constexpr int64_t kPad = 0;  ///< padding; collate fills with it
  static constexpr int64_t kSos = 1;  ///< start of sequence, first decoder input
  static constexpr int64_t kEos = 2;  ///< end of sequence, last decoder target
  static constexpr int64_t kUnk = 3;  ///< any token the vocabulary does not hold
  static constexpr int64_t kNumSpecial = 4;
  /// The spellings of the special tokens, by id.
  static const std::array<std::string, 4>& special_tokens();

  /// A vocabulary holding only the four special tokens.
  Vocab();

  /// Counts tokens over `sentences` and keeps those with at least
  /// `options.min_freq` occurrences, most frequent first, up to `options.max_size`.
  /// Occurrences of the special spellings in the data are not counted.
  static Vocab build(const std::vector<std::vector<std::string>>& sentences, VocabOptions options = {});

  /// A vocabulary of exactly these tokens, in this order, after the specials
  /// (for fixed alphabets). Throws on duplicates and on special spellings.
  static Vocab from_tokens(const std::vector<std::string>& tokens);

  /// Number of ids, specials included.
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  /// The id of `token`, or kUnk when absent.
  int64_t id(std::string_view token) const;
  bool contains(std::string_view token) const;
  /// The token of `id`; throws std::out_of_range naming the id and the size.
  const std::string& token(int64_t id) const;
  /// All tokens by id.
  const std::vector<std::string>& tokens() const { return tokens_; }

  /// Ids of `tokens`, optionally wrapped in <sos> ... <eos>. Unknown tokens
  /// become kUnk; when `unknown_count` is given, their number is added to it
  /// so callers can warn about coverage.
  std::vector<int64_t> encode(const std::vector<std::string>& tokens, bool add_sos = false,
                              bool add_eos = false, int64_t* unknown_count = nullptr) const;

  /// Tokens of `ids` (see DecodeOptions). Throws std::out_of_range on an id
  /// outside [0, size()).
  std::vector<std::string> decode(const std::vector<int64_t>& ids, DecodeOptions options = {}) const;

  /// Writes the vocabulary as UTF-8 text, one token per line, line n holding
  /// id n - 1. Written to a temporary file and renamed over `path`, so a crash
  /// never leaves half a file. Throws when a token contains a line break.
  void save(const std::string& path) const;

  /// Reads a file written by save(). Errors name the file and the line: a
  /// missing file, specials not on lines 1-4, an empty line, a duplicate
  /// token, invalid UTF-8.
  static Vocab load(const std::string& path);

  bool operator==(const Vocab& other) const { return tokens_ == other.tokens_; }

 private:
  void add(std::string token);

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace focus::data
