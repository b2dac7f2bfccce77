#include "nn/json.h"

#include <fmt/format.h>

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

  uint32_t code_point() {
    uint32_t cp = hex4();
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

  Value number() {
    size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    bool digits = false, floating = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c >= '0' && c <= '9') digits = true;
      else if (c == '.' || c == 'e' || c == 'E' || c == '+' || (c == '-' && pos_ > start)) floating = true;
      else break;
      ++pos_;
    }
    if (!digits) {
      pos_ = start;
      fail("a value");
    }
    std::string token = text_.substr(start, pos_ - start);
    try {
      if (!floating) return {static_cast<int64_t>(std::stoll(token))};
      return {std::stod(token)};
    } catch (const std::exception&) {
      pos_ = start;
      fail("a number in range");
    }
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
