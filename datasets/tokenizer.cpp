#include "datasets/tokenizer.h"

#include <algorithm>
#include <array>

namespace focus::data {

// ---- UTF-8 ------------------------------------------------------------------------

namespace utf8 {
namespace {

// Length of the sequence a lead byte announces, 0 for a byte that cannot start one.
int sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;  // C0, C1 would only give overlong forms
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;  // above F4 lies beyond U+10FFFF
  return 0;
}

// Decodes one code point at `pos`; returns the bytes consumed (>= 1) and writes
// the code point, or U+FFFD when the sequence is malformed.
size_t decode_one(std::string_view text, size_t pos, char32_t& code_point) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  const int length = sequence_length(lead);
  code_point = kReplacement;
  if (length == 0) return 1;
  if (length == 1) {
    code_point = lead;
    return 1;
  }
  if (pos + length > text.size()) return 1;
  char32_t value = lead & (0xFF >> (length + 1));
  for (int i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(text[pos + i]);
    if ((byte & 0xC0) != 0x80) return 1;  // resynchronise on the next byte
    value = (value << 6) | (byte & 0x3F);
  }
  static constexpr std::array<char32_t, 5> kSmallest = {0, 0, 0x80, 0x800, 0x10000};
  if (value < kSmallest[length]) return 1;              // overlong
  if (value >= 0xD800 && value <= 0xDFFF) return 1;     // UTF-16 surrogates
  if (value > 0x10FFFF) return 1;
  code_point = value;
  return static_cast<size_t>(length);
}

}  // namespace

std::u32string decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    char32_t code_point;
    pos += decode_one(text, pos, code_point);
    out.push_back(code_point);
  }
  return out;
}

bool is_valid(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    char32_t code_point;
    const size_t used = decode_one(text, pos, code_point);
    // A genuine U+FFFD in the input is three bytes long; a replacement for bad bytes is one.
    if (code_point == kReplacement && used == 1) return false;
    pos += used;
  }
  return true;
}

void append(std::string& out, char32_t code_point) {
  if (code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) code_point = kReplacement;
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

std::string encode(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t code_point : code_points) append(out, code_point);
  return out;
}

char32_t to_lower(char32_t c) {
  if (c >= U'A' && c <= U'Z') return c + 0x20;
  if (c < 0xC0) return c;
  // Latin-1 Supplement: À..Þ map 0x20 up, except the multiplication sign.
  if (c <= 0xDE) return c == 0xD7 ? c : c + 0x20;
  if (c < 0x100) return c;
  // Latin Extended-A alternates capital/small, but the parity flips twice:
  // even capitals up to U+0137, odd capitals U+0139..U+0148, even again
  // U+014A..U+0177, odd again U+0179..U+017E.
  if (c <= 0x137) return c == 0x130 ? U'i' : (c % 2 == 0 ? c + 1 : c);  // İ -> i (simple mapping)
  if (c >= 0x139 && c <= 0x148) return c % 2 == 1 ? c + 1 : c;
  if (c >= 0x14A && c <= 0x177) return c % 2 == 0 ? c + 1 : c;
  if (c == 0x178) return 0xFF;  // Ÿ -> ÿ, whose capital lives outside Latin-1
  if (c >= 0x179 && c <= 0x17E) return c % 2 == 1 ? c + 1 : c;
  // Basic Greek (Α..Ω without the unassigned U+03A2) and Cyrillic (Ѐ..Я).
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  return c;
}

char32_t to_upper(char32_t c) {
  if (c >= U'a' && c <= U'z') return c - 0x20;
  if (c < 0xE0) return c;
  if (c <= 0xFE) return c == 0xF7 ? c : c - 0x20;
  if (c == 0xFF) return 0x178;
  if (c < 0x100) return c;
  if (c == 0x131) return U'I';  // dotless ı
  if (c <= 0x137) return (c % 2 == 1 && c != 0x131) ? c - 1 : c;
  if (c >= 0x13A && c <= 0x148) return c % 2 == 0 ? c - 1 : c;
  if (c >= 0x14B && c <= 0x177) return c % 2 == 1 ? c - 1 : c;
  if (c >= 0x17A && c <= 0x17E) return c % 2 == 0 ? c - 1 : c;
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 0x20;  // final sigma keeps its form
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}

std::string to_lower(std::string_view text) {
  std::u32string code_points = decode(text);
  for (char32_t& c : code_points) c = to_lower(c);
  return encode(code_points);
}

std::string to_upper(std::string_view text) {
  std::u32string code_points = decode(text);
  for (char32_t& c : code_points) c = to_upper(c);
  return encode(code_points);
}

size_t length(std::string_view text) { return decode(text).size(); }

}  // namespace utf8

// ---- character classes -------------------------------------------------------------

namespace {

bool is_space(char32_t c) {
  return c == U' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Characters that carry nothing visible and would only split or glue words by accident.
bool is_invisible(char32_t c) {
  return c == 0x200B || c == 0x200C || c == 0x200D || c == 0x2060 || c == 0xFEFF || c == 0xAD ||
         (c < 0x20 && !is_space(c)) || c == 0x7F;
}

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }

// Letters and digits of any script. Everything we know to be punctuation or a
// symbol is excluded; unknown code points count as letters, which keeps words of
// other scripts whole instead of shattering them.
bool is_word_char(char32_t c) {
  if (c < 0x80) return is_digit(c) || (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z');
  if (c < 0xC0) {
    // Latin-1 punctuation and symbols (¡ « » ¿ ° § ...), except the letter-like ones.
    return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA ||
           (c >= 0xBC && c <= 0xBE);
  }
  if (c == 0xD7 || c == 0xF7) return false;  // × ÷
  if (c >= 0x2000 && c <= 0x206F) return false;  // general punctuation: dashes, quotes, …, ‽
  if (c >= 0x20A0 && c <= 0x20CF) return false;  // currency: € ₹
  if (c >= 0x2100 && c <= 0x2BFF) return false;  // letter-like symbols, arrows, maths, shapes
  if (c >= 0x3000 && c <= 0x303F) return false;  // CJK punctuation
  if (c >= 0xFE30 && c <= 0xFE6F) return false;  // compatibility punctuation
  if (c >= 0xFF01 && c <= 0xFF0F) return false;  // full-width ASCII punctuation
  if (c >= 0x1F000) return false;                // emoji and pictographs
  return true;
}

// French elided words, lowercase, without their apostrophe.
bool is_elision_prefix(const std::u32string& word_lowercase) {
  static const std::array<std::u32string, 13> kPrefixes = {
      U"l", U"d", U"j", U"m", U"n", U"s", U"t", U"c", U"qu", U"jusqu", U"lorsqu", U"puisqu", U"quoiqu"};
  return std::find(kPrefixes.begin(), kPrefixes.end(), word_lowercase) != kPrefixes.end();
}

bool is_elision_token(std::string_view token) {
  if (token.size() < 2 || token.back() != '\'') return false;
  std::u32string prefix = utf8::decode(token.substr(0, token.size() - 1));
  for (char32_t& c : prefix) c = utf8::to_lower(c);
  return is_elision_prefix(prefix);
}

bool starts_with_word_char(std::string_view token) {
  if (token.empty()) return false;
  const std::u32string code_points = utf8::decode(token);
  return is_word_char(code_points.front());
}

bool is_one_of(std::string_view token, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), token) != set.end();
}

}  // namespace

// ---- Tokenizer ---------------------------------------------------------------------

Tokenizer::Tokenizer(TokenizerOptions options) : options_(options) {}

std::string Tokenizer::normalize(std::string_view text) const {
  std::u32string out;
  bool previous_space = true;  // trims the start in char mode
  for (char32_t c : utf8::decode(text)) {
    if (is_invisible(c)) continue;
    if (is_space(c)) {
      if (options_.mode == TokenizerMode::Char && previous_space) continue;
      c = U' ';
      previous_space = true;
    } else {
      previous_space = false;
      if (c == 0x2019 || c == 0x2018 || c == 0x02BC) c = U'\'';
      if (options_.lowercase) c = utf8::to_lower(c);
    }
    out.push_back(c);
  }
  if (options_.mode == TokenizerMode::Char && !out.empty() && out.back() == U' ') out.pop_back();
  return utf8::encode(out);
}

std::vector<std::string> Tokenizer::tokenize(std::string_view text) const {
  const std::u32string normalized = utf8::decode(normalize(text));
  if (options_.mode == TokenizerMode::Word) return tokenize_words(normalized);
  std::vector<std::string> tokens;
  tokens.reserve(normalized.size());
  for (char32_t c : normalized) {
    std::string token;
    utf8::append(token, c);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::vector<std::string> Tokenizer::tokenize_words(const std::u32string& text) const {
  std::vector<std::string> tokens;
  std::u32string word;
  auto flush_word = [&] {
    if (!word.empty()) tokens.push_back(utf8::encode(word));
    word.clear();
  };
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const char32_t c = text[i];
    if (is_word_char(c)) {
      word.push_back(c);
      continue;
    }
    const bool inside_word = !word.empty() && i + 1 < n && is_word_char(text[i + 1]);
    if (inside_word && c == U'\'') {
      std::u32string lowered = word;
      for (char32_t& l : lowered) l = utf8::to_lower(l);
      word.push_back(c);
      if (options_.split_elisions && is_elision_prefix(lowered)) flush_word();
      continue;
    }
    if (inside_word && c == U'-') {
      word.push_back(c);
      continue;
    }
    const bool between_digits = inside_word && is_digit(word.back()) && is_digit(text[i + 1]);
    if (between_digits && (c == U'.' || c == U',' || c == U':' || c == U'/')) {
      word.push_back(c);
      continue;
    }
    flush_word();
    if (c == U' ') continue;
    std::string mark;
    utf8::append(mark, c);
    tokens.push_back(std::move(mark));
  }
  flush_word();
  return tokens;
}

std::string Tokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  if (options_.mode == TokenizerMode::Char) {
    for (const std::string& token : tokens) out += token;
    return out;
  }
  const bool french = options_.french_spacing;
  bool double_quote_open = false;
  bool single_quote_open = false;
  bool glue_next = true;           // nothing goes before the first token
  bool glue_next_if_word = false;  // after an elision: `l'` + `homme`
  for (const std::string& token : tokens) {
    bool glue_before = false;
    bool glue_after = false;
    bool glue_after_if_word = false;
    if (token == "\"") {
      // Straight quotes look the same on both sides: alternate open, close.
      glue_after = !double_quote_open;
      glue_before = double_quote_open;
      double_quote_open = !double_quote_open;
    } else if (token == "'") {
      glue_after = !single_quote_open;
      glue_before = single_quote_open;
      single_quote_open = !single_quote_open;
    } else if (is_one_of(token, {".", ",", ")", "]", "}", "%", "…", "”"})) {
      glue_before = true;
    } else if (is_one_of(token, {"!", "?", ";", ":", "»"})) {
      glue_before = !french;
    } else if (is_one_of(token, {"(", "[", "{", "¿", "¡", "“"})) {
      glue_after = true;
    } else if (token == "«") {
      glue_after = !french;
    } else if (options_.split_elisions && is_elision_token(token)) {
      // Glued to anything else, the apostrophe would be read back differently.
      glue_after_if_word = true;
    }
    const bool glue = glue_next || glue_before || (glue_next_if_word && starts_with_word_char(token));
    if (!out.empty() && !glue) out.push_back(' ');
    out += token;
    glue_next = glue_after;
    glue_next_if_word = glue_after_if_word;
  }
  return out;
}

}  // namespace focus::data
