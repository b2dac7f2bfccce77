#include "nn/json.h"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>

namespace focus::nn::json {

namespace {

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (pos_ != text_.size()) fail("end of document");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* expected) const {
    throw std::invalid_argument(fmt::format("malformed JSON: expected {} at byte {}", expected, pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }
  bool consume(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (text_.compare(pos_, n, word) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }

  Value value(int depth) {
    if (depth > 64) fail("less nesting");
    skip_space();
    if (pos_ >= text_.size()) fail("a value");
    char c = text_[pos_];
    if (c == '{') return {object(depth)};
    if (c == '[') return {array(depth)};
    if (c == '"') return {string()};
    if (literal("true")) return {true};
    if (literal("false")) return {false};
    if (literal("null")) return {nullptr};
    return number();
  }

  Object object(int depth) {
    ++pos_;
    Object out;
    if (consume('}')) return out;
    do {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') fail("a string key");
      std::string key = string();
      if (!consume(':')) fail("':'");
      if (out.count(key)) fail("no duplicate keys");
      out.emplace(std::move(key), value(depth + 1));
    } while (consume(','));
    if (!consume('}')) fail("',' or '}'");
    return out;
  }

  Array array(int depth) {
    ++pos_;
    Array out;
    if (consume(']')) return out;
    do out.push_back(value(depth + 1));
    while (consume(','));
    if (!consume(']')) fail("',' or ']'");
    return out;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("a closing '\"'");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("no control characters in a string");
      if (static_cast<unsigned char>(c) >= 0x80) {  // a multi-byte character: copied whole once checked
        --pos_;
        const size_t length = utf8_length();
        out.append(text_, pos_, length);
        pos_ += length;
        continue;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) fail("an escape");
      char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, code_point()); break;
        default: fail("a valid escape");
      }
    }
  }

  uint32_t hex4() {
    if (pos_ + 4 > text_.size()) fail("4 hex digits");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else fail("a hex digit");
    }
    return v;
  }

  // The length of the UTF-8 sequence at pos_ (2 to 4 bytes), which must be a valid encoding of one
  // code point: no stray continuation byte, no overlong form, no surrogate, nothing past U+10FFFF
  // (RFC 8259 requires UTF-8; the safetensors library refuses anything else too).
  size_t utf8_length() const {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text_[pos_ + i]); };
    const unsigned char lead = byte(0);
    size_t length = 0;
    uint32_t cp = 0, smallest = 0;
    if (lead >= 0xC2 && lead <= 0xDF) length = 2, cp = lead & 0x1F, smallest = 0x80;
    else if (lead >= 0xE0 && lead <= 0xEF) length = 3, cp = lead & 0x0F, smallest = 0x800;
    else if (lead >= 0xF0 && lead <= 0xF4) length = 4, cp = lead & 0x07, smallest = 0x10000;
    else fail("valid UTF-8");
    if (pos_ + length > text_.size()) fail("valid UTF-8");
    for (size_t i = 1; i < length; ++i) {
      if ((byte(i) & 0xC0) != 0x80) fail("valid UTF-8");
      cp = (cp << 6) | (byte(i) & 0x3F);
    }
    if (cp < smallest || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) fail("valid UTF-8");
    return length;
  }

  uint32_t code_point() {
    uint32_t cp = hex4();
    if (cp >= 0xDC00 && cp < 0xE000) fail("a high surrogate before a low one");
    if (cp >= 0xD800 && cp < 0xDC00) {  // surrogate pair
      if (!literal("\\u")) fail("a low surrogate");
      uint32_t low = hex4();
      if (low < 0xDC00 || low >= 0xE000) fail("a low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    return cp;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // A number as RFC 8259 writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, read with
  // from_chars (exact, and the same in every C locale, where stod would read "0,5" in German).
  // Integers must fit int64; other numbers a finite double.
  Value number() {
    const size_t start = pos_;
    const auto digits = [&] {
      const size_t first = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - first;
    };
    const auto next_is = [&](char c) { return pos_ < text_.size() && text_[pos_] == c; };
    if (next_is('-')) ++pos_;
    const size_t integer_start = pos_;
    const size_t integer_digits = digits();
    if (integer_digits == 0 || (integer_digits > 1 && text_[integer_start] == '0')) {
      pos_ = start;
      fail("a value");
    }
    bool floating = false;
    if (next_is('.')) {
      ++pos_, floating = true;
      if (digits() == 0) fail("a digit after '.'");
    }
    if (next_is('e') || next_is('E')) {
      ++pos_, floating = true;
      if (next_is('+') || next_is('-')) ++pos_;
      if (digits() == 0) fail("a digit in the exponent");
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    // One reading for both kinds: the whole token must be the number, and it must fit.
    const auto read = [&](auto value, const char* expected) -> Value {
      const auto [end, error] = std::from_chars(first, last, value);
      if (error != std::errc() || end != last) {
        pos_ = start;
        fail(expected);
      }
      return {value};
    };
    return floating ? read(0.0, "a number within double's range") : read(int64_t{0}, "an integer within int64");
  }

  const std::string& text_;
  size_t pos_ = 0;
};

}  // namespace

Value parse(const std::string& text) { return Parser(text).document(); }

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace focus::nn::json
