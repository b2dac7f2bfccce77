// Vocabulary files (data::Vocab::load): one token per line, the special tokens first. A file that
// loads must save and load back to the same vocabulary.
#include "datasets/vocab.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const focus::fuzz::InputFile input("vocab.txt");
  static const focus::fuzz::InputFile copy("vocab-saved.txt");
  const std::string& path = input.write(data, size);
  focus::fuzz::expect_clean(
      [&] {
        const focus::data::Vocab vocab = focus::data::Vocab::load(path);
        vocab.save(copy.path());
        if (!(focus::data::Vocab::load(copy.path()) == vocab))
          focus::fuzz::finding("a loaded vocabulary does not survive save() and load()", path);
      },
      path);
  return 0;
}
