// The JSON reader behind safetensors headers (nn::json::parse): nesting, escapes (\uXXXX with
// surrogate pairs), numbers at the edges of int64 and double. Errors are std::invalid_argument
// naming the byte; text that parses must survive quote() and parse() again unchanged.
#include "nn/json.h"
#include "tests/fuzz/fuzz_target.h"

namespace {
void requote_strings(const focus::nn::json::Value& value) {
  using namespace focus::nn::json;
  if (value.is_string()) {
    const Value again = parse(quote(value.string()));
    if (!again.is_string() || again.string() != value.string())
      focus::fuzz::finding("quote() then parse() changed a string", value.string());
  } else if (value.is_array()) {
    for (const Value& item : value.array()) requote_strings(item);
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.object()) {
      requote_strings(Value{key});
      requote_strings(item);
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  focus::fuzz::expect_clean([&] { requote_strings(focus::nn::json::parse(text)); }, "");
  return 0;
}
