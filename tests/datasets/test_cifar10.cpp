// CIFAR-10 binary reader: a small generated batch file (values, labels, class
// names, batch fast path), corrupt files reported with file name and offset,
// and, when FOCUS_DATA is set, the real data set.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "datasets/cifar10.h"
#include "datasets/data_root.h"
#include "datasets/dataloader.h"
#include "temp_directory.h"

using namespace focus;
using namespace focus::data;
using focus::testing::TempDirectory;

namespace {

// Pixel byte of record r at plane position p: distinct per record and channel.
uint8_t pixel_byte(int record, int p) { return static_cast<uint8_t>((record * 37 + p * 7) % 256); }

void write_batch(const std::filesystem::path& path, const std::vector<uint8_t>& labels, int first_record = 0) {
  std::ofstream out(path, std::ios::binary);
  for (size_t r = 0; r < labels.size(); ++r) {
    out.put(static_cast<char>(labels[r]));
    for (int p = 0; p < 3072; ++p) out.put(static_cast<char>(pixel_byte(first_record + static_cast<int>(r), p)));
  }
}

// A complete miniature layout: 2+1+1+1+1 training records, 3 test records.
void write_dataset(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  write_batch(dir / "data_batch_1.bin", {6, 9}, 0);
  write_batch(dir / "data_batch_2.bin", {0}, 2);
  write_batch(dir / "data_batch_3.bin", {1}, 3);
  write_batch(dir / "data_batch_4.bin", {2}, 4);
  write_batch(dir / "data_batch_5.bin", {3}, 5);
  write_batch(dir / "test_batch.bin", {3, 8, 0}, 100);
}

void truncate_file(const std::filesystem::path& path, std::uintmax_t size) { std::filesystem::resize_file(path, size); }

}  // namespace

TEST_CASE("CIFAR10 reads records as float images in [0, 1] with their labels", "[data][cifar10]") {
  TempDirectory tmp("cifar");
  const auto dir = tmp / "cifar-10-batches-bin";
  write_dataset(dir);

  CIFAR10 test(dir, Split::Test);
  REQUIRE(test.size() == 3);
  REQUIRE(test.label(0) == 3);
  REQUIRE(test.label(1) == 8);
  ImageExample example = test.get(1);
  REQUIRE(example.label == 8);
  REQUIRE(example.image.shape() == Shape{3, 32, 32});
  REQUIRE(example.image.dtype() == kFloat32);
  // Red plane first, then green, then blue; row-major within a plane.
  for (int c = 0; c < 3; ++c)
    for (int y : {0, 5, 31})
      for (int x : {0, 17, 31}) {
        const int p = c * 1024 + y * 32 + x;
        REQUIRE(example.image.at({c, y, x}) == Approx(pixel_byte(101, p) / 255.0).epsilon(1e-6));
      }

  // The parent folder works as root too; training records follow batch order.
  CIFAR10 train(tmp.path(), Split::Train);
  REQUIRE(train.size() == 6);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < train.size(); ++i) labels.push_back(train.get(i).label);
  REQUIRE(labels == std::vector<int64_t>{6, 9, 0, 1, 2, 3});
  REQUIRE(train.get(4).image.at({0, 0, 1}) == Approx(pixel_byte(4, 1) / 255.0));
  REQUIRE(train.class_counts() == std::vector<int64_t>{1, 1, 1, 1, 0, 0, 1, 0, 0, 1});
  REQUIRE_THROWS_WITH(train.get(6), Catch::Contains("CIFAR10: index 6 is out of range for size 6"));
}

TEST_CASE("CIFAR10 class names come from batches.meta.txt", "[data][cifar10]") {
  TempDirectory tmp("cifar");
  write_dataset(tmp.path());
  // No meta file: the standard names.
  REQUIRE(CIFAR10(tmp.path(), Split::Test).class_names()[6] == "frog");
  {
    std::ofstream meta(tmp / "batches.meta.txt");
    meta << "a0\r\na1\na2\na3\na4\na5\na6\na7\na8\na9\n\n";  // CRLF and a trailing blank line are tolerated
  }
  const CIFAR10 named(tmp.path(), Split::Test);
  REQUIRE(named.class_names().size() == 10);
  REQUIRE(named.class_names()[0] == "a0");
  REQUIRE(named.class_names()[9] == "a9");
  {
    std::ofstream meta(tmp / "batches.meta.txt");
    meta << "only\ntwo\n";
  }
  REQUIRE_THROWS_WITH(CIFAR10(tmp.path(), Split::Test),
                      Catch::Contains("batches.meta.txt lists 2 class names, expected 10"));
}

TEST_CASE("CIFAR10 get_batch equals collating single examples", "[data][cifar10]") {
  TempDirectory tmp("cifar");
  write_dataset(tmp.path());
  auto train = std::make_shared<CIFAR10>(tmp.path(), Split::Train);
  const std::vector<int64_t> indices{5, 0, 3};
  ImageBatch fast = train->get_batch(indices);
  std::vector<ImageExample> examples;
  for (int64_t i : indices) examples.push_back(train->get(i));
  ImageBatch slow = collate_images(std::move(examples));
  REQUIRE(fast.images.shape() == Shape{3, 3, 32, 32});
  REQUIRE(fast.images.to_vector<float>() == slow.images.to_vector<float>());
  REQUIRE(fast.labels.to_vector<int64_t>() == std::vector<int64_t>{3, 6, 1});

  // Through a loader: the whole split, every label once.
  DataLoader<ImageExample, ImageBatch> loader(train, {.batch_size = 4, .shuffle = true, .seed = 1}, collate_images);
  std::vector<int64_t> seen;
  for (ImageBatch& batch : loader.epoch(0))
    for (int64_t label : batch.labels.to_vector<int64_t>()) seen.push_back(label);
  std::sort(seen.begin(), seen.end());
  REQUIRE(seen == std::vector<int64_t>{0, 1, 2, 3, 6, 9});
}

TEST_CASE("CIFAR10 reports corrupt files by name and byte offset", "[data][cifar10]") {
  TempDirectory tmp("cifar");
  write_dataset(tmp.path());

  SECTION("missing file") {
    std::filesystem::remove(tmp / "data_batch_3.bin");
    REQUIRE_THROWS_WITH(CIFAR10(tmp.path(), Split::Train),
                        Catch::Contains("cannot open") && Catch::Contains("data_batch_3.bin") &&
                            Catch::Contains("download-cifar10.sh"));
  }
  SECTION("truncated file") {
    // 3 records = 9219 bytes; cut 100 bytes into the third record.
    truncate_file(tmp / "test_batch.bin", 2 * 3073 + 100);
    REQUIRE_THROWS_WITH(CIFAR10(tmp.path(), Split::Test),
                        Catch::Contains("test_batch.bin is 6246 bytes, not a multiple of the 3073-byte record") &&
                            Catch::Contains("last full record is record 1, ending at byte offset 6146") &&
                            Catch::Contains("100 stray bytes"));
  }
  SECTION("shorter than one record") {
    truncate_file(tmp / "test_batch.bin", 10);
    REQUIRE_THROWS_WITH(CIFAR10(tmp.path(), Split::Test),
                        Catch::Contains("test_batch.bin is 10 bytes") && Catch::Contains("no full record"));
  }
  SECTION("label byte out of range") {
    write_batch(tmp / "data_batch_2.bin", {4, 10, 1});
    REQUIRE_THROWS_WITH(CIFAR10(tmp.path(), Split::Train),
                        Catch::Contains("data_batch_2.bin record 1 (byte offset 3073) has label 10"));
  }
  SECTION("empty file") {
    truncate_file(tmp / "test_batch.bin", 0);
    REQUIRE_THROWS_WITH(CIFAR10(tmp.path(), Split::Test), Catch::Contains("test_batch.bin is empty"));
  }
}

TEST_CASE("real CIFAR-10 (when FOCUS_DATA is set)", "[data][cifar10][real]") {
  if (!has_data_root()) {
    WARN("FOCUS_DATA is not set: skipping the real CIFAR-10 checks");
    return;
  }
  const auto root = data_root();
  const auto start = std::chrono::steady_clock::now();
  CIFAR10 train(root, Split::Train);
  CIFAR10 test(root, Split::Test);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("loading 60,000 images took " << seconds << " s");
  REQUIRE(seconds < 1.0);

  REQUIRE(train.size() == 50000);
  REQUIRE(test.size() == 10000);
  REQUIRE(train.class_counts() == std::vector<int64_t>(10, 5000));
  REQUIRE(test.class_counts() == std::vector<int64_t>(10, 1000));
  REQUIRE(train.class_names()[6] == "frog");
  REQUIRE(test.class_names()[3] == "cat");

  ImageExample first = train.get(0);
  REQUIRE(first.label == 6);  // frog
  const std::vector<int> red{59, 43, 50, 68, 98};
  for (int x = 0; x < 5; ++x) REQUIRE(first.image.at({0, 0, x}) == Approx(red[x] / 255.0));
  ImageExample cat = test.get(0);
  REQUIRE(cat.label == 3);
  const std::vector<int> cat_red{158, 159, 165, 166, 160};
  for (int x = 0; x < 5; ++x) REQUIRE(test.pixels(0)[x] == cat_red[x]);

  // A shuffled epoch over the real training set visits every image once.
  auto shared = std::make_shared<CIFAR10>(root, Split::Test);
  DataLoader<ImageExample, ImageBatch> loader(shared, {.batch_size = 500, .shuffle = true}, collate_images);
  std::vector<int64_t> counts(10, 0);
  for (ImageBatch& batch : loader.epoch(0))
    for (int64_t label : batch.labels.to_vector<int64_t>()) ++counts[label];
  REQUIRE(counts == std::vector<int64_t>(10, 1000));
}
