// Tab-separated sentence-pair files (data::SentencePairs), then what the translator builds from
// them: the vocabularies and the encoded pairs. Bad lines are counted in the report, never a crash.
#include "datasets/sentence_pairs.h"
#include "datasets/vocab.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const focus::fuzz::InputFile input("pairs.txt");
  const std::string& path = input.write(data, size);
  focus::fuzz::expect_clean(
      [&] {
        using namespace focus::data;
        const SentencePairs pairs(path, SentencePairsOptions{.max_length = 50});
        (void)pairs.report().to_string();
        const Vocab source = Vocab::build(source_token_lists(pairs.pairs()));
        const Vocab target = Vocab::build(target_token_lists(pairs.pairs()));
        const EncodedPairs encoded(pairs.pairs(), source, target);
        for (int64_t i = 0; i < encoded.size(); ++i) (void)encoded.get(i);
        if (pairs.size() >= 3) (void)pairs.split(SplitFractions{}, 1);
      },
      path);
  return 0;
}
