#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace focus::data {

/// The largest image focus decodes, in pixels (64 megapixels, 192 MiB of RGB): a header can claim
/// any size, and the check comes before the decoder allocates.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

/// An image's size as its header gives it, checked to be 1 to kMaxImagePixels pixels.
struct ImageHeader {
  int64_t width;
  int64_t height;
};

/// Decoded pixels: interleaved 8-bit RGB, row after row from the top, width * height * 3 bytes.
struct DecodedImage {
  int64_t width;
  int64_t height;
  std::vector<unsigned char> rgb;
};

/// Reads only the header of an encoded PNG, JPEG or BMP image held in memory (the format told by its
/// first bytes, never by `name`). `name` (usually the file's path) starts every error message.
/// Throws std::runtime_error for another format (its first bytes quoted), a size outside 1 to
/// kMaxImagePixels pixels, a CMYK JPEG, or a header the decoder cannot read (with its reason).
ImageHeader read_image_header(std::span<const unsigned char> bytes, const std::string& name);

/// Decodes a whole PNG, JPEG or BMP image held in memory to RGB: grey is repeated over the three
/// channels and alpha is dropped (the colour under a transparent pixel is kept, as PIL's
/// convert("RGB") does). PNG goes through libpng, JPEG through libjpeg-turbo, BMP through
/// stb_image's BMP reader. Throws std::runtime_error, starting with `name`, for everything
/// read_image_header refuses and for truncated or corrupt data (with the decoder's reason): a
/// JPEG that ends early is an error, not a half-grey picture.
DecodedImage decode_image(std::span<const unsigned char> bytes, const std::string& name);

}  // namespace focus::data
