#include "metadata_fields.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace translate {

const std::string& MetadataFields::text(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) throw std::invalid_argument(fmt::format("no '{}' in the checkpoint's metadata", key));
  return it->second;
}

void MetadataFields::refuse(const std::string& key, const std::string& expected) const {
  throw std::invalid_argument(fmt::format("metadata '{}' is {}: expected {}", key, quoted(text(key)), expected));
}

int64_t MetadataFields::integer(const std::string& key, int64_t lowest, int64_t highest) const {
  const std::string& value = text(key);
  // from_chars takes the whole text or says where it stopped, and reports overflow: no stoll surprises
  // (leading spaces, a '+', "12abc" read as 12, an exception text a user would see).
  int64_t number = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (error != std::errc() || end != value.data() + value.size() || number < lowest || number > highest)
    refuse(key, fmt::format("an integer from {} to {}", lowest, highest));
  return number;
}

uint64_t MetadataFields::unsigned_integer(const std::string& key) const {
  const std::string& value = text(key);
  uint64_t number = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (error != std::errc() || end != value.data() + value.size() || value.empty())
    refuse(key, "an integer from 0 to 18446744073709551615");
  return number;
}

double MetadataFields::number_below(const std::string& key, double lowest, double below) const {
  const std::string& value = text(key);
  double number = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (error != std::errc() || end != value.data() + value.size() || !std::isfinite(number) || number < lowest ||
      number >= below)
    refuse(key, fmt::format("a number from {} up to (not including) {}", lowest, below));
  return number;
}

bool MetadataFields::flag(const std::string& key) const {
  const std::string& value = text(key);
  if (value != "0" && value != "1") refuse(key, "0 or 1");
  return value == "1";
}

const std::string& MetadataFields::choice(const std::string& key, const std::vector<std::string>& choices) const {
  const std::string& value = text(key);
  for (const std::string& c : choices)
    if (value == c) return value;
  refuse(key, fmt::format("one of {}", fmt::join(choices, ", ")));
}

}  // namespace translate
