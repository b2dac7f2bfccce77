#include "datasets/sequence_batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "datasets/transfer.h"
#include "datasets/vocab.h"

namespace focus::data {

SequenceBatch collate_sequences(std::vector<SentencePair>&& examples) {
  if (examples.empty()) throw std::invalid_argument("collate_sequences: empty list of examples");
  const auto batch = static_cast<int64_t>(examples.size());
  int64_t source_width = 0;
  int64_t target_width = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const SentencePair& example = examples[static_cast<size_t>(b)];
    if (example.source.empty()) {
      throw std::invalid_argument(fmt::format("collate_sequences: example {} of {} has an empty source", b, batch));
    }
    source_width = std::max(source_width, static_cast<int64_t>(example.source.size()));
    target_width = std::max(target_width, static_cast<int64_t>(example.target.size()) + 1);
  }

  // Fresh CPU tensors are zero-filled, which is already the padding id.
  static_assert(Vocab::kPad == 0);
  SequenceBatch out;
  out.source = zeros({batch, source_width}, kInt64);
  out.source_lengths = zeros({batch}, kInt64);
  out.source_mask = zeros({batch, source_width}, kBool);
  out.target_input = zeros({batch, target_width}, kInt64);
  out.target_output = zeros({batch, target_width}, kInt64);
  out.target_lengths = zeros({batch}, kInt64);
  out.target_mask = zeros({batch, target_width}, kBool);

  int64_t* source = out.source.data<int64_t>();
  int64_t* source_lengths = out.source_lengths.data<int64_t>();
  bool* source_mask = out.source_mask.data<bool>();
  int64_t* target_input = out.target_input.data<int64_t>();
  int64_t* target_output = out.target_output.data<int64_t>();
  int64_t* target_lengths = out.target_lengths.data<int64_t>();
  bool* target_mask = out.target_mask.data<bool>();

  out.source_texts.reserve(examples.size());
  out.target_texts.reserve(examples.size());
  for (int64_t b = 0; b < batch; ++b) {
    SentencePair& example = examples[static_cast<size_t>(b)];
    const auto source_length = static_cast<int64_t>(example.source.size());
    std::copy(example.source.begin(), example.source.end(), source + b * source_width);
    std::fill_n(source_mask + b * source_width, source_length, true);
    source_lengths[b] = source_length;

    // Teacher forcing: the decoder reads <sos> y1..yn and predicts y1..yn <eos>,
    // so both rows are one longer than the target and shifted by one.
    const auto target_length = static_cast<int64_t>(example.target.size()) + 1;
    int64_t* input_row = target_input + b * target_width;
    int64_t* output_row = target_output + b * target_width;
    input_row[0] = Vocab::kSos;
    std::copy(example.target.begin(), example.target.end(), input_row + 1);
    std::copy(example.target.begin(), example.target.end(), output_row);
    output_row[target_length - 1] = Vocab::kEos;
    std::fill_n(target_mask + b * target_width, target_length, true);
    target_lengths[b] = target_length;

    out.source_texts.push_back(std::move(example.source_text));
    out.target_texts.push_back(std::move(example.target_text));
  }
  return out;
}

namespace {

template <typename T>
void shuffle_in_place(std::vector<T>& items, Generator& generator) {
  for (int64_t i = static_cast<int64_t>(items.size()) - 1; i > 0; --i) {
    std::swap(items[static_cast<size_t>(i)], items[static_cast<size_t>(generator.integer(0, i + 1))]);
  }
}

void check_batch_size(int64_t batch_size, const char* op) {
  if (batch_size < 1) throw std::invalid_argument(fmt::format("{}: batch_size must be >= 1, got {}", op, batch_size));
}

std::vector<std::vector<int64_t>> cut_into_batches(const std::vector<int64_t>& order, size_t begin, size_t end,
                                                   int64_t batch_size) {
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = begin; start < end; start += static_cast<size_t>(batch_size)) {
    const size_t stop = std::min(end, start + static_cast<size_t>(batch_size));
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(stop));
  }
  return batches;
}

}  // namespace

std::vector<std::vector<int64_t>> bucket_batches(const std::vector<int64_t>& lengths, int64_t batch_size,
                                                 uint64_t seed, int64_t epoch, BucketOptions options) {
  check_batch_size(batch_size, "bucket_batches");
  if (options.chunk_batches < 1) {
    throw std::invalid_argument(fmt::format("bucket_batches: chunk_batches must be >= 1, got {}", options.chunk_batches));
  }
  // The same permutation the DataLoader's own shuffle would use.
  std::vector<int64_t> order = epoch_permutation(static_cast<int64_t>(lengths.size()), seed, epoch);

  const size_t chunk = static_cast<size_t>(options.chunk_batches * batch_size);
  std::vector<std::vector<int64_t>> batches;
  for (size_t begin = 0; begin < order.size(); begin += chunk) {
    const size_t end = std::min(order.size(), begin + chunk);
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin), order.begin() + static_cast<std::ptrdiff_t>(end),
                     [&](int64_t a, int64_t b) { return lengths[static_cast<size_t>(a)] < lengths[static_cast<size_t>(b)]; });
    for (auto& batch : cut_into_batches(order, begin, end, batch_size)) batches.push_back(std::move(batch));
  }
  // Only the last chunk can end in a short batch.
  if (options.drop_last && !batches.empty() && static_cast<int64_t>(batches.back().size()) < batch_size) {
    batches.pop_back();
  }
  // Without this, every epoch would walk from short to long within each chunk.
  Generator generator(derive_seed(seed, SeedStream::Shuffle, static_cast<uint64_t>(epoch), /*index=*/1));
  shuffle_in_place(batches, generator);
  return batches;
}

BatchSampler make_bucket_sampler(std::vector<int64_t> lengths, int64_t batch_size, uint64_t seed,
                                 BucketOptions options) {
  check_batch_size(batch_size, "make_bucket_sampler");
  return [lengths = std::move(lengths), batch_size, seed, options](int64_t epoch) {
    return bucket_batches(lengths, batch_size, seed, epoch, options);
  };
}

std::vector<std::vector<int64_t>> random_batches(int64_t count, int64_t batch_size, uint64_t seed, int64_t epoch) {
  check_batch_size(batch_size, "random_batches");
  return chunk_batches(epoch_permutation(count, seed, epoch), batch_size, /*drop_last=*/false);
}

double padding_fraction(const std::vector<std::vector<int64_t>>& batches, const std::vector<int64_t>& lengths) {
  int64_t cells = 0;
  int64_t real = 0;
  for (const auto& batch : batches) {
    int64_t longest = 0;
    for (int64_t index : batch) {
      const int64_t length = lengths.at(static_cast<size_t>(index));
      longest = std::max(longest, length);
      real += length;
    }
    cells += longest * static_cast<int64_t>(batch.size());
  }
  return cells == 0 ? 0.0 : static_cast<double>(cells - real) / static_cast<double>(cells);
}

SequenceBatch to_device(SequenceBatch&& batch, Device device) {
  for (Tensor* t : {&batch.source, &batch.source_mask, &batch.target_input, &batch.target_output, &batch.target_mask})
    *t = transfer(*t, device);
  return std::move(batch);
}

}  // namespace focus::data
