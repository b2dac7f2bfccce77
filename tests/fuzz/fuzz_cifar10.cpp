// CIFAR-10 binary batches (data::CIFAR10): the input becomes test_batch.bin. Sizes that are not a
// whole number of 3,073-byte records and labels outside 0..9 must be refused naming the file; a
// batch that loads is converted to tensors in full.
#include "datasets/cifar10.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const focus::fuzz::InputFile input("test_batch.bin");
  const std::string& path = input.write(data, size);
  focus::fuzz::expect_clean(
      [&] {
        const focus::data::CIFAR10 test(input.folder(), focus::data::Split::Test);
        std::vector<int64_t> all(static_cast<size_t>(test.size()));
        for (int64_t i = 0; i < test.size(); ++i) all[static_cast<size_t>(i)] = i;
        if (!all.empty()) (void)test.get_batch(all);
      },
      path);
  return 0;
}
