// What a user types or pipes into `translate run`: lines of any length and any bytes, read with the
// byte limit, tokenised, encoded (unknown words and truncation noted), translated by a small model
// (greedy or beam search) and drawn as an attention picture of bounded size. The model is built
// once with a fixed seed: the weights are not what is tested, the path from bytes to PNG is.
#include <sstream>

#include "corpus.h"
#include "datasets/printable_text.h"
#include "decode.h"
#include "focus.h"
#include "report.h"
#include "seq2seq.h"
#include "tests/fuzz/fuzz_target.h"
#include "translator_limits.h"

namespace {
using namespace focus;
using namespace translate;

struct Translator {
  data::Tokenizer tokenizer{data::TokenizerOptions{.lowercase = true}};
  data::Vocab source = data::Vocab::build({{"the", "cat", "is", "here", "."}, {"a", "dog", "!", "?"}});
  data::Vocab target = data::Vocab::build({{"le", "chat", "est", "là", "."}, {"un", "chien", "!", "?"}});
  Seq2Seq model{[&] {
    Seq2SeqConfig config;
    config.source_vocab = source.size(), config.target_vocab = target.size();
    config.embed = 4, config.hidden = 8;
    return config;
  }()};
  Translator() { model.eval(); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Translator translator;
  static const fuzz::InputFile picture("attention.png");
  if (size == 0) return 0;
  // The first byte picks greedy or a beam of 2 or 3, and whether the attention picture is drawn:
  // drawing takes most of a second here, so one input in 16 draws (the picture's bounds hold
  // whatever the tokens; the rest of the path gets the executions).
  const int64_t beam = 1 + data[0] % 3;
  const bool draw = (data[0] >> 2) % 16 == 0;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  InputLine line;
  NoGradGuard no_grad;
  for (int lines = 0; lines < 4 && read_input_line(in, line, limits::kMaxInputBytes); ++lines) {
    if (static_cast<int64_t>(line.text.size()) > limits::kMaxInputBytes) fuzz::finding("a line over the limit was kept", "");
    if (line.bytes > limits::kMaxInputBytes) continue;  // refused, as `translate run` does
    EncodedInput input;
    try {
      input = encode_input(line.text, translator.tokenizer, translator.source, 50);
    } catch (const std::invalid_argument& error) {
      fuzz::check_message(error.what(), "");
      continue;
    }
    for (const std::string& note : input.notes) fuzz::check_message(note, "");
    const Translation result = beam_search(translator.model, input.ids, beam,
                                           default_max_length(static_cast<int64_t>(input.ids.size())));
    const std::string text = translator.tokenizer.detokenize(translator.target.decode(result.tokens));
    fuzz::check_message(data::printable(text), "");
    if (draw && result.attention.defined()) {
      std::vector<std::string> rows;
      for (int64_t id : result.tokens) rows.push_back(translator.target.token(id));
      if (result.ended) rows.push_back(translator.target.token(data::Vocab::kEos));
      save_attention_png(picture.path(), result.attention, input.tokens, rows, line.text + " -> " + text);
    }
  }
  return 0;
}
