// ImageFolder and load_image on a tiny folder written with stb_image_write:
// class ids from sorted folder names, PNG/BMP/JPEG decoding, resizing, grey
// images, unreadable files reported with their path and the decoder's reason,
// JPEG headers past the first 64 KiB, files over the size limit. The decoders
// themselves are tested in test_image_decode.cpp.
#include <catch2/catch.hpp>

#include <fstream>

#include "datasets/dataloader.h"
#include "datasets/image_folder.h"
#include "temp_directory.h"

#include <stb_image_write.h>  // the implementation is in libstb

using namespace focus;
using namespace focus::data;
using focus::testing::TempDirectory;

namespace {

// w×h RGB image of one colour.
std::vector<uint8_t> solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < w * h; ++i) pixels.insert(pixels.end(), {r, g, b});
  return pixels;
}

void write_png(const std::filesystem::path& path, int w, int h, int channels, const std::vector<uint8_t>& pixels) {
  REQUIRE(stbi_write_png(path.c_str(), w, h, channels, pixels.data(), w * channels) != 0);
}

// root/cat: a.png (red 8x4), b.BMP (green 6x6); root/dog: c.jpg (blue 16x16), grey.png;
// plus files and folders that must be ignored.
void write_folder(const std::filesystem::path& root) {
  std::filesystem::create_directories(root / "cat");
  std::filesystem::create_directories(root / "dog");
  std::filesystem::create_directories(root / ".cache");
  write_png(root / "cat" / "a.png", 8, 4, 3, solid(8, 4, 255, 0, 0));
  REQUIRE(stbi_write_bmp((root / "cat" / "b.BMP").c_str(), 6, 6, 3, solid(6, 6, 0, 255, 0).data()) != 0);
  REQUIRE(stbi_write_jpg((root / "dog" / "c.jpg").c_str(), 16, 16, 3, solid(16, 16, 0, 0, 255).data(), 95) != 0);
  write_png(root / "dog" / "grey.png", 2, 2, 1, {0, 64, 128, 255});
  std::ofstream(root / "dog" / "notes.txt") << "not an image";
  write_png(root / ".cache" / "x.png", 2, 2, 1, {0, 0, 0, 0});
}

}  // namespace

TEST_CASE("ImageFolder numbers classes by sorted folder name and resizes images", "[data][image_folder]") {
  TempDirectory tmp("imagefolder");
  write_folder(tmp.path());
  ImageFolder folder(tmp.path(), 5);
  REQUIRE(folder.class_names() == std::vector<std::string>{"cat", "dog"});
  REQUIRE(folder.size() == 4);  // notes.txt and the hidden folder are skipped
  REQUIRE(folder.path(0).filename() == "a.png");
  REQUIRE(folder.path(1).filename() == "b.BMP");
  REQUIRE(folder.path(2).filename() == "c.jpg");
  REQUIRE(folder.label(1) == 0);
  REQUIRE(folder.label(3) == 1);

  // Solid colours stay (nearly, for JPEG) the same colour after resizing.
  const std::vector<std::array<double, 3>> expected{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  for (int64_t i = 0; i < 3; ++i) {
    ImageExample example = folder.get(i);
    REQUIRE(example.image.shape() == Shape{3, 5, 5});
    REQUIRE(example.image.dtype() == kFloat32);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y : {0, 2, 4})
        for (int64_t x : {0, 3, 4}) REQUIRE(example.image.at({c, y, x}) == Approx(expected[i][c]).margin(0.02));
  }
  REQUIRE_THROWS_WITH(folder.get(4), Catch::Contains("index 4 is out of range for size 4"));

  DataLoader<ImageExample, ImageBatch> loader(std::make_shared<ImageFolder>(tmp.path(), 5), {.batch_size = 3},
                                              collate_images);
  std::vector<ImageBatch> batches;
  for (ImageBatch& batch : loader.epoch(0)) batches.push_back(batch);
  REQUIRE(batches.size() == 2);
  REQUIRE(batches[0].images.shape() == Shape{3, 3, 5, 5});
  REQUIRE(batches[0].labels.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1});
}

TEST_CASE("load_image keeps PNG pixels exactly at the original size", "[data][image_folder]") {
  TempDirectory tmp("imagefolder");
  // 3x2 with distinct values per pixel and channel.
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 6; ++i) pixels.insert(pixels.end(), {uint8_t(10 * i), uint8_t(100 + i), uint8_t(250 - i)});
  write_png(tmp / "p.png", 3, 2, 3, pixels);
  Tensor image = load_image(tmp / "p.png", 0);
  REQUIRE(image.shape() == Shape{3, 2, 3});
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) {
      const int i = y * 3 + x;
      REQUIRE(image.at({0, y, x}) == Approx(10 * i / 255.0));
      REQUIRE(image.at({1, y, x}) == Approx((100 + i) / 255.0));
      REQUIRE(image.at({2, y, x}) == Approx((250 - i) / 255.0));
    }
  // Grey images fill all three channels.
  write_png(tmp / "g.png", 2, 2, 1, {0, 64, 128, 255});
  Tensor grey = load_image(tmp / "g.png", 0);
  REQUIRE(grey.shape() == Shape{3, 2, 2});
  for (int c = 0; c < 3; ++c) REQUIRE(grey.at({c, 1, 0}) == Approx(128 / 255.0));
  // Non-square target size.
  REQUIRE(load_image(tmp / "p.png", 4, 7).shape() == Shape{3, 4, 7});
}

TEST_CASE("unreadable images are reported with their path and the decoder's reason", "[data][image_folder]") {
  TempDirectory tmp("imagefolder");
  write_folder(tmp.path());
  std::ofstream(tmp / "dog" / "broken.png", std::ios::binary) << "this is not a PNG file";
  REQUIRE_THROWS_WITH(ImageFolder(tmp.path(), 4),
                      Catch::StartsWith("ImageFolder: ") &&
                          Catch::Contains("broken.png: not a PNG, JPEG or BMP file") &&
                          Catch::Contains("\"this is \""));
  REQUIRE_THROWS_WITH(load_image(tmp / "dog" / "broken.png", 4),
                      Catch::StartsWith("load_image: ") && Catch::Contains("broken.png: not a PNG, JPEG or BMP"));
  REQUIRE_THROWS_WITH(load_image(tmp / "missing.png", 4),
                      Catch::Contains("missing.png: cannot open: No such file or directory"));
  // A PNG signature over a damaged header reaches libpng's reason.
  std::ofstream(tmp / "bad_header.png", std::ios::binary) << std::string("\x89PNG\r\n\x1a\n", 8) << "garbage!";
  REQUIRE_THROWS_WITH(load_image(tmp / "bad_header.png", 4),
                      Catch::StartsWith("load_image: ") &&
                          Catch::Contains("bad_header.png: corrupt or truncated PNG: "));
}

TEST_CASE("only PNG, JPEG and BMP are decoded, told by their bytes, absurd sizes stop before decoding",
          "[data][image_folder]") {
  TempDirectory tmp("imagefolder");
  // Formats stb_image also knows, named .png: a 14-byte GIF header that makes stb's GIF decoder clear
  // about 1.9 GB, and a 42-byte HDR file with no width that ends in an abort when resized.
  std::ofstream(tmp / "gif.png", std::ios::binary) << std::string("GIF89a\xff\xff\xff\xff\x00\x00\x00\x00", 14);
  std::ofstream(tmp / "hdr.png", std::ios::binary) << "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 0\n";
  for (const char* name : {"gif.png", "hdr.png"})
    REQUIRE_THROWS_WITH(load_image(tmp / name, 4), Catch::Contains(name) && Catch::Contains("not a PNG, JPEG or BMP"));
  // A real PNG whose header claims 10000 x 10000 pixels: refused by size before any allocation.
  write_png(tmp / "small.png", 2, 2, 3, solid(2, 2, 1, 2, 3));
  std::string bytes;
  {
    std::ifstream in(tmp / "small.png", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bytes.replace(16, 8, std::string("\x00\x00\x27\x10\x00\x00\x27\x10", 8));  // IHDR width and height
  std::ofstream(tmp / "huge.png", std::ios::binary) << bytes;
  REQUIRE_THROWS_WITH(load_image(tmp / "huge.png", 4),
                      Catch::Contains("huge.png: its header says it is 10000x10000 pixels") &&
                          Catch::Contains("1 to 67108864"));
  // A JPEG named .bmp is still read as the JPEG it is.
  REQUIRE(stbi_write_jpg((tmp / "photo.bmp").c_str(), 4, 4, 3, solid(4, 4, 0, 0, 255).data(), 95) != 0);
  REQUIRE(load_image(tmp / "photo.bmp", 4).shape() == Shape{3, 4, 4});
}

TEST_CASE("an image whose header is fine but whose data is cut off fails in get", "[data][image_folder]") {
  TempDirectory tmp("imagefolder");
  std::filesystem::create_directories(tmp / "only");
  std::vector<uint8_t> noise;
  for (int i = 0; i < 64 * 64 * 3; ++i) noise.push_back(static_cast<uint8_t>((i * 7919) % 251));
  write_png(tmp / "only" / "cut.png", 64, 64, 3, noise);
  std::filesystem::resize_file(tmp / "only" / "cut.png", 200);  // IHDR survives, IDAT does not
  ImageFolder folder(tmp.path(), 8);
  REQUIRE(folder.size() == 1);
  REQUIRE_THROWS_WITH(folder.get(0), Catch::StartsWith("load_image: ") &&
                                         Catch::Contains("cut.png: corrupt or truncated PNG: "));
}

TEST_CASE("ImageFolder rejects a root without classes and empty class folders", "[data][image_folder]") {
  TempDirectory tmp("imagefolder");
  REQUIRE_THROWS_WITH(ImageFolder(tmp / "nope", 4), Catch::Contains("nope is not a directory"));
  REQUIRE_THROWS_WITH(ImageFolder(tmp.path(), 4), Catch::Contains("has no class subfolders"));
  std::filesystem::create_directories(tmp / "empty");
  REQUIRE_THROWS_WITH(ImageFolder(tmp.path(), 4), Catch::Contains("empty has no .png, .jpg, .jpeg or .bmp files"));
  REQUIRE_THROWS_WITH(ImageFolder(tmp.path(), 0), Catch::Contains("image_size must be >= 1, got 0"));
}

TEST_CASE("ImageFolder finds a JPEG's size behind more than 64 KiB of metadata", "[data][image_folder]") {
  TempDirectory tmp("imagefolder");
  std::filesystem::create_directories(tmp / "only");
  REQUIRE(stbi_write_jpg((tmp / "plain.jpg").c_str(), 4, 4, 3, solid(4, 4, 0, 0, 255).data(), 95) != 0);
  const std::string plain = focus::testing::read_file(tmp / "plain.jpg");
  // Two 60000-byte APP1 segments (as a camera's EXIF and thumbnail might be) between SOI and the rest.
  std::string app1("\xff\xe1", 2);
  app1 += static_cast<char>(60000 >> 8);
  app1 += static_cast<char>(60000 & 0xff);
  app1 += std::string(60000 - 2, 'x');
  focus::testing::write_file(tmp / "only" / "big_metadata.jpg", plain.substr(0, 2) + app1 + app1 + plain.substr(2));
  ImageFolder folder(tmp.path(), 4);
  REQUIRE(folder.get(0).image.at({2, 1, 1}) == Approx(1.0).margin(0.02));

  // The same file cut inside its metadata: refused at construction.
  focus::testing::write_file(tmp / "only" / "cut_metadata.jpg", plain.substr(0, 2) + app1 + app1.substr(0, 30000));
  REQUIRE_THROWS_WITH(ImageFolder(tmp.path(), 4),
                      Catch::StartsWith("ImageFolder: ") &&
                          Catch::Contains("cut_metadata.jpg: corrupt or truncated JPEG: Premature end of JPEG file"));
}

TEST_CASE("image files over 256 MiB are refused before they are read", "[data][image_folder]") {
  TempDirectory tmp("imagefolder");
  std::filesystem::create_directories(tmp / "only");
  write_png(tmp / "only" / "big.png", 2, 2, 3, solid(2, 2, 1, 2, 3));
  std::filesystem::resize_file(tmp / "only" / "big.png", (uintmax_t{256} << 20) + 1);  // sparse: no disk used
  REQUIRE_THROWS_WITH(ImageFolder(tmp.path(), 4),
                      Catch::Contains("big.png: the file is 268435457 bytes; focus reads image files of up to "
                                      "268435456 bytes (256 MiB)"));
  REQUIRE_THROWS_WITH(load_image(tmp / "only" / "big.png", 4),
                      Catch::StartsWith("load_image: ") && Catch::Contains("big.png: the file is 268435457 bytes"));
}
