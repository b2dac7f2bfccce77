#include "optim/training/summary.h"

#include <fmt/format.h>

#include "nn/json.h"
#include "tensor/atomic_file.h"

namespace focus::training {

namespace {
// A JSON number: optional minus, digits, optional fraction and exponent ("1e-05", "-0.5").
bool is_json_number(const std::string& text) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (!digits()) return false;
  if (i < text.size() && text[i] == '.' && (++i, !digits())) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == text.size();
}
}  // namespace

void write_summary(const std::filesystem::path& path, const std::map<std::string, std::string>& fields) {
  std::string json = "{\n";
  size_t k = 0;
  for (const auto& [key, value] : fields)
    json += fmt::format("  {}: {}{}\n", nn::json::quote(key), is_json_number(value) ? value : nn::json::quote(value),
                        ++k < fields.size() ? "," : "");
  json += "}\n";
  write_file_atomically(path, json);
}

}  // namespace focus::training
