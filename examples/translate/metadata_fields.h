#pragma once
// Checked reading of checkpoint metadata. Every value is text from a file, so each field is parsed
// whole (no trailing bytes, no wrap-around of "-1" into a huge unsigned number), checked against
// its range, and a bad one is refused with the key, the value (escaped when it is not printable
// UTF-8) and what was expected.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "datasets/printable_text.h"

namespace translate {

using focus::data::printable;
using focus::data::quoted;

/// A checkpoint's string → string metadata, read field by field. Errors are std::invalid_argument
/// without the file's name ("metadata 'model.hidden' is \"abc\": expected an integer from 1 to
/// 65536"): the caller, who knows the file, puts it in front once.
class MetadataFields {
 public:
  explicit MetadataFields(const std::map<std::string, std::string>& metadata) : metadata_(metadata) {}

  bool has(const std::string& key) const { return metadata_.count(key) > 0; }
  /// The value as it is; throws when the key is missing.
  const std::string& text(const std::string& key) const;
  /// A decimal integer (optional '-', digits, nothing else) from `lowest` to `highest`.
  int64_t integer(const std::string& key, int64_t lowest, int64_t highest) const;
  /// A decimal integer from 0 to 2^64 - 1 (digits only).
  uint64_t unsigned_integer(const std::string& key) const;
  /// A finite decimal number with lowest <= value < below.
  double number_below(const std::string& key, double lowest, double below) const;
  /// "1" is true and "0" false; anything else is refused.
  bool flag(const std::string& key) const;
  /// The value, which must be one of `choices`.
  const std::string& choice(const std::string& key, const std::vector<std::string>& choices) const;

 private:
  [[noreturn]] void refuse(const std::string& key, const std::string& expected) const;

  const std::map<std::string, std::string>& metadata_;
};

}  // namespace translate
