#pragma once
// A generated folder in the CIFAR-10 binary format, for the tests that run the CIFAR-10 example
// without the real data set (or faster than on it).
#include <algorithm>
#include <filesystem>
#include <random>
#include <string>

#include "../datasets/temp_directory.h"

namespace focus::testing {

// A folder in the CIFAR-10 binary format (data_batch_1..5.bin, test_batch.bin; 1 label byte + R, G,
// B planes of 32x32 per record) with `records` records per file. The class is the colour: class c
// fills its image with a colour of its own plus uniform noise of ±40 per value, so a few dozen
// optimizer steps separate the classes, while the noise keeps every image different.
inline void write_generated_cifar(const std::filesystem::path& dir, int records) {
  static const int kColours[10][3] = {{230, 25, 25},  {25, 230, 25},  {25, 25, 230},  {230, 230, 25}, {230, 25, 230},
                                      {25, 230, 230}, {128, 128, 128}, {240, 140, 20}, {120, 40, 200}, {20, 20, 20}};
  std::filesystem::create_directories(dir);
  std::mt19937 random(7);
  std::uniform_int_distribution<int> noise(-40, 40);
  for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                           "data_batch_5.bin", "test_batch.bin"}) {
    std::string bytes;
    for (int r = 0; r < records; ++r) {
      const int label = (r * 7 + 3) % 10;  // every class in every tenth, not in a fixed rotation
      bytes.push_back(static_cast<char>(label));
      for (int channel = 0; channel < 3; ++channel)
        for (int i = 0; i < 32 * 32; ++i)
          bytes.push_back(static_cast<char>(std::clamp(kColours[label][channel] + noise(random), 0, 255)));
    }
    write_file(dir / name, bytes);
  }
}

}  // namespace focus::testing
