// Image transforms: hand-computed Normalize, crops that are windows of the
// zero-padded image, flips, composition, reproducibility from the example
// generator, and their use inside a DataLoader.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "datasets/dataloader.h"
#include "datasets/image_example.h"
#include "datasets/transforms.h"

using namespace focus;
using namespace focus::data;

namespace {

// [C, H, W] image whose value at (c, y, x) is 100c + 10y + x (all distinct).
Tensor coordinate_image(int64_t channels, int64_t height, int64_t width, DType dtype = kFloat32) {
  std::vector<double> values;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) values.push_back(static_cast<double>(100 * c + 10 * y + x));
  return from_vector(values, {channels, height, width}).to(dtype);
}

// The size×size window at (top, left) of `image` padded by `padding` zeros.
std::vector<double> padded_window(const Tensor& image, int64_t padding, int64_t size, int64_t top, int64_t left) {
  std::vector<double> out;
  for (int64_t c = 0; c < image.size(0); ++c)
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x) {
        const int64_t sy = top + y - padding, sx = left + x - padding;
        const bool inside = sy >= 0 && sy < image.size(1) && sx >= 0 && sx < image.size(2);
        out.push_back(inside ? image.at({c, sy, sx}) : 0.0);
      }
  return out;
}

}  // namespace

TEST_CASE("Normalize subtracts the channel mean and divides by the channel std", "[data][transforms]") {
  Generator gen(0);
  // channel 0: {1, 2}, channel 1: {3, 5}
  Tensor image = from_vector(std::vector<float>{1, 2, 3, 5}, {2, 1, 2});
  Tensor out = Normalize({0.5, 1.0}, {0.25, 2.0})(image, gen);
  REQUIRE(out.shape() == Shape{2, 1, 2});
  const std::vector<float> values = out.to_vector<float>();
  // (1 - 0.5) / 0.25 = 2, (2 - 0.5) / 0.25 = 6, (3 - 1) / 2 = 1, (5 - 1) / 2 = 2
  REQUIRE(values[0] == Approx(2.0));
  REQUIRE(values[1] == Approx(6.0));
  REQUIRE(values[2] == Approx(1.0));
  REQUIRE(values[3] == Approx(2.0));
  REQUIRE(image.to_vector<float>() == std::vector<float>{1, 2, 3, 5});  // input untouched

  // One mean/std for every channel; float64 stays float64.
  Tensor doubled = Normalize({1.0}, {2.0})(image.to(kFloat64), gen);
  REQUIRE(doubled.dtype() == kFloat64);
  REQUIRE(doubled.to_vector<double>() == std::vector<double>{0.0, 0.5, 1.0, 2.0});

  REQUIRE_THROWS_WITH(Normalize({0.5, 0.5, 0.5}, {1, 1, 1})(image, gen),
                      Catch::Contains("Normalize: 3 means for an image of shape [2, 1, 2]"));
  REQUIRE_THROWS_WITH(Normalize({0.5}, {0.0}), Catch::Contains("std[0] = 0 must be positive"));
  REQUIRE_THROWS_WITH(Normalize({0.5, 0.5}, {1.0}), Catch::Contains("mean has 2 values and std has 1"));
  REQUIRE_THROWS_WITH(Normalize({0.5}, {1.0})(zeros({4, 4}), gen),
                      Catch::Contains("Normalize: expected an image of shape [C, H, W], got [4, 4]"));
  REQUIRE_THROWS_WITH(Normalize({0.5}, {1.0})(zeros({1, 2, 2}, kInt64), gen),
                      Catch::Contains("expected a float32 or float64 image, got int64"));
}

TEST_CASE("RandomCrop returns a window of the zero-padded image, every position possible", "[data][transforms]") {
  const Tensor image = coordinate_image(2, 4, 5);
  const RandomCrop crop(3, /*padding=*/1);
  // Padded 6x7: window origins top 0..3, left 0..4 = 20 positions.
  std::set<std::pair<int64_t, int64_t>> origins;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    Generator gen(seed);
    Tensor out = crop(image, gen);
    REQUIRE(out.shape() == Shape{2, 3, 3});
    const std::vector<double> values = out.to(kFloat64).to_vector<double>();
    int matches = 0;
    for (int64_t top = 0; top <= 3; ++top)
      for (int64_t left = 0; left <= 4; ++left)
        if (padded_window(image, 1, 3, top, left) == values) {
          origins.insert({top, left});
          ++matches;
        }
    REQUIRE(matches == 1);  // the values pin down one window
  }
  REQUIRE(origins.size() == 20);

  // No padding and full size: the image itself.
  Generator gen(1);
  REQUIRE(RandomCrop(4)(coordinate_image(1, 4, 4), gen).to_vector<float>() ==
          coordinate_image(1, 4, 4).to_vector<float>());
  REQUIRE_THROWS_WITH(RandomCrop(8, 1)(image, gen),
                      Catch::Contains("RandomCrop: a 8x8 crop does not fit an image of shape [2, 4, 5] padded by 1"));
  REQUIRE_THROWS_WITH(RandomCrop(3, -1), Catch::Contains("padding must be >= 0, got -1"));
}

TEST_CASE("RandomHorizontalFlip mirrors rows with probability p", "[data][transforms]") {
  const Tensor image = coordinate_image(2, 3, 4);
  Generator gen(5);
  Tensor flipped = RandomHorizontalFlip(1.0)(image, gen);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 4; ++x) REQUIRE(flipped.at({c, y, x}) == image.at({c, y, 3 - x}));
  REQUIRE(RandomHorizontalFlip(0.0)(image, gen).to_vector<float>() == image.to_vector<float>());

  int flips = 0;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    Generator g(seed);
    flips += RandomHorizontalFlip(0.5)(image, g).at({0, 0, 0}) != image.at({0, 0, 0});
  }
  REQUIRE(flips > 430);  // binomial(1000, 0.5): 430..570 is beyond 4 standard deviations
  REQUIRE(flips < 570);
  REQUIRE_THROWS_WITH(RandomHorizontalFlip(1.5), Catch::Contains("p must be in [0, 1], got 1.5"));
}

TEST_CASE("transforms accept non-contiguous and float64 images", "[data][transforms]") {
  // A transposed view: [C, W, H] storage read as [C, H, W].
  Tensor stored = coordinate_image(1, 5, 4, kFloat64);
  Tensor view = stored.transpose(1, 2);  // [1, 4, 5], not contiguous
  REQUIRE_FALSE(view.is_contiguous());
  Generator gen(0);
  Tensor flipped = RandomHorizontalFlip(1.0)(view, gen);
  REQUIRE(flipped.dtype() == kFloat64);
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 5; ++x) REQUIRE(flipped.at({0, y, x}) == view.at({0, y, 4 - x}));
  Generator g1(3), g2(3);
  Tensor cropped = RandomCrop(3, 2)(view, g1);
  REQUIRE(cropped.to_vector<double>() == RandomCrop(3, 2)(view.clone(), g2).to_vector<double>());
}

TEST_CASE("Compose applies transforms in order from one generator, same generator, same result",
          "[data][transforms]") {
  const Tensor image = coordinate_image(3, 6, 6);
  const Compose pipeline({RandomCrop(4, 2), RandomHorizontalFlip(), Normalize({10.0, 20.0, 30.0}, {2.0, 4.0, 8.0})});
  Generator a = example_generator(7, 2, 11), b = example_generator(7, 2, 11);
  const std::vector<float> once = pipeline(image, a).to_vector<float>();
  REQUIRE(once == pipeline(image, b).to_vector<float>());

  Generator manual = example_generator(7, 2, 11);
  Tensor step = RandomCrop(4, 2)(image, manual);
  step = RandomHorizontalFlip()(step, manual);
  step = Normalize({10.0, 20.0, 30.0}, {2.0, 4.0, 8.0})(step, manual);
  REQUIRE(step.to_vector<float>() == once);

  // Across many examples the augmentation varies.
  std::set<std::vector<float>> distinct;
  for (int64_t index = 0; index < 20; ++index) {
    Generator gen = example_generator(7, 2, index);
    distinct.insert(pipeline(image, gen).to_vector<float>());
  }
  REQUIRE(distinct.size() > 10);
}

TEST_CASE("image transforms run per example inside the DataLoader, reproducibly", "[data][transforms]") {
  class Images : public Dataset<ImageExample> {
   public:
    int64_t size() const override { return 12; }
    ImageExample get(int64_t index) const override { return {full({3, 8, 8}, 0.05 * index), index % 3}; }
  };
  auto dataset = std::make_shared<Images>();
  const Compose augment({RandomCrop(8, 2), RandomHorizontalFlip()});
  auto run = [&](bool prefetch) {
    DataLoader<ImageExample, ImageBatch> loader(dataset, {.batch_size = 5, .shuffle = true, .seed = 4, .prefetch = prefetch},
                                                collate_images);
    loader.set_transform(transform_images(augment));
    std::vector<ImageBatch> batches;
    for (ImageBatch& batch : loader.epoch(3)) batches.push_back(batch);
    return batches;
  };
  const std::vector<ImageBatch> threaded = run(true), inline_batches = run(false);
  REQUIRE(threaded.size() == 3);
  REQUIRE(threaded[0].images.shape() == Shape{5, 3, 8, 8});
  REQUIRE(threaded[2].images.shape() == Shape{2, 3, 8, 8});
  for (size_t b = 0; b < threaded.size(); ++b) {
    REQUIRE(threaded[b].images.to_vector<float>() == inline_batches[b].images.to_vector<float>());
    REQUIRE(threaded[b].labels.to_vector<int64_t>() == inline_batches[b].labels.to_vector<int64_t>());
  }
  // Example 0 of batch 0 is exactly the transform applied with its own generator.
  DataLoader<ImageExample, ImageBatch> plain(dataset, {.batch_size = 5, .shuffle = true, .seed = 4}, collate_images);
  const int64_t index = plain.batch_indices(3)[0][0];
  Generator gen = example_generator(4, 3, index);
  const Tensor expected = augment(dataset->get(index).image, gen);
  REQUIRE(threaded[0].images.select(0, 0).contiguous().to_vector<float>() == expected.to_vector<float>());
  REQUIRE(threaded[0].labels.at({0}) == index % 3);
}

TEST_CASE("alternating_flip mirrors a seeded half in even epochs and the other half in odd ones",
          "[data][transforms]") {
  constexpr int64_t kCount = 2000;
  auto flips = [](uint64_t seed, int64_t epoch) {
    std::vector<bool> flipped;
    for (int64_t index = 0; index < kCount; ++index) flipped.push_back(alternating_flip({seed, epoch, index}));
    return flipped;
  };
  const std::vector<bool> epoch0 = flips(3, 0), epoch1 = flips(3, 1);
  // About half in the first epoch: 1000 ± 3 standard deviations (22).
  const auto count0 = std::count(epoch0.begin(), epoch0.end(), true);
  CHECK(count0 > 934);
  CHECK(count0 < 1066);
  for (int64_t index = 0; index < kCount; ++index) {
    INFO("index " << index);
    REQUIRE(epoch1[index] != epoch0[index]);           // the next epoch shows the other side
    REQUIRE(flips(3, 2)[index] == epoch0[index]);      // and the one after, the first side again
  }
  // Another seed chooses another half (about half the examples agree).
  const std::vector<bool> other = flips(4, 0);
  int64_t agree = 0;
  for (int64_t index = 0; index < kCount; ++index) agree += other[index] == epoch0[index];
  CHECK(agree > 934);
  CHECK(agree < 1066);
}

TEST_CASE("horizontal_flip reverses each row, and RandomHorizontalFlip with p = 1 is it", "[data][transforms]") {
  const Tensor image = coordinate_image(2, 3, 4);
  const Tensor flipped = horizontal_flip(image);
  REQUIRE(flipped.shape() == image.shape());
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t w = 0; w < 4; ++w) REQUIRE(flipped.at({c, h, w}) == image.at({c, h, 3 - w}));
  Generator gen(1);
  REQUIRE(RandomHorizontalFlip(1.0)(image, gen).to_vector<float>() == flipped.to_vector<float>());
  REQUIRE_THROWS_WITH(horizontal_flip(zeros({3, 4})), Catch::Contains("horizontal_flip"));
}

TEST_CASE("a position-aware transform is told the seed, epoch and index of each example", "[data][transforms]") {
  class Images : public Dataset<ImageExample> {
   public:
    int64_t size() const override { return 7; }
    ImageExample get(int64_t index) const override { return {coordinate_image(1, 2, 3), index}; }
  };
  for (bool prefetch : {false, true}) {
    DataLoader<ImageExample, ImageBatch> loader(std::make_shared<Images>(),
                                                {.batch_size = 3, .shuffle = true, .seed = 9, .prefetch = prefetch},
                                                collate_images);
    loader.set_transform([](ImageExample&& example, Generator&, const ExamplePosition& at) {
      // Carry the position out in the image: seed, epoch, index.
      example.image = from_vector(std::vector<double>{static_cast<double>(at.seed), static_cast<double>(at.epoch),
                                                      static_cast<double>(at.index)},
                                  {1, 1, 3})
                          .to(kFloat32);
      return std::move(example);
    });
    for (ImageBatch& batch : loader.epoch(5))
      for (int64_t i = 0; i < batch.size(); ++i) {
        const std::vector<float> position = batch.images.select(0, i).contiguous().to_vector<float>();
        INFO("prefetch " << prefetch);
        REQUIRE(position == std::vector<float>{9, 5, static_cast<float>(batch.labels.at({i}))});
      }
  }
}

TEST_CASE("collate_images stacks images and checks they match", "[data][transforms]") {
  std::vector<ImageExample> examples;
  examples.push_back({full({3, 2, 2}, 0.25), 4});
  examples.push_back({coordinate_image(3, 2, 2), 7});
  ImageBatch batch = collate_images(std::move(examples));
  REQUIRE(batch.images.shape() == Shape{2, 3, 2, 2});
  REQUIRE(batch.labels.dtype() == kInt64);
  REQUIRE(batch.labels.to_vector<int64_t>() == std::vector<int64_t>{4, 7});
  REQUIRE(batch.size() == 2);
  REQUIRE(batch.images.at({0, 2, 1, 1}) == 0.25);
  REQUIRE(batch.images.at({1, 2, 1, 0}) == 210.0);

  std::vector<ImageExample> mixed;
  mixed.push_back({zeros({3, 2, 2}), 0});
  mixed.push_back({zeros({3, 4, 2}), 1});
  REQUIRE_THROWS_WITH(collate_images(std::move(mixed)),
                      Catch::Contains("image 1 has shape [3, 4, 2], expected [3, 2, 2] like image 0"));
  REQUIRE_THROWS_WITH(collate_images({}), Catch::Contains("no examples"));
}
