#include "decode.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "datasets/vocab.h"
#include "translator_limits.h"

namespace translate {

using namespace focus;
using data::Vocab;

std::vector<Translation> greedy_decode(Seq2Seq& model, const Tensor& source, const Tensor& lengths,
                                       const Tensor& mask, int64_t max_length) {
  NoGradGuard no_grad;
  auto [memory, state] = model.encode(source, lengths, mask);
  const int64_t B = source.size(0);
  const std::vector<int64_t> source_lengths = lengths.to_vector<int64_t>();
  std::vector<Translation> result(static_cast<size_t>(B));
  std::vector<int64_t> steps(static_cast<size_t>(B), 0);  // rows of attention each sentence produced
  std::vector<Tensor> attention;                          // per step [B, S]
  std::vector<bool> active(static_cast<size_t>(B), true);
  Tensor ids = full({B}, static_cast<double>(Vocab::kSos), TensorOptions(kInt64).with_device(source.device()));
  int64_t running = B;
  for (int64_t t = 0; t < max_length && running > 0; ++t) {
    StepOutput out = model.decoder->step((*model.decoder->embedding)(ids), state, memory);
    Tensor log_probs = log_softmax(model.decoder->head(out.features), 1);  // [B, V]
    ids = argmax(log_probs, 1);
    // The host decides who has stopped, so the choices come back every step (copies when on a GPU).
    const std::vector<int64_t> next = ids.to_vector<int64_t>();
    const std::vector<float> chosen = gather(log_probs, 1, unsqueeze(ids, 1)).to_vector<float>();
    if (out.attention.defined()) attention.push_back(out.attention);
    for (size_t b = 0; b < static_cast<size_t>(B); ++b) {
      Translation& tr = result[b];
      if (!active[b]) continue;
      tr.log_probability += chosen[b];
      steps[b] = t + 1;
      if (next[b] == Vocab::kEos) {
        tr.ended = true;
        active[b] = false;
        --running;
      } else {
        tr.tokens.push_back(next[b]);
      }
    }
  }
  // [B, steps, S], on the host: translations carry CPU tensors whatever the model's device.
  Tensor all_attention = attention.empty() ? Tensor() : stack(attention, 1).to(kCPU);
  for (int64_t b = 0; b < B; ++b) {
    Translation& tr = result[static_cast<size_t>(b)];
    tr.score = tr.log_probability / std::max<double>(1.0, static_cast<double>(steps[static_cast<size_t>(b)]));
    if (all_attention.defined())
      tr.attention = contiguous(all_attention.select(0, b)
                                    .narrow(0, 0, steps[static_cast<size_t>(b)])
                                    .narrow(1, 0, source_lengths[static_cast<size_t>(b)]));
  }
  return result;
}

namespace {

struct Hypothesis {
  std::vector<int64_t> tokens;
  std::vector<std::vector<float>> attention;  // one row per step
  double log_probability = 0;
};

Translation finish(const Hypothesis& h, bool ended, double alpha, int64_t source_length) {
  Translation tr;
  tr.tokens = h.tokens;
  tr.ended = ended;
  tr.log_probability = h.log_probability;
  const double length = static_cast<double>(h.tokens.size() + (ended ? 1 : 0));
  tr.score = h.log_probability / std::pow(std::max(1.0, length), alpha);
  if (!h.attention.empty()) {
    std::vector<float> flat;
    for (const auto& row : h.attention) flat.insert(flat.end(), row.begin(), row.end());
    tr.attention = from_vector(flat, {static_cast<int64_t>(h.attention.size()), source_length});
  }
  return tr;
}

}  // namespace

std::vector<Translation> beam_search_batch(Seq2Seq& model, const Tensor& source, const Tensor& lengths,
                                           const Tensor& mask, int64_t beam, int64_t max_length, double length_alpha) {
  if (beam < 1 || beam > limits::kMaxBeam)
    throw std::invalid_argument(fmt::format("beam_search: beam must be from 1 to {}, got {}", limits::kMaxBeam, beam));
  NoGradGuard no_grad;
  const int64_t B = source.size(0);
  const Device device = model.device();
  const TensorOptions ids_options = TensorOptions(kInt64).with_device(device);
  const std::vector<int64_t> source_lengths = lengths.to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    if (source_lengths[static_cast<size_t>(b)] < 1)
      throw std::invalid_argument(fmt::format("beam_search: sentence {} of the batch is empty", b));
  auto [memory_all, state] = model.encode(source, lengths, mask);

  // Every sentence keeps its own hypotheses; each step runs the live ones of all sentences as one
  // batch through the decoder (rows grouped by sentence), then ranks each sentence's candidates.
  std::vector<std::vector<Hypothesis>> live(static_cast<size_t>(B), std::vector<Hypothesis>(1));
  std::vector<std::vector<Translation>> finished(static_cast<size_t>(B));
  std::vector<int64_t> sentence_of_row(static_cast<size_t>(B));  // which sentence each decoder row serves
  std::iota(sentence_of_row.begin(), sentence_of_row.end(), 0);
  Memory memory = memory_all;
  const int64_t S = source.size(1);
  for (int64_t t = 0; t < max_length && !sentence_of_row.empty(); ++t) {
    const int64_t k = static_cast<int64_t>(sentence_of_row.size());
    std::vector<int64_t> last;
    last.reserve(static_cast<size_t>(k));
    for (int64_t b = 0; b < B; ++b)
      for (const Hypothesis& h : live[static_cast<size_t>(b)])
        last.push_back(h.tokens.empty() ? Vocab::kSos : h.tokens.back());
    StepOutput out =
        model.decoder->step((*model.decoder->embedding)(from_vector(last, {k}, ids_options)), state, memory);
    const std::vector<float> log_probs = log_softmax(model.decoder->head(out.features), 1).to_vector<float>();
    const std::vector<float> weights = out.attention.defined() ? out.attention.to_vector<float>() : std::vector<float>();
    const int64_t V = static_cast<int64_t>(log_probs.size()) / k;

    std::vector<int64_t> rows, next_sentence_of_row;  // the decoder rows the survivors continue
    int64_t first_row = 0;                            // this sentence's first row in the step's batch
    for (int64_t b = 0; b < B; ++b) {
      std::vector<Hypothesis>& hyps = live[static_cast<size_t>(b)];
      const int64_t n = static_cast<int64_t>(hyps.size()), source_length = source_lengths[static_cast<size_t>(b)];
      if (n == 0) continue;
      // The best continuations of this sentence's live hypotheses; at most `beam` of them can stay live,
      // and every <eos> ranked above the last live one finishes a hypothesis, so 2·beam candidates suffice.
      std::vector<int64_t> order(static_cast<size_t>(n * V));
      std::iota(order.begin(), order.end(), 0);
      auto total = [&](int64_t c) {
        return hyps[static_cast<size_t>(c / V)].log_probability + log_probs[static_cast<size_t>(first_row * V + c)];
      };
      const int64_t keep = std::min<int64_t>(2 * beam, static_cast<int64_t>(order.size()));
      std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int64_t a, int64_t c) {
        const double ta = total(a), tc = total(c);
        return ta != tc ? ta > tc : a < c;  // ties: lower hypothesis, then lower token id (argmax's choice)
      });
      std::vector<Hypothesis> next_live;
      for (int64_t r = 0; r < keep && static_cast<int64_t>(next_live.size()) < beam; ++r) {
        const int64_t c = order[static_cast<size_t>(r)], i = c / V, token = c % V;
        Hypothesis h = hyps[static_cast<size_t>(i)];
        h.log_probability = total(c);
        if (!weights.empty()) {
          const auto row = weights.begin() + (first_row + i) * S;
          h.attention.emplace_back(row, row + source_length);
        }
        if (token == Vocab::kEos) {
          finished[static_cast<size_t>(b)].push_back(finish(h, true, length_alpha, source_length));
        } else {
          h.tokens.push_back(token);
          next_live.push_back(std::move(h));
          rows.push_back(first_row + i);
          next_sentence_of_row.push_back(b);
        }
      }
      first_row += n;
      if (static_cast<int64_t>(finished[static_cast<size_t>(b)].size()) >= beam) {
        // Done: drop its survivors from the next step.
        const size_t survivors = next_live.size();
        rows.resize(rows.size() - survivors);
        next_sentence_of_row.resize(next_sentence_of_row.size() - survivors);
        next_live.clear();
      }
      hyps = std::move(next_live);
    }
    if (next_sentence_of_row.empty()) break;
    const int64_t rows_next = static_cast<int64_t>(rows.size());
    state = state.select_rows(from_vector(rows, {rows_next}, ids_options));
    // The encoder's outputs and keys are gathered again only when the rows serve other sentences
    // (after the first step, usually only when a sentence finishes).
    if (next_sentence_of_row != sentence_of_row)
      memory = memory_all.select_rows(from_vector(next_sentence_of_row, {rows_next}, ids_options));
    sentence_of_row = std::move(next_sentence_of_row);
  }

  std::vector<Translation> result;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<Translation>& done = finished[static_cast<size_t>(b)];
    if (static_cast<int64_t>(done.size()) < beam)
      for (const Hypothesis& h : live[static_cast<size_t>(b)])
        done.push_back(finish(h, false, length_alpha, source_lengths[static_cast<size_t>(b)]));
    result.push_back(*std::max_element(done.begin(), done.end(),
                                       [](const Translation& a, const Translation& c) { return a.score < c.score; }));
  }
  return result;
}

Translation beam_search(Seq2Seq& model, const std::vector<int64_t>& source, int64_t beam, int64_t max_length,
                        double length_alpha) {
  if (source.empty()) throw std::invalid_argument("beam_search: empty source sentence");
  const Device device = model.device();
  const TensorOptions ids_options = TensorOptions(kInt64).with_device(device);
  const int64_t S = static_cast<int64_t>(source.size());
  return beam_search_batch(model, from_vector(source, {1, S}, ids_options),
                           full({1}, static_cast<double>(S), ids_options),
                           ones({1, S}, TensorOptions(kBool).with_device(device)), beam, max_length, length_alpha)
      .front();
}

std::vector<Translation> translate_batch(Seq2Seq& model, const data::SequenceBatch& batch, int64_t beam,
                                         int64_t max_length) {
  if (max_length <= 0) max_length = default_max_length(batch.source.size(1));
  if (beam <= 1) return greedy_decode(model, batch.source, batch.source_lengths, batch.source_mask, max_length);
  return beam_search_batch(model, batch.source, batch.source_lengths, batch.source_mask, beam, max_length);
}

}  // namespace translate
