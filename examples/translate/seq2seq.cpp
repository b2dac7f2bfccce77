#include "seq2seq.h"

#include <fmt/format.h>

#include <set>
#include <stdexcept>

#include "autograd/ops.h"
#include "nn/functional/attention.h"
#include "nn/functional/dropout.h"
#include "nn/functional/loss.h"
#include "nn/layers/attention_context.h"
#include "datasets/vocab.h"
#include "metadata_fields.h"
#include "translator_limits.h"

namespace translate {

using namespace focus;
namespace F = focus::nn::functional;

AttentionKind parse_attention(const std::string& name) {
  if (name == "bahdanau") return AttentionKind::Bahdanau;
  if (name == "luong-dot") return AttentionKind::LuongDot;
  if (name == "luong-general") return AttentionKind::LuongGeneral;
  if (name == "scaled-dot") return AttentionKind::ScaledDot;
  if (name == "none") return AttentionKind::None;
  throw std::invalid_argument(
      fmt::format("unknown attention '{}': expected bahdanau, luong-dot, luong-general, scaled-dot or none", name));
}

std::string attention_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::Bahdanau: return "bahdanau";
    case AttentionKind::LuongDot: return "luong-dot";
    case AttentionKind::LuongGeneral: return "luong-general";
    case AttentionKind::ScaledDot: return "scaled-dot";
    case AttentionKind::None: return "none";
  }
  return "none";
}

CellKind parse_cell(const std::string& name) {
  if (name == "lstm") return CellKind::LSTM;
  if (name == "gru") return CellKind::GRU;
  throw std::invalid_argument(fmt::format("unknown cell '{}': expected lstm or gru", name));
}

std::string cell_name(CellKind kind) { return kind == CellKind::GRU ? "gru" : "lstm"; }

namespace {

// Luong's family: the new state queries, and h̃ = tanh(W_c [context; h]) feeds the next step.
bool attends_after_the_cell(AttentionKind kind) {
  return kind == AttentionKind::LuongDot || kind == AttentionKind::LuongGeneral || kind == AttentionKind::ScaledDot;
}

}  // namespace

std::map<std::string, std::string> Seq2SeqConfig::to_metadata() const {
  return {{"model.source_vocab", std::to_string(source_vocab)},
          {"model.target_vocab", std::to_string(target_vocab)},
          {"model.embed", std::to_string(embed)},
          {"model.hidden", std::to_string(hidden)},
          {"model.layers", std::to_string(layers)},
          {"model.bidirectional", bidirectional ? "1" : "0"},
          {"model.dropout", fmt::format("{}", dropout)},
          {"model.attention", attention_name(attention)},
          {"model.cell", cell_name(cell)}};
}

Seq2SeqConfig Seq2SeqConfig::from_metadata(const std::map<std::string, std::string>& metadata) {
  const MetadataFields fields(metadata);
  Seq2SeqConfig config;
  const int64_t smallest_vocab = data::Vocab::kNumSpecial + 1;  // the specials and one real token
  config.source_vocab = fields.integer("model.source_vocab", smallest_vocab, limits::kMaxVocab);
  config.target_vocab = fields.integer("model.target_vocab", smallest_vocab, limits::kMaxVocab);
  config.embed = fields.integer("model.embed", 1, limits::kMaxWidth);
  config.hidden = fields.integer("model.hidden", 1, limits::kMaxWidth);
  config.layers = fields.integer("model.layers", 1, limits::kMaxLayers);
  config.bidirectional = fields.flag("model.bidirectional");
  config.dropout = fields.number_below("model.dropout", 0.0, 1.0);
  config.attention = parse_attention(
      fields.choice("model.attention", {"bahdanau", "luong-dot", "luong-general", "scaled-dot", "none"}));
  // Checkpoints from before the GRU have no "model.cell": they hold LSTMs.
  config.cell = fields.has("model.cell") ? parse_cell(fields.choice("model.cell", {"lstm", "gru"})) : CellKind::LSTM;
  config.validate();
  return config;
}

void Seq2SeqConfig::validate() const {
  if (source_vocab <= data::Vocab::kNumSpecial || target_vocab <= data::Vocab::kNumSpecial || embed <= 0 ||
      hidden <= 0 || layers <= 0)
    throw std::invalid_argument(fmt::format("Seq2Seq: sizes must be positive ({})", describe()));
  if (source_vocab > limits::kMaxVocab || target_vocab > limits::kMaxVocab || embed > limits::kMaxWidth ||
      hidden > limits::kMaxWidth || layers > limits::kMaxLayers)
    throw std::invalid_argument(fmt::format(
        "Seq2Seq: sizes beyond the translator's limits ({}): vocabularies at most {}, embed and hidden at most {}, "
        "layers at most {}",
        describe(), limits::kMaxVocab, limits::kMaxWidth, limits::kMaxLayers));
  if (bidirectional && hidden % 2 != 0)
    throw std::invalid_argument(
        fmt::format("Seq2Seq: a bidirectional encoder splits hidden={} between two directions: it must be even", hidden));
  if (!(dropout >= 0 && dropout < 1))
    throw std::invalid_argument(fmt::format("Seq2Seq: dropout {} not in [0, 1)", dropout));
  // Within the limits above no product overflows: the largest tensor has 10^7 · 65,536 elements.
  int64_t parameters = 0;
  for (const auto& [name, shape] : parameter_shapes()) parameters += shape_numel(shape);
  if (parameters > limits::kMaxParameters)
    throw std::invalid_argument(fmt::format("Seq2Seq: {} parameters, more than the {} the translator builds ({})",
                                            parameters, limits::kMaxParameters, describe()));
}

std::string Seq2SeqConfig::describe() const {
  return fmt::format("source_vocab={}, target_vocab={}, embed={}, hidden={}, layers={}, bidirectional={}, cell={}, "
                     "attention={}",
                     source_vocab, target_vocab, embed, hidden, layers, bidirectional ? 1 : 0, cell_name(cell),
                     attention_name(attention));
}

std::vector<std::pair<std::string, Shape>> Seq2SeqConfig::parameter_shapes() const {
  // What the constructors below register (and the layers under them: nn::LSTM / nn::GRU name their
  // weights as PyTorch does, "weight_ih_l1_reverse"), in registration order.
  std::vector<std::pair<std::string, Shape>> shapes;
  auto add = [&](std::string name, Shape shape) { shapes.emplace_back(std::move(name), std::move(shape)); };
  const int64_t gates = cell == CellKind::GRU ? 3 : 4, H = hidden;
  const int64_t directions = bidirectional ? 2 : 1, per_direction = H / directions;
  const std::string rnn = cell == CellKind::GRU ? "encoder.gru." : "encoder.lstm.";
  add("encoder.embedding.weight", {source_vocab, embed});
  for (int64_t l = 0; l < layers; ++l)
    for (int64_t d = 0; d < directions; ++d) {
      const std::string suffix = fmt::format("_l{}{}", l, d == 1 ? "_reverse" : "");
      add(rnn + "weight_ih" + suffix, {gates * per_direction, l == 0 ? embed : directions * per_direction});
      add(rnn + "weight_hh" + suffix, {gates * per_direction, per_direction});
      add(rnn + "bias_ih" + suffix, {gates * per_direction});
      add(rnn + "bias_hh" + suffix, {gates * per_direction});
    }
  add("decoder.embedding.weight", {target_vocab, embed});
  const int64_t first_input = embed + (attention == AttentionKind::None ? 0 : H);
  for (int64_t l = 0; l < layers; ++l) {
    const std::string prefix = fmt::format("decoder.cell{}.", l);
    add(prefix + "weight_ih", {gates * H, l == 0 ? first_input : H});
    add(prefix + "weight_hh", {gates * H, H});
    add(prefix + "bias_ih", {gates * H});
    add(prefix + "bias_hh", {gates * H});
  }
  if (attention == AttentionKind::Bahdanau) {
    add("decoder.attention.v", {H});
    add("decoder.attention.query_proj.weight", {H, H});
    add("decoder.attention.key_proj.weight", {H, H});
    add("decoder.attention.key_proj.bias", {H});
  }
  if (attention == AttentionKind::LuongGeneral) add("decoder.attention.linear.weight", {H, H});
  if (attention != AttentionKind::None) {
    add("decoder.combine.weight", {H, 2 * H});
    add("decoder.combine.bias", {H});
  }
  add("decoder.out.weight", {target_vocab, H});
  add("decoder.out.bias", {target_vocab});
  return shapes;
}

void Seq2SeqConfig::check_parameter_shapes(const std::map<std::string, Shape>& tensors) const {
  const std::vector<std::pair<std::string, Shape>> expected = parameter_shapes();
  std::vector<std::string> problems;
  for (const auto& [name, shape] : expected) {
    auto it = tensors.find(name);
    if (it == tensors.end())
      problems.push_back(fmt::format("the weights have no tensor {}, which the metadata implies ({})", name,
                                     shape_str(shape)));
    else if (it->second != shape)
      problems.push_back(fmt::format("tensor {} has shape {}, the metadata implies {}", name, shape_str(it->second),
                                     shape_str(shape)));
  }
  std::set<std::string> known;
  for (const auto& [name, shape] : expected) known.insert(name);
  for (const auto& [name, shape] : tensors)
    if (!known.count(name))
      problems.push_back(fmt::format("the weights have a tensor {} that the metadata does not imply", quoted(name)));
  if (problems.empty()) return;
  const std::string more = problems.size() > 1 ? fmt::format(" (and {} more differences)", problems.size() - 1) : "";
  throw std::invalid_argument(
      fmt::format("metadata ({}) does not match the weights: {}{}", describe(), problems.front(), more));
}

Memory Memory::select_rows(const Tensor& index) const {
  return {index_select(outputs, 0, index), keys.defined() ? index_select(keys, 0, index) : Tensor(),
          index_select(mask, 0, index)};
}

DecoderState DecoderState::select_rows(const Tensor& index) const {
  DecoderState result;
  for (size_t l = 0; l < h.size(); ++l) {
    result.h.push_back(index_select(h[l], 0, index));
    if (l < c.size()) result.c.push_back(index_select(c[l], 0, index));
  }
  if (feed.defined()) result.feed = index_select(feed, 0, index);
  return result;
}

// ---- encoder -------------------------------------------------------------------------------------------

Encoder::Encoder(const Seq2SeqConfig& config) : config_(config) {
  config.validate();
  const int64_t directions = config.bidirectional ? 2 : 1;
  const auto embedding_options = nn::EmbeddingOptions(config.source_vocab, config.embed).padding_idx(data::Vocab::kPad);
  embedding = register_module("embedding", std::make_shared<nn::Embedding>(embedding_options));
  const int64_t H = config.hidden / directions;
  if (config.cell == CellKind::GRU)
    gru = register_module("gru", std::make_shared<nn::GRU>(nn::GRUOptions(config.embed, H)
                                                               .num_layers(config.layers)
                                                               .batch_first(true)
                                                               .bidirectional(config.bidirectional)
                                                               .dropout(config.dropout)));
  else
    lstm = register_module("lstm", std::make_shared<nn::LSTM>(nn::LSTMOptions(config.embed, H)
                                                                  .num_layers(config.layers)
                                                                  .batch_first(true)
                                                                  .bidirectional(config.bidirectional)
                                                                  .dropout(config.dropout)));
}

Encoder::Output Encoder::forward(const Tensor& source, const Tensor& lengths) {
  Tensor embedded = F::dropout((*embedding)(source), config_.dropout, is_training());
  Tensor outputs, h_n, c_n;
  if (gru) {
    auto encoded = (*gru)(embedded, {}, lengths);
    outputs = encoded.output;
    h_n = encoded.h_n;
  } else {
    auto encoded = (*lstm)(embedded, std::nullopt, lengths);
    outputs = encoded.output;
    h_n = encoded.h_n;
    c_n = encoded.c_n;
  }
  if (config_.bidirectional) {
    // [L·2, B, H/2], forward before reverse per layer → [L, B, H]: [h_fwd; h_rev] per sentence.
    auto join = [&](const Tensor& states) {
      const int64_t B = states.size(1), half = states.size(2);
      return reshape(permute(reshape(states, {config_.layers, 2, B, half}), {0, 2, 1, 3}),
                     {config_.layers, B, 2 * half});
    };
    h_n = join(h_n);
    if (c_n.defined()) c_n = join(c_n);
  }
  return {outputs, h_n, c_n};
}

// ---- decoder -------------------------------------------------------------------------------------------

Decoder::Decoder(const Seq2SeqConfig& config) : config_(config) {
  config.validate();
  const int64_t H = config.hidden;
  const auto embedding_options = nn::EmbeddingOptions(config.target_vocab, config.embed).padding_idx(data::Vocab::kPad);
  embedding = register_module("embedding", std::make_shared<nn::Embedding>(embedding_options));
  // Bahdanau feeds the context into the LSTM; Luong feeds the previous attentional state.
  const int64_t first_input = config.embed + (config.attention == AttentionKind::None ? 0 : H);
  for (int64_t l = 0; l < config.layers; ++l) {
    const std::string name = fmt::format("cell{}", l);
    if (config.cell == CellKind::GRU)
      gru_cells.push_back(register_module(name, std::make_shared<nn::GRUCell>(l == 0 ? first_input : H, H)));
    else
      cells.push_back(register_module(name, std::make_shared<nn::LSTMCell>(l == 0 ? first_input : H, H)));
  }
  if (config.attention == AttentionKind::Bahdanau)
    additive = register_module("attention", std::make_shared<nn::AdditiveAttention>(H, H, H));
  if (config.attention == AttentionKind::LuongGeneral)
    luong = register_module("attention", std::make_shared<nn::LuongAttention>(H, H, nn::LuongScore::General));
  if (config.attention != AttentionKind::None)
    combine = register_module("combine", std::make_shared<nn::Linear>(2 * H, H));
  out = register_module("out", std::make_shared<nn::Linear>(H, config.target_vocab));
}

Memory Decoder::prepare(const Encoder::Output& encoded, const Tensor& mask) {
  Memory memory{encoded.outputs, Tensor(), mask};
  switch (config_.attention) {
    case AttentionKind::Bahdanau: memory.keys = additive->project_keys(encoded.outputs); break;
    // score(h, k) = hᵀ W k = hᵀ (W k): project the keys once, transposed for the per-step [B,1,H]·[B,H,S].
    case AttentionKind::LuongGeneral: memory.keys = transpose((*luong->linear)(encoded.outputs), 1, 2); break;
    case AttentionKind::LuongDot: memory.keys = transpose(encoded.outputs, 1, 2); break;
    // The fused attention op takes the keys as they are, [B, S, H].
    case AttentionKind::ScaledDot: memory.keys = encoded.outputs; break;
    case AttentionKind::None: break;
  }
  return memory;
}

DecoderState Decoder::initial_state(const Encoder::Output& encoded) const {
  DecoderState state;
  for (int64_t l = 0; l < config_.layers; ++l) {
    state.h.push_back(select(encoded.h_n, 0, l));
    if (encoded.c_n.defined()) state.c.push_back(select(encoded.c_n, 0, l));
  }
  if (attends_after_the_cell(config_.attention))
    state.feed = zeros({encoded.h_n.size(1), config_.hidden},
                       TensorOptions(encoded.h_n.dtype()).with_device(encoded.h_n.device()));
  return state;
}

StepOutput Decoder::step(const Tensor& embedded, DecoderState& state, const Memory& memory) {
  auto run_cells = [&](Tensor x) {
    const size_t layers = state.h.size();
    for (size_t l = 0; l < layers; ++l) {
      if (config_.cell == CellKind::GRU) {
        state.h[l] = (*gru_cells[l])(x, state.h[l]);
      } else {
        auto [h, c] = (*cells[l])(x, std::make_pair(state.h[l], state.c[l]));
        state.h[l] = h;
        state.c[l] = c;
      }
      x = l + 1 < layers ? F::dropout(state.h[l], config_.dropout, is_training()) : state.h[l];
    }
    return x;
  };
  switch (config_.attention) {
    case AttentionKind::Bahdanau: {
      // The previous state asks where to look; the context joins the input of this step.
      nn::AttentionContext att =
          additive->forward_projected(state.h.back(), memory.keys, memory.outputs, memory.mask);
      Tensor h = run_cells(cat({embedded, att.context}, 1));
      return {cat({h, att.context}, 1), att.weights};
    }
    case AttentionKind::LuongDot:
    case AttentionKind::LuongGeneral:
    case AttentionKind::ScaledDot: {
      // The new state asks; h̃ = tanh(W_c [context; h]) is both the output and the next step's extra input.
      Tensor h = run_cells(cat({embedded, state.feed}, 1));
      nn::AttentionContext att;
      if (config_.attention == AttentionKind::ScaledDot) {
        // softmax(h·kᵀ/√H)·V by the library's fused op; its bool mask is true where the query may look.
        auto [context, weights] = F::scaled_dot_product_attention(unsqueeze(h, 1), memory.keys, memory.outputs,
                                                                  unsqueeze(memory.mask, 1));  // [B, 1, ·]
        att = {squeeze(context, 1), squeeze(weights, 1)};
      } else {
        Tensor scores = matmul(unsqueeze(h, 1), memory.keys);  // [B, 1, H]·[B, H, S] → [B, 1, S]
        att = nn::attend(scores, memory.outputs, memory.mask, /*one_step=*/true);
      }
      Tensor attentional = tanh((*combine)(cat({att.context, h}, 1)));
      state.feed = attentional;
      return {attentional, att.weights};
    }
    case AttentionKind::None: return {run_cells(embedded), Tensor()};
  }
  throw std::logic_error("Decoder::step: unknown attention kind");
}

Tensor Decoder::head(const Tensor& features) {
  Tensor x = features;
  // Bahdanau's features are [h; context]: the same tanh(W_c ·) Luong applies per step, here
  // once over all steps.
  if (config_.attention == AttentionKind::Bahdanau) x = tanh((*combine)(x));
  return (*out)(F::dropout(x, config_.dropout, is_training()));
}

// ---- the whole model -------------------------------------------------------------------------------------

Seq2Seq::Seq2Seq(const Seq2SeqConfig& config) : config_(config) {
  encoder = register_module("encoder", std::make_shared<Encoder>(config));
  decoder = register_module("decoder", std::make_shared<Decoder>(config));
}

std::pair<Memory, DecoderState> Seq2Seq::encode(const Tensor& source, const Tensor& lengths, const Tensor& mask) {
  Encoder::Output encoded = encoder->forward(source, lengths);
  return {decoder->prepare(encoded, mask), decoder->initial_state(encoded)};
}

Tensor Seq2Seq::forward(const data::SequenceBatch& batch, double teacher_forcing, Generator* generator) {
  auto [memory, state] = encode(batch.source, batch.source_lengths, batch.source_mask);
  const int64_t T = batch.target_input.size(1);
  if (teacher_forcing >= 1.0) {
    // Embed all steps at once, time-major so each step is a contiguous slice; one output GEMM at the end.
    Tensor embedded = F::dropout((*decoder->embedding)(contiguous(transpose(batch.target_input, 0, 1))),
                                 config_.dropout, is_training());
    std::vector<Tensor> inputs = split(embedded, 1, 0);
    std::vector<Tensor> features;
    features.reserve(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) features.push_back(decoder->step(squeeze(inputs[t], 0), state, memory).features);
    return decoder->head(stack(features, 1));
  }
  // Scheduled sampling: each step needs the previous step's prediction, so logits are made step by step.
  Generator& gen = generator ? *generator : default_generator();
  std::vector<Tensor> logits;
  Tensor predicted;
  for (int64_t t = 0; t < T; ++t) {
    bool teacher = t == 0 || rand({1}, {}, &gen).item<double>() < teacher_forcing;
    Tensor ids = teacher ? contiguous(select(batch.target_input, 1, t)) : predicted;
    Tensor embedded = F::dropout((*decoder->embedding)(ids), config_.dropout, is_training());
    Tensor step_logits = decoder->head(decoder->step(embedded, state, memory).features);
    predicted = argmax(step_logits.detach(), 1);
    logits.push_back(step_logits);
  }
  return stack(logits, 1);
}

Tensor sequence_loss(const Tensor& logits, const Tensor& targets) {
  const int64_t N = logits.size(0) * logits.size(1), V = logits.size(2);
  return F::cross_entropy(reshape(logits, {N, V}), reshape(targets, {N}),
                          F::CrossEntropyOptions().ignore_index(data::Vocab::kPad));
}

}  // namespace translate
