#include "datasets/printable_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <new>
#include <stdexcept>

#include "datasets/tokenizer.h"

namespace focus::data {

std::string quoted(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return fmt::format("{:?}", text);
  // A cut may split a UTF-8 sequence: its bytes are then escaped, never printed half.
  return fmt::format("{:?}... ({} bytes)", text.substr(0, max_bytes), text.size());
}

namespace {

// Valid UTF-8 without C0 controls, DEL or the C1 controls U+0080..U+009F (C2 80..C2 9F), which
// terminals obey too.
bool is_printable(const std::string& text) {
  if (!utf8::is_valid(text)) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (byte < 0x20 || byte == 0x7f || (byte == 0xc2 && next >= 0x80 && next <= 0x9f)) return false;
  }
  return true;
}

}  // namespace

std::string printable(const std::string& text) { return is_printable(text) ? text : quoted(text); }

std::string printable_lines(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string line = text.substr(start, end - start);
    if (is_printable(line)) {
      out += line;
    } else {
      const std::string escaped = fmt::format("{:?}", line);
      out += escaped.substr(1, escaped.size() - 2);  // without the quotes: the line is part of a sentence
    }
    if (end == text.size()) return out;
    out += '\n';
    start = end + 1;
  }
}

std::string error_text(const std::exception& error) {
  if (const auto* file_error = dynamic_cast<const std::filesystem::filesystem_error*>(&error))
    return file_error->path1().empty()
               ? file_error->code().message()
               : fmt::format("{}: {}", printable(file_error->path1().string()), file_error->code().message());
  if (dynamic_cast<const std::bad_alloc*>(&error) || dynamic_cast<const std::length_error*>(&error))
    return "out of memory (something is larger than this machine can hold)";
  return printable_lines(error.what());  // a file's bytes that some message quoted raw are escaped here
}

}  // namespace focus::data
