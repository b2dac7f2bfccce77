// Images to classify (data::read_image_header and data::decode_image, behind load_image, --predict
// and ImageFolder): PNG through libpng, JPEG through libjpeg-turbo, BMP through stb, told by their
// first bytes, sizes checked before any pixel is allocated. The header read alone must agree with
// what a full decode finds, and an image that decodes must have all its pixels.
#include "datasets/image_decode.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "input.png";
  const std::span<const unsigned char> bytes(data, size);
  focus::fuzz::expect_clean(
      [&] {
        const focus::data::ImageHeader header = focus::data::read_image_header(bytes, name);
        const focus::data::DecodedImage image = focus::data::decode_image(bytes, name);
        if (image.width != header.width || image.height != header.height)
          focus::fuzz::finding("the header and the decoded image disagree on the size", name);
        if (image.rgb.size() != static_cast<size_t>(image.width * image.height * 3))
          focus::fuzz::finding("the decoded image lacks pixels", name);
      },
      name);
  return 0;
}
