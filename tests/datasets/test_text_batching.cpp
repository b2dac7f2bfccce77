#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "datasets/data_root.h"
#include "datasets/dataloader.h"
#include "datasets/sentence_pairs.h"
#include "datasets/sequence_batch.h"

using namespace focus;
using namespace focus::data;
using Ids = std::vector<int64_t>;

namespace {

SentencePair example(Ids source, Ids target, std::string source_text = "", std::string target_text = "") {
  return SentencePair{std::move(source), std::move(target), std::move(source_text), std::move(target_text)};
}

std::vector<bool> bools(const Tensor& t) { return t.to_vector<bool>(); }

// Sentence lengths shaped like short-sentence corpora such as Tatoeba: mostly
// 3-12 tokens with a long tail (log-normal, median about 7).
std::vector<int64_t> corpus_like_lengths(int64_t count, uint64_t seed) {
  Generator generator(seed);
  std::vector<int64_t> lengths(static_cast<size_t>(count));
  for (int64_t& length : lengths) {
    length = std::clamp<int64_t>(std::llround(std::exp(1.9 + 0.45 * generator.normal())), 1, 60);
  }
  return lengths;
}

void require_each_index_once(const std::vector<Ids>& batches, int64_t count) {
  Ids all;
  for (const Ids& batch : batches) all.insert(all.end(), batch.begin(), batch.end());
  std::sort(all.begin(), all.end());
  Ids expected(static_cast<size_t>(count));
  std::iota(expected.begin(), expected.end(), int64_t{0});
  REQUIRE(all == expected);
}

// A dataset of SentencePairs whose source i has lengths[i] tokens, all = i + 4.
class LengthDataset : public Dataset<SentencePair> {
 public:
  explicit LengthDataset(std::vector<int64_t> lengths) : lengths_(std::move(lengths)) {}
  int64_t size() const override { return static_cast<int64_t>(lengths_.size()); }
  SentencePair get(int64_t index) const override {
    const Ids source(static_cast<size_t>(lengths_[static_cast<size_t>(index)]), index + 4);
    return example(source, {index + 4}, std::to_string(index));
  }

 private:
  std::vector<int64_t> lengths_;
};

}  // namespace

TEST_CASE("collate_sequences pads, masks and shifts the target", "[text][batching]") {
  std::vector<SentencePair> examples;
  examples.push_back(example({5, 6, 7}, {11, 12}, "a b c", "x y"));
  examples.push_back(example({8}, {13, 14, 15}, "d", "z z z"));
  examples.push_back(example({9, 10}, {16}, "e f", "w"));
  const SequenceBatch batch = collate_sequences(std::move(examples));

  REQUIRE(batch.size() == 3);
  REQUIRE(batch.source.shape() == Shape{3, 3});
  REQUIRE(batch.source.dtype() == kInt64);
  REQUIRE(batch.source.to_vector<int64_t>() == Ids{5, 6, 7, 8, 0, 0, 9, 10, 0});
  REQUIRE(batch.source_lengths.shape() == Shape{3});
  REQUIRE(batch.source_lengths.to_vector<int64_t>() == Ids{3, 1, 2});
  REQUIRE(batch.source_mask.dtype() == kBool);
  REQUIRE(bools(batch.source_mask) == std::vector<bool>{true, true, true, true, false, false, true, true, false});

  // T = longest target (3) + 1. Input: <sos>=1 then the target; output: target then <eos>=2.
  REQUIRE(batch.target_input.shape() == Shape{3, 4});
  REQUIRE(batch.target_output.shape() == Shape{3, 4});
  REQUIRE(batch.target_input.to_vector<int64_t>() == Ids{1, 11, 12, 0, 1, 13, 14, 15, 1, 16, 0, 0});
  REQUIRE(batch.target_output.to_vector<int64_t>() == Ids{11, 12, 2, 0, 13, 14, 15, 2, 16, 2, 0, 0});
  REQUIRE(batch.target_lengths.to_vector<int64_t>() == Ids{3, 4, 2});
  REQUIRE(bools(batch.target_mask) ==
          std::vector<bool>{true, true, true, false, true, true, true, true, true, true, false, false});
  REQUIRE(batch.source_texts == std::vector<std::string>{"a b c", "d", "e f"});
  REQUIRE(batch.target_texts == std::vector<std::string>{"x y", "z z z", "w"});
}

TEST_CASE("collate_sequences handles an empty target and rejects bad input", "[text][batching]") {
  std::vector<SentencePair> one;
  one.push_back(example({4}, {}));
  const SequenceBatch batch = collate_sequences(std::move(one));
  REQUIRE(batch.target_input.to_vector<int64_t>() == Ids{1});
  REQUIRE(batch.target_output.to_vector<int64_t>() == Ids{2});

  REQUIRE_THROWS_WITH(collate_sequences({}), Catch::Contains("collate_sequences: empty list"));
  std::vector<SentencePair> bad;
  bad.push_back(example({4}, {5}));
  bad.push_back(example({}, {5}));
  REQUIRE_THROWS_WITH(collate_sequences(std::move(bad)), Catch::Contains("example 1 of 2 has an empty source"));
}

TEST_CASE("bucket_batches covers every index exactly once per epoch", "[text][batching]") {
  const std::vector<int64_t> lengths = corpus_like_lengths(1000, 3);
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    const auto batches = bucket_batches(lengths, 32, 11, epoch, {.chunk_batches = 5});
    INFO("epoch " << epoch);
    require_each_index_once(batches, 1000);
    REQUIRE(batches.size() == 32);  // ceil(1000 / 32)
    int64_t short_batches = 0;
    for (const Ids& batch : batches) {
      REQUIRE(batch.size() <= 32);
      if (batch.size() < 32) ++short_batches;
    }
    REQUIRE(short_batches == 1);  // 1000 = 31 * 32 + 8
  }
  const auto dropped = bucket_batches(lengths, 32, 11, 0, {.chunk_batches = 5, .drop_last = true});
  REQUIRE(dropped.size() == 31);
  for (const Ids& batch : dropped) REQUIRE(batch.size() == 32);
}

TEST_CASE("bucket_batches depends only on seed and epoch", "[text][batching]") {
  const std::vector<int64_t> lengths = corpus_like_lengths(500, 4);
  REQUIRE(bucket_batches(lengths, 16, 1, 0) == bucket_batches(lengths, 16, 1, 0));
  REQUIRE(bucket_batches(lengths, 16, 1, 0) != bucket_batches(lengths, 16, 1, 1));
  REQUIRE(bucket_batches(lengths, 16, 1, 0) != bucket_batches(lengths, 16, 2, 0));
  const BatchSampler sampler = make_bucket_sampler(lengths, 16, 1);
  REQUIRE(sampler(3) == bucket_batches(lengths, 16, 1, 3));
  REQUIRE_THROWS_WITH(bucket_batches(lengths, 0, 1, 0), Catch::Contains("batch_size must be >= 1"));
  REQUIRE(bucket_batches({}, 8, 1, 0).empty());
}

TEST_CASE("bucket_batches wastes far less padding than random batches", "[text][batching]") {
  std::vector<int64_t> lengths = corpus_like_lengths(20000, 5);
  if (has_data_root()) {
    // The real English side of eng-fra.tsv, when it is at hand.
    const SentencePairs pairs((data_root() / "translation" / "eng-fra.tsv").string());
    lengths.clear();
    for (const TextPair& pair : pairs.pairs()) lengths.push_back(static_cast<int64_t>(pair.source_tokens.size()));
  }
  const int64_t count = static_cast<int64_t>(lengths.size());
  const double random = padding_fraction(random_batches(count, 64, 9, 0), lengths);
  const double bucketed = padding_fraction(bucket_batches(lengths, 64, 9, 0), lengths);
  INFO("padding fraction: random " << random << ", bucketed " << bucketed);
  // Random batches pad every row to a high quantile of the distribution (a third
  // of the cells and more); sorted chunks of 50 batches nearly remove the waste.
  REQUIRE(random > 0.3);
  REQUIRE(bucketed < random / 5);
}

TEST_CASE("padding_fraction counts padded cells by hand", "[text][batching]") {
  // Batch {0, 1}: lengths 2, 4 -> 8 cells, 2 padding. Batch {2}: 3 -> 3 cells, 0 padding.
  REQUIRE(padding_fraction({{0, 1}, {2}}, {2, 4, 3}) == Approx(2.0 / 11.0));
  REQUIRE(padding_fraction({}, {}) == 0.0);
}

TEST_CASE("DataLoader with a bucket sampler yields collated sequence batches", "[text][batching]") {
  const std::vector<int64_t> lengths = corpus_like_lengths(300, 6);
  auto dataset = std::make_shared<LengthDataset>(lengths);
  DataLoader<SentencePair, SequenceBatch> loader(dataset, make_bucket_sampler(lengths, 20, 5, {.chunk_batches = 3}),
                                                 collate_sequences);
  int64_t examples = 0;
  int64_t batches = 0;
  Ids seen;
  for (SequenceBatch& batch : loader.epoch(2)) {
    ++batches;
    examples += batch.size();
    const Ids batch_lengths = batch.source_lengths.to_vector<int64_t>();
    // The width is the longest source of the batch; the mask marks exactly the lengths.
    REQUIRE(batch.source.size(1) == *std::max_element(batch_lengths.begin(), batch_lengths.end()));
    const std::vector<bool> mask = bools(batch.source_mask);
    const int64_t width = batch.source.size(1);
    for (int64_t row = 0; row < batch.size(); ++row) {
      const int64_t index = std::stoll(batch.source_texts[static_cast<size_t>(row)]);
      seen.push_back(index);
      REQUIRE(batch_lengths[static_cast<size_t>(row)] == lengths[static_cast<size_t>(index)]);
      for (int64_t col = 0; col < width; ++col) {
        REQUIRE(mask[static_cast<size_t>(row * width + col)] == (col < batch_lengths[static_cast<size_t>(row)]));
      }
    }
  }
  REQUIRE(batches == 15);
  REQUIRE(examples == 300);
  require_each_index_once({seen}, 300);
}
