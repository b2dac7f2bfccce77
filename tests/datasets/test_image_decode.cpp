// decode_image and read_image_header on images made in memory: PNG, JPEG and BMP round trips
// (written with stb_image_write, and with libjpeg itself for grey, CMYK and progressive JPEGs),
// and crafted or damaged files, each refused with a message that starts with the file's name and
// says what is wrong. The crafted JPEG headers are the kind that made stb_image's JPEG reader
// write past an array (stbi__build_huffman) before focus used libjpeg-turbo.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>  // jpeglib.h needs FILE and size_t
#include <cstdlib>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <stb_image_write.h>  // the implementation is in libstb

#include "datasets/image_decode.h"

using namespace focus::data;

namespace {

using Bytes = std::vector<unsigned char>;

void append(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  out->insert(out->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
}

Bytes encode_png(int w, int h, int channels, const Bytes& pixels) {
  Bytes out;
  REQUIRE(stbi_write_png_to_func(append, &out, w, h, channels, pixels.data(), w * channels) != 0);
  return out;
}
Bytes encode_jpeg(int w, int h, const Bytes& rgb, int quality = 95) {
  Bytes out;
  REQUIRE(stbi_write_jpg_to_func(append, &out, w, h, 3, rgb.data(), quality) != 0);
  return out;
}
Bytes encode_bmp(int w, int h, int channels, const Bytes& pixels) {
  Bytes out;
  REQUIRE(stbi_write_bmp_to_func(append, &out, w, h, channels, pixels.data()) != 0);
  return out;
}

// A JPEG written by libjpeg, for what stb_image_write cannot make: grey, CMYK, and progressive
// files with a scan script of our own. Pixels are a pattern of x, y and channel.
Bytes encode_with_libjpeg(int w, int h, int channels, J_COLOR_SPACE colours,
                          const std::vector<jpeg_scan_info>& scans = {}, bool progressive = false) {
  jpeg_compress_struct info{};
  jpeg_error_mgr errors{};
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(w);
  info.image_height = static_cast<JDIMENSION>(h);
  info.input_components = channels;
  info.in_color_space = colours;
  jpeg_set_defaults(&info);
  if (progressive) jpeg_simple_progression(&info);
  if (!scans.empty()) {
    info.scan_info = scans.data();
    info.num_scans = static_cast<int>(scans.size());
  }
  jpeg_start_compress(&info, TRUE);
  Bytes row(static_cast<size_t>(w * channels));
  while (info.next_scanline < info.image_height) {
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        row[static_cast<size_t>(x * channels + c)] =
            static_cast<unsigned char>(40 * c + 8 * x + 4 * info.next_scanline);
    JSAMPROW pointer = row.data();
    jpeg_write_scanlines(&info, &pointer, 1);
  }
  jpeg_finish_compress(&info);
  Bytes out(buffer, buffer + size);
  jpeg_destroy_compress(&info);
  std::free(buffer);
  return out;
}

// w×h pixels of `channels` channels whose values differ per pixel and channel.
Bytes pattern(int w, int h, int channels) {
  Bytes pixels;
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < channels; ++c) pixels.push_back(static_cast<unsigned char>((37 * i + 101 * c) % 256));
  return pixels;
}

// A smooth image, which JPEG keeps within a few levels.
Bytes gradient(int w, int h) {
  Bytes pixels;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      pixels.insert(pixels.end(), {static_cast<unsigned char>(8 * x), static_cast<unsigned char>(8 * y),
                                   static_cast<unsigned char>(100 + 2 * (x + y))});
  return pixels;
}

int max_difference(const Bytes& a, const Bytes& b) {
  REQUIRE(a.size() == b.size());
  int worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int{a[i]} - int{b[i]}));
  return worst;
}

uint32_t crc32(const unsigned char* data, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_big_endian_32(Bytes& bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<unsigned char>(value >> (24 - 8 * i));
}
void put_little_endian_32(Bytes& bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<unsigned char>(value >> (8 * i));
}

// A PNG whose IHDR says width×height, with the chunk's CRC made right so that only the size is wrong.
Bytes png_claiming(uint32_t width, uint32_t height) {
  Bytes png = encode_png(2, 2, 3, pattern(2, 2, 3));
  put_big_endian_32(png, 16, width);
  put_big_endian_32(png, 20, height);
  put_big_endian_32(png, 29, crc32(png.data() + 12, 17));  // over "IHDR" and its 13 bytes
  return png;
}

// The offset of the first JPEG marker `code` (0xC0 = SOF0); its length and fields follow.
size_t find_marker(const Bytes& jpeg, unsigned char code) {
  for (size_t i = 2; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xff && jpeg[i + 1] == code) return i;
  FAIL("no marker");
  return 0;
}

// Both entry points refuse `bytes` with a message that starts with `name` and contains `problem`
// (header problems: read_image_header refuses them too).
void require_refused(const Bytes& bytes, const std::string& name, const std::string& problem, bool in_header = true) {
  INFO(name);
  REQUIRE_THROWS_AS(decode_image(bytes, name), std::runtime_error);
  REQUIRE_THROWS_WITH(decode_image(bytes, name), Catch::StartsWith(name + ": ") && Catch::Contains(problem));
  if (in_header) {
    REQUIRE_THROWS_WITH(read_image_header(bytes, name), Catch::StartsWith(name + ": ") && Catch::Contains(problem));
  } else {
    REQUIRE_NOTHROW(read_image_header(bytes, name));
  }
}

}  // namespace

TEST_CASE("PNG round trips exactly, grey is expanded and alpha dropped", "[data][image_decode]") {
  const Bytes rgb = pattern(5, 3, 3);
  const DecodedImage image = decode_image(encode_png(5, 3, 3, rgb), "rgb.png");
  REQUIRE(image.width == 5);
  REQUIRE(image.height == 3);
  REQUIRE(image.rgb == rgb);
  const ImageHeader header = read_image_header(encode_png(5, 3, 3, rgb), "rgb.png");
  REQUIRE(header.width == 5);
  REQUIRE(header.height == 3);

  // Grey (1 channel) and grey + alpha (2): each grey value in all three channels.
  const Bytes grey = pattern(4, 2, 1);
  for (int channels : {1, 2}) {
    const Bytes pixels = pattern(4, 2, channels);
    const DecodedImage decoded = decode_image(encode_png(4, 2, channels, pixels), "grey.png");
    REQUIRE(decoded.rgb.size() == 4 * 2 * 3);
    for (size_t p = 0; p < 8; ++p)
      for (size_t c = 0; c < 3; ++c) REQUIRE(decoded.rgb[3 * p + c] == pixels[channels * p]);
  }

  // RGBA: the colour stays, even under alpha 0 (dropped, not composited).
  Bytes rgba = pattern(3, 3, 4);
  rgba[3] = 0;      // first pixel fully transparent
  rgba[7] = 128;    // second half
  const DecodedImage decoded = decode_image(encode_png(3, 3, 4, rgba), "rgba.png");
  REQUIRE(decoded.rgb.size() == 3 * 3 * 3);
  for (size_t p = 0; p < 9; ++p)
    for (size_t c = 0; c < 3; ++c) REQUIRE(decoded.rgb[3 * p + c] == rgba[4 * p + c]);
}

TEST_CASE("JPEG round trips within a few levels, grey and progressive too", "[data][image_decode]") {
  const Bytes rgb = gradient(16, 16);
  const DecodedImage image = decode_image(encode_jpeg(16, 16, rgb), "photo.jpg");
  REQUIRE(image.width == 16);
  REQUIRE(image.height == 16);
  REQUIRE(max_difference(image.rgb, rgb) <= 12);

  // Odd sizes (partial blocks, chroma subsampled at quality 90).
  const Bytes odd = gradient(13, 7);
  const DecodedImage odd_image = decode_image(encode_jpeg(13, 7, odd, 90), "odd.jpg");
  REQUIRE(odd_image.width == 13);
  REQUIRE(odd_image.height == 7);
  REQUIRE(max_difference(odd_image.rgb, odd) <= 16);

  // Grey JPEG: the same value in all three channels.
  const DecodedImage grey = decode_image(encode_with_libjpeg(9, 5, 1, JCS_GRAYSCALE), "grey.jpg");
  REQUIRE(grey.rgb.size() == 9 * 5 * 3);
  for (size_t p = 0; p < 45; ++p) {
    REQUIRE(grey.rgb[3 * p] == grey.rgb[3 * p + 1]);
    REQUIRE(grey.rgb[3 * p] == grey.rgb[3 * p + 2]);
    const int x = static_cast<int>(p % 9), y = static_cast<int>(p / 9);
    REQUIRE(std::abs(int{grey.rgb[3 * p]} - (8 * x + 4 * y)) <= 4);
  }

  // An ordinary progressive JPEG (about ten scans).
  const DecodedImage progressive = decode_image(encode_with_libjpeg(16, 16, 3, JCS_RGB, {}, true), "progressive.jpg");
  REQUIRE(progressive.width == 16);
  REQUIRE(progressive.rgb.size() == 16 * 16 * 3);
}

TEST_CASE("BMP round trips exactly: 24-bit, 32-bit with alpha, rows stored top-down", "[data][image_decode]") {
  const Bytes rgb = pattern(6, 4, 3);
  const Bytes bmp = encode_bmp(6, 4, 3, rgb);
  const DecodedImage image = decode_image(bmp, "rgb.bmp");
  REQUIRE(image.width == 6);
  REQUIRE(image.height == 4);
  REQUIRE(image.rgb == rgb);

  const Bytes rgba = pattern(5, 3, 4);
  const DecodedImage without_alpha = decode_image(encode_bmp(5, 3, 4, rgba), "rgba.bmp");
  for (size_t p = 0; p < 15; ++p)
    for (size_t c = 0; c < 3; ++c) REQUIRE(without_alpha.rgb[3 * p + c] == rgba[4 * p + c]);

  // A negative height means the rows are stored top-down: flip them and negate the height.
  Bytes top_down = bmp;
  const size_t row_bytes = 6 * 3 + 2;  // padded to 4
  const size_t pixels_at = 54;
  for (size_t y = 0; y < 4; ++y)
    std::copy_n(bmp.begin() + static_cast<std::ptrdiff_t>(pixels_at + (3 - y) * row_bytes), row_bytes,
                top_down.begin() + static_cast<std::ptrdiff_t>(pixels_at + y * row_bytes));
  put_little_endian_32(top_down, 22, static_cast<uint32_t>(-4));
  const DecodedImage flipped = decode_image(top_down, "top_down.bmp");
  REQUIRE(flipped.height == 4);
  REQUIRE(flipped.rgb == rgb);
  REQUIRE(read_image_header(top_down, "top_down.bmp").height == 4);
}

TEST_CASE("crafted JPEG headers are refused with libjpeg's reason", "[data][image_decode]") {
  // SOI alone, without the next marker's 0xFF, is not taken for a JPEG at all.
  require_refused({0xff, 0xd8}, "soi_only.jpg", "not a PNG, JPEG or BMP file (its first bytes are \"\\xff\\xd8\")");
  require_refused({0xff, 0xd8, 0xff}, "soi_and_ff.jpg", "corrupt or truncated JPEG: Premature end of JPEG file");
  require_refused({0xff, 0xd8, 0xff, 0xd9}, "soi_eoi.jpg", "corrupt or truncated JPEG");
  // 9 bytes: SOI and a Huffman table cut off in its counts.
  require_refused({0xff, 0xd8, 0xff, 0xc4, 0x00, 0x13, 0x00, 0xff, 0xff}, "nine_bytes.jpg",
                  "corrupt or truncated JPEG: Premature end of JPEG file");
  // A complete Huffman table whose 16 code counts add up to 512 codes (at most 256 exist).
  Bytes bad_table{0xff, 0xd8, 0xff, 0xc4, 0x00, 0x13, 0x00};
  for (int length = 1; length <= 16; ++length) bad_table.push_back(0x20);
  require_refused(bad_table, "huffman_over_256.jpg", "Bogus Huffman table definition");
  // A baseline SOF with width 0, then EOI.
  require_refused({0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0x22, 0x00,
                   0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9},
                  "sof_width_0.jpg", "Empty JPEG image");
  // A whole, valid SOF of 16x16 and nothing after it.
  require_refused({0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x10, 0x03, 0x01, 0x22, 0x00,
                   0x02, 0x11, 0x01, 0x03, 0x11, 0x01},
                  "cut_after_sof.jpg", "Premature end of JPEG file");

  // A real JPEG whose SOF claims 60000 x 60000 pixels: refused before any pixel buffer exists.
  Bytes huge = encode_jpeg(16, 16, gradient(16, 16));
  const size_t sof = find_marker(huge, 0xc0);
  for (size_t i : {5, 7}) {  // height, then width, 16-bit big-endian
    huge[sof + i] = 60000 >> 8;
    huge[sof + i + 1] = 60000 & 0xff;
  }
  require_refused(huge, "huge.jpg",
                  "its header says it is 60000x60000 pixels; focus reads images of 1 to 67108864 pixels");

  require_refused(encode_with_libjpeg(8, 8, 4, JCS_CMYK), "cmyk.jpg", "its colour space is CMYK");
}

TEST_CASE("a JPEG cut short or damaged in its data is an error, not a grey half-image", "[data][image_decode]") {
  Bytes noise;
  for (int i = 0; i < 64 * 64 * 3; ++i) noise.push_back(static_cast<unsigned char>((i * 7919) % 251));
  const Bytes jpeg = encode_jpeg(64, 64, noise);
  REQUIRE_NOTHROW(decode_image(jpeg, "whole.jpg"));
  for (size_t keep : {jpeg.size() / 2, jpeg.size() - 2}) {  // cut in the scan; cut just before EOI
    const Bytes cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(keep));
    require_refused(cut, "cut.jpg", "corrupt or truncated JPEG: Premature end of JPEG file", /*in_header=*/false);
  }
  // A marker in the middle of the entropy-coded data.
  Bytes damaged = jpeg;
  const size_t scan = find_marker(damaged, 0xda);
  damaged[scan + 200] = 0xff;
  damaged[scan + 201] = 0xd0 + 5;  // RST5, out of place
  require_refused(damaged, "damaged.jpg", "corrupt or truncated JPEG: Corrupt JPEG data", /*in_header=*/false);
}

TEST_CASE("a progressive JPEG of more than 500 scans is refused", "[data][image_decode]") {
  // Grey 8x8: the DC scan, then each of the 63 AC coefficients sent in 8 successive-approximation
  // scans (bits 7, then 6, ..., 0): 505 scans, all valid.
  std::vector<jpeg_scan_info> scans;
  scans.push_back({1, {0, 0, 0, 0}, 0, 0, 0, 0});
  for (int k = 1; k < 64; ++k) {
    scans.push_back({1, {0, 0, 0, 0}, k, k, 0, 7});
    for (int bit = 7; bit > 0; --bit) scans.push_back({1, {0, 0, 0, 0}, k, k, bit, bit - 1});
  }
  REQUIRE(scans.size() == 505);
  require_refused(encode_with_libjpeg(8, 8, 1, JCS_GRAYSCALE, scans), "many_scans.jpg",
                  "corrupt or truncated JPEG: more than 500 scans", /*in_header=*/false);
}

TEST_CASE("crafted and damaged PNGs are refused", "[data][image_decode]") {
  require_refused(png_claiming(0, 2), "width_0.png", "its header says it is 0x2 pixels");
  require_refused(png_claiming(100000, 100000), "huge.png",
                  "its header says it is 100000x100000 pixels; focus reads images of 1 to 67108864 pixels");
  // Sizes whose product overflows 64 bits are still refused by size.
  require_refused(png_claiming(0x7fffffff, 0x7fffffff), "overflow.png", "2147483647x2147483647 pixels");

  const Bytes signature_only{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  require_refused(signature_only, "signature_only.png", "corrupt or truncated PNG: ");

  Bytes noise;
  for (int i = 0; i < 64 * 64 * 3; ++i) noise.push_back(static_cast<unsigned char>((i * 7919) % 251));
  const Bytes png = encode_png(64, 64, 3, noise);
  const Bytes cut(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2));  // inside IDAT
  require_refused(cut, "cut.png", "corrupt or truncated PNG: ", /*in_header=*/false);

  Bytes bad_crc = png;
  bad_crc[29] ^= 0xff;  // IHDR's CRC
  require_refused(bad_crc, "bad_crc.png", "corrupt or truncated PNG: ");
}

TEST_CASE("crafted and cut BMPs are refused by size before stb decodes them", "[data][image_decode]") {
  const Bytes bmp = encode_bmp(16, 16, 3, pattern(16, 16, 3));
  Bytes negative_width = bmp;
  put_little_endian_32(negative_width, 18, static_cast<uint32_t>(-16));
  require_refused(negative_width, "negative_width.bmp", "its header says it is -16x16 pixels");

  Bytes huge = bmp;
  put_little_endian_32(huge, 18, 100000);
  put_little_endian_32(huge, 22, 100000);
  require_refused(huge, "huge.bmp", "its header says it is 100000x100000 pixels");

  Bytes most_negative_height = bmp;
  put_little_endian_32(most_negative_height, 22, 0x80000000u);
  require_refused(most_negative_height, "int_min_height.bmp", "its header says it is 16x2147483648 pixels");

  // The header claims 4000x4000 (within the pixel limit) over 16x16's bytes: stb would read zeros.
  Bytes claims_more = bmp;
  put_little_endian_32(claims_more, 18, 4000);
  put_little_endian_32(claims_more, 22, 4000);
  require_refused(claims_more, "claims_more.bmp",
                  "corrupt or truncated BMP: 4000x4000 pixels of 24 bits need 48000054 bytes, the file has 822");

  const Bytes cut(bmp.begin(), bmp.begin() + 300);
  require_refused(cut, "cut.bmp", "corrupt or truncated BMP: 16x16 pixels of 24 bits need 822 bytes, the file has 300");
  require_refused({'B', 'M'}, "bm.bmp", "corrupt or truncated BMP");
  Bytes unknown_header = bmp;
  put_little_endian_32(unknown_header, 14, 7);  // no BMP header is 7 bytes
  require_refused(unknown_header, "unknown_header.bmp", "corrupt or truncated BMP");
}

TEST_CASE("formats other than PNG, JPEG and BMP are refused by their bytes, whatever the name",
          "[data][image_decode]") {
  Bytes tga;
  REQUIRE(stbi_write_tga_to_func(append, &tga, 2, 2, 3, pattern(2, 2, 3).data()) != 0);
  const std::string gif("GIF89a\xff\xff\xff\xff\x00\x00\x00\x00", 14);
  const std::string hdr("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 0\n");
  const std::string ppm("P6\n2 2\n255\n");
  require_refused(Bytes(gif.begin(), gif.end()), "gif.png",
                  "not a PNG, JPEG or BMP file (its first bytes are \"GIF89a\\xff\\xff\")");
  require_refused(Bytes(hdr.begin(), hdr.end()), "hdr.png",
                  "not a PNG, JPEG or BMP file (its first bytes are \"#?RADIAN\")");
  require_refused(Bytes(ppm.begin(), ppm.end()), "ppm.png", "not a PNG, JPEG or BMP file");
  require_refused(tga, "tga.png", "not a PNG, JPEG or BMP file (its first bytes are \"\\x00\\x00");
  require_refused({}, "empty.png", "not a PNG, JPEG or BMP file (its first bytes are \"\")");
}
