// Translator checkpoints (translate::read_translator_checkpoint, behind `translate run`, `eval` and
// --resume): the metadata that fixes the model's sizes is parsed field by field and checked against
// the shapes of the weights in the file before any model is built, so the model a file can make
// is never larger than the file. One that passes is built and given its weights.
#include "focus.h"
#include "seq2seq.h"
#include "tests/fuzz/fuzz_target.h"
#include "training.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const focus::fuzz::InputFile input("best.safetensors");
  const std::string& path = input.write(data, size);
  focus::fuzz::expect_clean(
      [&] {
        const translate::TranslatorCheckpoint checkpoint = translate::read_translator_checkpoint(path);
        translate::Seq2Seq model(checkpoint.config);
        model.load_state_dict(checkpoint.weights, /*strict=*/true);
      },
      path);
  return 0;
}
