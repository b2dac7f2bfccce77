#include "datasets/image_decode.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <csetjmp>
#include <cstdio>  // jpeglib.h uses FILE and size_t without declaring them
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <jpeglib.h>
#include <jerror.h>  // the JWRN_* message codes
#include <png.h>
#include <stb_image.h>  // BMP only; the implementation is in libstb

namespace focus::data {

namespace {

enum class ImageFormat { kPng, kJpeg, kBmp };

// Told by the first bytes, never by the name. stb_image knows more formats (GIF, HDR, TGA, PSD,
// PIC, PNM), and those decoders have been made to allocate gigabytes or abort on a few crafted
// bytes, so anything else is refused before a decoder sees it.
ImageFormat image_format(std::span<const unsigned char> bytes, const std::string& name) {
  const std::string head(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(bytes.size(), 8)));
  if (head.rfind("\x89PNG\r\n\x1a\n", 0) == 0) return ImageFormat::kPng;
  if (head.rfind("\xff\xd8\xff", 0) == 0) return ImageFormat::kJpeg;
  if (head.rfind("BM", 0) == 0) return ImageFormat::kBmp;
  throw std::runtime_error(fmt::format("{}: not a PNG, JPEG or BMP file (its first bytes are {:?})", name, head));
}

// Division, not width * height: a PNG header can hold two 32-bit sizes whose product overflows.
ImageHeader checked_size(int64_t width, int64_t height, const std::string& name) {
  if (width < 1 || height < 1 || width > kMaxImagePixels / height)
    throw std::runtime_error(fmt::format("{}: its header says it is {}x{} pixels; focus reads images of 1 to {} pixels",
                                         name, width, height, kMaxImagePixels));
  return {width, height};
}

std::runtime_error corrupt(const std::string& name, const char* format, const std::string& reason) {
  return std::runtime_error(fmt::format("{}: corrupt or truncated {}: {}", name, format, reason));
}

uint32_t read_big_endian_32(const unsigned char* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
uint32_t read_little_endian_32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint32_t read_little_endian_16(const unsigned char* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8; }

// --- PNG: libpng's simplified API ---------------------------------------------------------------

// Frees libpng's state however reading ends (png_image_free is safe to call twice).
struct PngImage {
  png_image image{};
  PngImage() { image.version = PNG_IMAGE_VERSION; }
  ~PngImage() { png_image_free(&image); }
  PngImage(const PngImage&) = delete;
  PngImage& operator=(const PngImage&) = delete;
};

ImageHeader read_png_header(PngImage& png, std::span<const unsigned char> bytes, const std::string& name) {
  // IHDR is always the first chunk, at a fixed place (signature 8, length 4, "IHDR" 4, width, height):
  // its size is checked here first so that a PNG of 0 or 10^10 pixels gets the same message as
  // the other formats, not libpng's "Invalid IHDR data".
  if (bytes.size() >= 24 && std::memcmp(bytes.data() + 12, "IHDR", 4) == 0)
    checked_size(read_big_endian_32(bytes.data() + 16), read_big_endian_32(bytes.data() + 20), name);
  if (png_image_begin_read_from_memory(&png.image, bytes.data(), bytes.size()) == 0)
    throw corrupt(name, "PNG", png.image.message);
  return checked_size(png.image.width, png.image.height, name);
}

DecodedImage decode_png(std::span<const unsigned char> bytes, const std::string& name) {
  PngImage png;
  const ImageHeader header = read_png_header(png, bytes, name);
  // Alpha is dropped, not composited: asked for RGB, libpng would composite onto whatever the
  // buffer holds. So an image with alpha (or a tRNS colour) is read as RGBA and the alpha removed.
  const bool has_alpha = (png.image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  png.image.format = has_alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
  const int64_t pixel_count = header.width * header.height;
  std::vector<unsigned char> pixels(static_cast<size_t>(pixel_count * (has_alpha ? 4 : 3)));
  if (png_image_finish_read(&png.image, /*background=*/nullptr, pixels.data(), /*row_stride=*/0,
                            /*colormap=*/nullptr) == 0)
    throw corrupt(name, "PNG", png.image.message);
  if (has_alpha) {
    // In place, front to back: pixel p's RGB moves to 3p, never past an RGBA pixel not yet read.
    for (int64_t p = 0; p < pixel_count; ++p)
      for (int64_t c = 0; c < 3; ++c) pixels[static_cast<size_t>(3 * p + c)] = pixels[static_cast<size_t>(4 * p + c)];
    pixels.resize(static_cast<size_t>(pixel_count * 3));
  }
  return {header.width, header.height, std::move(pixels)};
}

// --- JPEG: libjpeg-turbo ---------------------------------------------------------------------------

// A progressive JPEG can hold thousands of tiny scans, each one more pass over the whole image:
// a few kilobytes that cost minutes. libjpeg-turbo's own fuzzers stop at 500.
constexpr int kMaxJpegScans = 500;

// libjpeg reports a fatal error through a callback that must not return. Ours longjmps back into
// the function that called libjpeg (jpeg_*_or_fail below), which returns false; those functions
// hold no object with a destructor, so the jump skips none. The message waits here.
struct JpegErrors {
  jpeg_error_mgr manager;  // first: libjpeg's pointer to it is a pointer to the whole struct
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

JpegErrors& jpeg_errors(j_common_ptr info) { return *reinterpret_cast<JpegErrors*>(info->err); }

[[noreturn]] void jpeg_error_exit(j_common_ptr info) {
  (*info->err->format_message)(info, jpeg_errors(info).message);
  std::longjmp(jpeg_errors(info).jump, 1);
}

// Level -1 is a corrupt-data warning, after which libjpeg carries on and makes up what is missing
// (a file cut short ends in grey rows). All of them are errors here except four that leave every
// pixel intact: stray bytes between segments and odd metadata. Levels >= 0 are trace messages.
// Nothing is printed.
void jpeg_emit_message(j_common_ptr info, int level) {
  if (level >= 0) return;
  switch (info->err->msg_code) {
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_JFIF_MAJOR:
    case JWRN_ADOBE_XFORM:
    case JWRN_BOGUS_ICC:
      ++info->err->num_warnings;
      return;
    default:
      jpeg_error_exit(info);
  }
}

void jpeg_output_nothing(j_common_ptr) {}

void jpeg_limit_scans(j_common_ptr info) {
  if (reinterpret_cast<j_decompress_ptr>(info)->input_scan_number <= kMaxJpegScans) return;
  std::snprintf(jpeg_errors(info).message, JMSG_LENGTH_MAX, "more than %d scans (focus's limit)", kMaxJpegScans);
  std::longjmp(jpeg_errors(info).jump, 1);
}

// One decompression and its clean-up. It lives in the caller of the jpeg_*_or_fail functions, so
// no longjmp crosses its destructor.
struct JpegDecoder {
  jpeg_decompress_struct info{};
  JpegErrors errors{};
  jpeg_progress_mgr progress{};

  JpegDecoder() {
    info.err = jpeg_std_error(&errors.manager);
    errors.manager.error_exit = jpeg_error_exit;
    errors.manager.emit_message = jpeg_emit_message;
    errors.manager.output_message = jpeg_output_nothing;
    progress.progress_monitor = jpeg_limit_scans;
  }
  ~JpegDecoder() { jpeg_destroy_decompress(&info); }  // also fine before (or without) a create
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;
};

// Reads everything up to the first scan. False, with decoder.errors.message, on any error.
bool jpeg_read_header_or_fail(JpegDecoder& decoder, std::span<const unsigned char> bytes) {
  if (setjmp(decoder.errors.jump) != 0) return false;
  jpeg_create_decompress(&decoder.info);
  decoder.info.progress = &decoder.progress;  // set after create, which clears the struct
  jpeg_mem_src(&decoder.info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&decoder.info, /*require_image=*/TRUE);
  return true;
}

// Decodes into `rgb`, already sized from the header. False, with decoder.errors.message, on any error.
bool jpeg_read_pixels_or_fail(JpegDecoder& decoder, unsigned char* rgb) {
  if (setjmp(decoder.errors.jump) != 0) return false;
  jpeg_start_decompress(&decoder.info);
  if (decoder.info.output_width != decoder.info.image_width ||
      decoder.info.output_height != decoder.info.image_height || decoder.info.output_components != 3) {
    std::snprintf(decoder.errors.message, JMSG_LENGTH_MAX, "unexpected output shape");
    return false;
  }
  const size_t row_bytes = static_cast<size_t>(decoder.info.output_width) * 3;
  while (decoder.info.output_scanline < decoder.info.output_height) {
    JSAMPROW row = rgb + decoder.info.output_scanline * row_bytes;
    if (jpeg_read_scanlines(&decoder.info, &row, 1) != 1) {
      std::snprintf(decoder.errors.message, JMSG_LENGTH_MAX, "stopped at row %u", decoder.info.output_scanline);
      return false;
    }
  }
  jpeg_finish_decompress(&decoder.info);  // reads on to the end: damage after the last row counts too
  return true;
}

ImageHeader read_jpeg_header(JpegDecoder& decoder, std::span<const unsigned char> bytes, const std::string& name) {
  if (!jpeg_read_header_or_fail(decoder, bytes)) throw corrupt(name, "JPEG", decoder.errors.message);
  const J_COLOR_SPACE colours = decoder.info.jpeg_color_space;
  if (colours != JCS_GRAYSCALE && colours != JCS_RGB && colours != JCS_YCbCr)
    throw std::runtime_error(fmt::format(
        "{}: its colour space is {}; focus reads grey, RGB and YCbCr JPEGs (convert it to RGB)", name,
        colours == JCS_CMYK ? "CMYK" : colours == JCS_YCCK ? "YCCK (CMYK)" : "unknown"));
  return checked_size(decoder.info.image_width, decoder.info.image_height, name);
}

DecodedImage decode_jpeg(std::span<const unsigned char> bytes, const std::string& name) {
  JpegDecoder decoder;
  const ImageHeader header = read_jpeg_header(decoder, bytes, name);
  decoder.info.out_color_space = JCS_RGB;  // libjpeg-turbo expands grey to RGB itself
  std::vector<unsigned char> rgb(static_cast<size_t>(header.width * header.height * 3));
  if (!jpeg_read_pixels_or_fail(decoder, rgb.data())) throw corrupt(name, "JPEG", decoder.errors.message);
  return {header.width, header.height, std::move(rgb)};
}

// --- BMP: stb_image, which reaches only its BMP reader for bytes starting "BM" ------------------------
// (its JPEG, PNG, GIF, PSD, PIC, PNM and HDR checks fail on the first byte or two, TGA's on the
// second: "M" is no colour-map type).

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

// stb reads zeros past the end of its buffer: a BMP cut short, or a 60-byte header claiming
// 8000x8000, would come back as black pixels. So the file must hold every row its header promises.
void check_bmp_length(std::span<const unsigned char> bytes, const ImageHeader& header, const std::string& name) {
  constexpr size_t kFileHeaderBytes = 14;  // "BM", file size, reserved, pixel data offset
  if (bytes.size() < 30) throw corrupt(name, "BMP", fmt::format("{} bytes is shorter than a BMP header", bytes.size()));
  const uint32_t pixel_offset = read_little_endian_32(bytes.data() + 10);
  const uint32_t info_bytes = read_little_endian_32(bytes.data() + 14);
  // The old OS/2 header (12 bytes) has 16-bit sizes, which moves the bits-per-pixel field.
  const uint32_t bits_per_pixel = read_little_endian_16(bytes.data() + (info_bytes == 12 ? 24 : 28));
  const int64_t row_bytes = (header.width * bits_per_pixel + 31) / 32 * 4;  // rows padded to 4 bytes
  const int64_t pixels_start = std::max<int64_t>(pixel_offset, int64_t{kFileHeaderBytes} + info_bytes);
  const int64_t needed = pixels_start + row_bytes * header.height;
  if (static_cast<int64_t>(bytes.size()) < needed)
    throw corrupt(name, "BMP", fmt::format("{}x{} pixels of {} bits need {} bytes, the file has {}", header.width,
                                           header.height, bits_per_pixel, needed, bytes.size()));
}

ImageHeader read_bmp_header(std::span<const unsigned char> bytes, const std::string& name) {
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    throw std::runtime_error(fmt::format("{}: a BMP of {} bytes; focus reads BMPs under 2 GiB", name, bytes.size()));
  int width = 0, height = 0, channels = 0;
  if (stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &channels) == 0)
    throw corrupt(name, "BMP", stbi_failure_reason());
  // A negative height means rows stored top-down; stb reads both.
  const ImageHeader header = checked_size(width, std::abs(int64_t{height}), name);
  check_bmp_length(bytes, header, name);
  return header;
}

DecodedImage decode_bmp(std::span<const unsigned char> bytes, const std::string& name) {
  const ImageHeader header = read_bmp_header(bytes, name);
  int width = 0, height = 0, channels = 0;
  // Asking for 3 channels makes stb expand grey palettes and drop alpha.
  std::unique_ptr<unsigned char, StbFree> pixels(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &channels, 3));
  if (!pixels) throw corrupt(name, "BMP", stbi_failure_reason());
  if (width != header.width || height != header.height)
    throw corrupt(name, "BMP", fmt::format("decoded {}x{}, the header said {}x{}", width, height, header.width,
                                           header.height));
  const unsigned char* begin = pixels.get();
  return {header.width, header.height, std::vector<unsigned char>(begin, begin + header.width * header.height * 3)};
}

}  // namespace

ImageHeader read_image_header(std::span<const unsigned char> bytes, const std::string& name) {
  switch (image_format(bytes, name)) {
    case ImageFormat::kPng: {
      PngImage png;
      return read_png_header(png, bytes, name);
    }
    case ImageFormat::kJpeg: {
      JpegDecoder decoder;
      return read_jpeg_header(decoder, bytes, name);
    }
    case ImageFormat::kBmp:
      return read_bmp_header(bytes, name);
  }
  throw std::logic_error("read_image_header: unknown image format");
}

DecodedImage decode_image(std::span<const unsigned char> bytes, const std::string& name) {
  switch (image_format(bytes, name)) {
    case ImageFormat::kPng:
      return decode_png(bytes, name);
    case ImageFormat::kJpeg:
      return decode_jpeg(bytes, name);
    case ImageFormat::kBmp:
      return decode_bmp(bytes, name);
  }
  throw std::logic_error("decode_image: unknown image format");
}

}  // namespace focus::data
