#include "decode.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "datasets/vocab.h"

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

Translation beam_search(Seq2Seq& model, const std::vector<int64_t>& source, int64_t beam, int64_t max_length,
                        double length_alpha) {
  if (beam < 1) throw std::invalid_argument(fmt::format("beam_search: beam must be at least 1, got {}", beam));
  if (source.empty()) throw std::invalid_argument("beam_search: empty source sentence");
  NoGradGuard no_grad;
  const int64_t S = static_cast<int64_t>(source.size());
  const Device device = model.device();
  const TensorOptions ids_options = TensorOptions(kInt64).with_device(device);
  Tensor source_tensor = from_vector(source, {1, S}, ids_options);
  auto [memory_one, state] = model.encode(source_tensor, full({1}, static_cast<double>(S), ids_options),
                                          ones({1, S}, TensorOptions(kBool).with_device(device)));
  std::vector<Hypothesis> live(1);
  std::vector<Translation> finished;
  Memory memory = memory_one;
  for (int64_t t = 0; t < max_length && !live.empty(); ++t) {
    const int64_t k = static_cast<int64_t>(live.size());
    if (memory.outputs.size(0) != k) memory = memory_one.select_rows(zeros({k}, ids_options));
    std::vector<int64_t> last(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i)
      last[static_cast<size_t>(i)] = live[static_cast<size_t>(i)].tokens.empty() ? Vocab::kSos
                                                                                : live[static_cast<size_t>(i)].tokens.back();
    StepOutput out =
        model.decoder->step((*model.decoder->embedding)(from_vector(last, {k}, ids_options)), state, memory);
    const std::vector<float> log_probs = log_softmax(model.decoder->head(out.features), 1).to_vector<float>();
    const std::vector<float> weights = out.attention.defined() ? out.attention.to_vector<float>() : std::vector<float>();
    const int64_t V = static_cast<int64_t>(log_probs.size()) / k;

    // The best continuations of all live hypotheses; at most `beam` of them can stay live, and
    // every <eos> ranked above the last live one finishes a hypothesis, so 2·beam candidates suffice.
    std::vector<int64_t> order(log_probs.size());
    std::iota(order.begin(), order.end(), 0);
    auto total = [&](int64_t c) { return live[static_cast<size_t>(c / V)].log_probability + log_probs[static_cast<size_t>(c)]; };
    const int64_t keep = std::min<int64_t>(2 * beam, static_cast<int64_t>(order.size()));
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int64_t a, int64_t b) {
      double ta = total(a), tb = total(b);
      return ta != tb ? ta > tb : a < b;  // ties: lower hypothesis, then lower token id (argmax's choice)
    });
    std::vector<Hypothesis> next_live;
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < keep && static_cast<int64_t>(next_live.size()) < beam; ++r) {
      const int64_t c = order[static_cast<size_t>(r)], i = c / V, token = c % V;
      Hypothesis h = live[static_cast<size_t>(i)];
      h.log_probability = total(c);
      if (!weights.empty())
        h.attention.emplace_back(weights.begin() + i * S, weights.begin() + (i + 1) * S);
      if (token == Vocab::kEos) {
        finished.push_back(finish(h, true, length_alpha, S));
      } else {
        h.tokens.push_back(token);
        next_live.push_back(std::move(h));
        rows.push_back(i);
      }
    }
    if (static_cast<int64_t>(finished.size()) >= beam) break;
    live = std::move(next_live);
    state = state.select_rows(from_vector(rows, {static_cast<int64_t>(rows.size())}, ids_options));
  }
  if (static_cast<int64_t>(finished.size()) < beam)
    for (const Hypothesis& h : live) finished.push_back(finish(h, false, length_alpha, S));
  return *std::max_element(finished.begin(), finished.end(),
                           [](const Translation& a, const Translation& b) { return a.score < b.score; });
}

std::vector<Translation> translate_batch(Seq2Seq& model, const data::SequenceBatch& batch, int64_t beam,
                                         int64_t max_length) {
  if (max_length <= 0) max_length = default_max_length(batch.source.size(1));
  if (beam <= 1) return greedy_decode(model, batch.source, batch.source_lengths, batch.source_mask, max_length);
  std::vector<Translation> result;
  const std::vector<int64_t> lengths = batch.source_lengths.to_vector<int64_t>();
  const Tensor source = batch.source.to(kCPU);  // beam_search takes host ids (and moves them to the model)
  for (int64_t b = 0; b < batch.size(); ++b) {
    std::vector<int64_t> row = source.select(0, b).narrow(0, 0, lengths[static_cast<size_t>(b)]).contiguous().to_vector<int64_t>();
    result.push_back(beam_search(model, row, beam, max_length));
  }
  return result;
}

}  // namespace translate
