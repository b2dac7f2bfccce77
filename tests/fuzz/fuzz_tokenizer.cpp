// The tokenizer (data::Tokenizer) on any bytes, in both modes and with French options: invalid
// UTF-8 is an error naming the byte, never a crash; for valid text, tokenize(detokenize(tokens))
// gives the tokens back (the promise in datasets/tokenizer.h).
#include "datasets/tokenizer.h"
#include "tests/fuzz/fuzz_target.h"

namespace {
using focus::data::Tokenizer;
using focus::data::TokenizerOptions;

void round_trip(const Tokenizer& tokenizer, std::string_view text) {
  const std::vector<std::string> tokens = tokenizer.tokenize(text);
  const std::string joined = tokenizer.detokenize(tokens);
  if (tokenizer.tokenize(joined) != tokens)
    focus::fuzz::finding("tokenize(detokenize(tokens)) != tokens", std::string(text));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the options, the rest is the text.
  const uint8_t choice = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  TokenizerOptions options;
  options.lowercase = choice & 1;
  options.split_elisions = choice & 2;
  options.french_spacing = choice & 4;
  if (choice & 8) options.mode = focus::data::TokenizerMode::Char;
  const Tokenizer tokenizer(options);
  if (!focus::data::utf8::is_valid(text)) {
    focus::fuzz::expect_clean([&] { (void)tokenizer.tokenize(text); }, "");
    return 0;
  }
  focus::fuzz::expect_clean([&] { round_trip(tokenizer, text); }, "");
  return 0;
}
