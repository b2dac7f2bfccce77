// safetensors files (nn::load_safetensors): the header length, the JSON header, dtypes, shapes and
// data offsets all come from the file. A file that loads is read through completely, so a tensor
// claiming more bytes than it owns is found by the address sanitizer.
#include "nn/serialize.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const focus::fuzz::InputFile input("input.safetensors");
  const std::string& path = input.write(data, size);
  focus::fuzz::expect_clean(
      [&] {
        focus::nn::SafetensorsContent content = focus::nn::load_safetensors(path);
        for (auto& [name, tensor] : content.tensors) {
          const auto* bytes = static_cast<const uint8_t*>(tensor.data_ptr());
          const size_t nbytes = static_cast<size_t>(tensor.numel()) * focus::element_size(tensor.dtype());
          volatile uint8_t sum = 0;
          for (size_t i = 0; i < nbytes; ++i) sum = sum + bytes[i];
        }
      },
      path);
  return 0;
}
