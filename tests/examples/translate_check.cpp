// The translator example: its model learns (a tiny reversal task) with LSTM or GRU cells and each
// kind of attention, beam search with one beam is greedy decoding, padding does not change a
// sentence's encoding or decoding, checkpoints reload and translate identically (the cell and the
// attention come back from the metadata), and the program reports bad input clearly: crafted
// checkpoint metadata is refused before anything is built, and no input line makes a huge picture.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>

#include "../datasets/temp_directory.h"
#include "../run_command.h"
#include "corpus.h"
#include "decode.h"
#include "focus.h"
#include "metadata_fields.h"
#include "nn/serialize.h"
#include "report.h"
#include "seq2seq.h"
#include "training.h"
#include "translator_limits.h"

using namespace focus;
using namespace translate;
using Catch::Contains;

namespace {

// Symbols "a".."j" are ids 4..13 after the four specials.
data::Vocab letters() { return data::Vocab::from_tokens({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}); }

// Random sequences of 3..6 symbols; the target is the source reversed (or copied).
std::vector<data::SentencePair> sequence_task(int64_t count, uint64_t seed, bool reverse) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> length(3, 6), symbol(4, 13);
  std::vector<data::SentencePair> pairs;
  for (int64_t i = 0; i < count; ++i) {
    data::SentencePair p;
    for (int64_t n = length(rng); n > 0; --n) p.source.push_back(symbol(rng));
    p.target = p.source;
    if (reverse) std::reverse(p.target.begin(), p.target.end());
    pairs.push_back(p);
  }
  return pairs;
}

data::SequenceBatch batch_of(const std::vector<data::SentencePair>& pairs, size_t begin, size_t end) {
  return data::collate_sequences(std::vector<data::SentencePair>(pairs.begin() + static_cast<long>(begin),
                                                                 pairs.begin() + static_cast<long>(end)));
}

Seq2SeqConfig tiny_config(AttentionKind attention, bool bidirectional = false, int64_t layers = 1,
                          CellKind cell = CellKind::LSTM) {
  Seq2SeqConfig c;
  c.cell = cell;
  c.source_vocab = c.target_vocab = 14;
  c.embed = 16;
  c.hidden = 32;
  c.layers = layers;
  c.bidirectional = bidirectional;
  c.attention = attention;
  return c;
}

// Trains on the reversal task and returns the greedy token accuracy on unseen sequences.
struct ReversalResult {
  double first_loss = 0, last_loss = 0, token_accuracy = 0, exact = 0;
};
ReversalResult train_reversal(Seq2Seq& model, int64_t steps) {
  std::vector<data::SentencePair> train = sequence_task(steps * 32, 1, true);
  optim::AdamOptions o;
  o.lr = 0.01;
  optim::Adam adam(optim::groups_of(model), o);
  ReversalResult r;
  model.train();
  for (int64_t s = 0; s < steps; ++s) {
    double loss = train_step(model, adam, batch_of(train, static_cast<size_t>(s * 32), static_cast<size_t>((s + 1) * 32)),
                             1.0, 1.0);
    if (s == 0) r.first_loss = loss;
    r.last_loss = loss;
  }
  model.eval();
  std::vector<data::SentencePair> test = sequence_task(200, 2, true);
  data::SequenceBatch batch = batch_of(test, 0, test.size());
  std::vector<Translation> out = translate_batch(model, batch, 1);
  int64_t correct = 0, total = 0, exact = 0;
  for (size_t i = 0; i < test.size(); ++i) {
    for (size_t k = 0; k < test[i].target.size(); ++k)
      correct += k < out[i].tokens.size() && out[i].tokens[k] == test[i].target[k];
    total += static_cast<int64_t>(test[i].target.size());
    exact += out[i].tokens == test[i].target;
  }
  r.token_accuracy = static_cast<double>(correct) / static_cast<double>(total);
  r.exact = static_cast<double>(exact) / static_cast<double>(test.size());
  return r;
}

std::string run(const std::string& command, int* status = nullptr) {
  const testing::CommandResult result = testing::run_command(command + " 2>&1");
  if (status) *status = result.status;
  return result.output;
}

double max_abs_difference(const Tensor& a, const Tensor& b) { return amax(abs(a - b)).item<double>(); }

using testing::read_file;
using testing::write_file;

}  // namespace

TEST_CASE("translate: a tiny attention model learns to reverse sequences", "[translate]") {
  manual_seed(0);
  Seq2Seq model(tiny_config(AttentionKind::Bahdanau));
  ReversalResult r = train_reversal(model, 250);
  INFO("loss " << r.first_loss << " -> " << r.last_loss << ", token accuracy " << r.token_accuracy << ", exact "
               << r.exact);
  CHECK(r.last_loss < 0.1 * r.first_loss);
  CHECK(r.token_accuracy >= 0.95);
  CHECK(r.exact >= 0.8);

  // Beam search finds the same reversals (its first choice is the greedy one for a confident model).
  std::vector<data::SentencePair> test = sequence_task(20, 3, true);
  int64_t exact = 0;
  for (const auto& p : test) exact += beam_search(model, p.source, 3, 12).tokens == p.target;
  CHECK(exact >= 16);
}

TEST_CASE("translate: Luong attention also learns the reversal", "[translate]") {
  manual_seed(0);
  Seq2Seq model(tiny_config(AttentionKind::LuongGeneral));
  ReversalResult r = train_reversal(model, 250);
  INFO("loss " << r.first_loss << " -> " << r.last_loss << ", token accuracy " << r.token_accuracy);
  CHECK(r.token_accuracy >= 0.95);
}

TEST_CASE("translate: a GRU encoder-decoder learns the reversal", "[translate]") {
  manual_seed(0);
  Seq2Seq model(tiny_config(AttentionKind::Bahdanau, false, 1, CellKind::GRU));
  REQUIRE(model.encoder->gru);
  REQUIRE_FALSE(model.encoder->lstm);
  REQUIRE(model.decoder->gru_cells.size() == 1);
  ReversalResult r = train_reversal(model, 250);
  INFO("loss " << r.first_loss << " -> " << r.last_loss << ", token accuracy " << r.token_accuracy << ", exact "
               << r.exact);
  CHECK(r.last_loss < 0.1 * r.first_loss);
  CHECK(r.token_accuracy >= 0.95);
  CHECK(r.exact >= 0.8);
}

TEST_CASE("translate: scaled dot-product attention learns the reversal, with LSTM and GRU cells", "[translate]") {
  for (CellKind cell : {CellKind::LSTM, CellKind::GRU}) {
    manual_seed(0);
    Seq2Seq model(tiny_config(AttentionKind::ScaledDot, false, 1, cell));
    // A little longer than the other kinds: at 250 steps the GRU is near 92% of the tokens, still climbing.
    ReversalResult r = train_reversal(model, 400);
    INFO(cell_name(cell) << ": loss " << r.first_loss << " -> " << r.last_loss << ", token accuracy "
                         << r.token_accuracy << ", exact " << r.exact);
    CHECK(r.last_loss < 0.1 * r.first_loss);
    CHECK(r.token_accuracy >= 0.95);
    CHECK(r.exact >= 0.8);
  }
}

TEST_CASE("translate: scaled-dot attention scores h.k/sqrt(H) of the new state", "[translate]") {
  // One decoder step by hand: the weights are softmax(h·kᵀ/√H) over the real source positions.
  manual_seed(2);
  Seq2Seq model(tiny_config(AttentionKind::ScaledDot, true, 1, CellKind::GRU));
  model.eval();
  NoGradGuard no_grad;
  data::SequenceBatch batch = data::collate_sequences({{{4, 5, 6, 7, 8}, {9}, "", ""}, {{5, 6}, {9}, "", ""}});
  auto [memory, state] = model.encode(batch.source, batch.source_lengths, batch.source_mask);
  CHECK(state.c.empty());
  Tensor embedded = (*model.decoder->embedding)(from_vector(std::vector<int64_t>{1, 1}, {2}));
  DecoderState before = state;
  StepOutput out = model.decoder->step(embedded, state, memory);
  Tensor h = (*model.decoder->gru_cells[0])(cat({embedded, before.feed}, 1), before.h[0]);
  Tensor scores = squeeze(matmul(memory.outputs, unsqueeze(h, 2)), 2) / std::sqrt(32.0);  // [B, S]
  Tensor expected = softmax(masked_fill(scores, logical_not(memory.mask), -INFINITY), 1);
  CHECK(max_abs_difference(out.attention, expected) < 1e-6);
  CHECK(out.attention.at({1, 2}) == 0.0);  // padding gets no weight
}

TEST_CASE("translate: beam search with one beam equals greedy decoding", "[translate]") {
  for (auto [kind, cell] : {std::pair{AttentionKind::Bahdanau, CellKind::LSTM}, {AttentionKind::LuongDot, CellKind::LSTM},
                            {AttentionKind::None, CellKind::LSTM}, {AttentionKind::ScaledDot, CellKind::GRU},
                            {AttentionKind::None, CellKind::GRU}}) {
    manual_seed(7);
    Seq2Seq model(tiny_config(kind, /*bidirectional=*/true, /*layers=*/2, cell));
    model.eval();
    std::vector<data::SentencePair> pairs = sequence_task(12, 4, false);
    data::SequenceBatch batch = batch_of(pairs, 0, pairs.size());
    std::vector<Translation> greedy = greedy_decode(model, batch.source, batch.source_lengths, batch.source_mask, 9);
    for (size_t i = 0; i < pairs.size(); ++i) {
      Translation beam = beam_search(model, pairs[i].source, 1, 9);
      INFO("attention " << attention_name(kind) << ", " << cell_name(cell) << ", sentence " << i);
      CHECK(beam.tokens == greedy[i].tokens);
      CHECK(beam.ended == greedy[i].ended);
      CHECK(beam.log_probability == Approx(greedy[i].log_probability).margin(1e-4));
      if (kind != AttentionKind::None) {
        REQUIRE(beam.attention.defined());
        CHECK(beam.attention.shape() == greedy[i].attention.shape());
        CHECK(max_abs_difference(beam.attention, greedy[i].attention) < 1e-5);
      }
    }
  }
}

TEST_CASE("translate: batched beam search gives each sentence's own beam search", "[translate]") {
  for (auto [kind, cell] : {std::pair{AttentionKind::Bahdanau, CellKind::LSTM},
                            {AttentionKind::LuongGeneral, CellKind::LSTM}, {AttentionKind::None, CellKind::LSTM},
                            {AttentionKind::Bahdanau, CellKind::GRU}, {AttentionKind::ScaledDot, CellKind::LSTM}}) {
    manual_seed(11);
    Seq2Seq model(tiny_config(kind, /*bidirectional=*/true, /*layers=*/2, cell));
    model.eval();
    // Sentences of different lengths, so the batch is padded and they finish at different steps.
    std::vector<data::SentencePair> pairs = sequence_task(10, 5, false);
    data::SequenceBatch batch = batch_of(pairs, 0, pairs.size());
    for (int64_t beam : {1, 3}) {
      const std::vector<Translation> batched = translate_batch(model, batch, beam, 9);
      REQUIRE(batched.size() == pairs.size());
      for (size_t i = 0; i < pairs.size(); ++i) {
        const Translation alone = beam_search(model, pairs[i].source, beam, 9);
        INFO("attention " << attention_name(kind) << ", " << cell_name(cell) << ", beam " << beam << ", sentence "
                          << i);
        CHECK(batched[i].tokens == alone.tokens);
        CHECK(batched[i].ended == alone.ended);
        CHECK(batched[i].log_probability == Approx(alone.log_probability).margin(1e-4));
        CHECK(batched[i].score == Approx(alone.score).margin(1e-4));
        if (kind != AttentionKind::None) {
          REQUIRE(batched[i].attention.defined());
          CHECK(batched[i].attention.shape() == alone.attention.shape());
          CHECK(max_abs_difference(batched[i].attention, alone.attention) < 1e-5);
        }
      }
    }
  }
}

TEST_CASE("translate: padding does not change a sentence's encoding or decoding", "[translate]") {
  for (bool bidirectional : {false, true})
    for (CellKind cell : {CellKind::LSTM, CellKind::GRU})
      for (AttentionKind kind : {AttentionKind::Bahdanau, AttentionKind::LuongDot, AttentionKind::LuongGeneral,
                                 AttentionKind::ScaledDot, AttentionKind::None}) {
        manual_seed(3);
        Seq2Seq model(tiny_config(kind, bidirectional, 2, cell));
        model.eval();
        NoGradGuard no_grad;
        data::SentencePair short_pair{{5, 6, 7}, {8, 9}, "", ""};
        data::SentencePair long_pair{{4, 5, 6, 7, 8, 9, 10, 11}, {4, 5, 6, 7, 8, 9}, "", ""};
        data::SequenceBatch alone = data::collate_sequences({short_pair});
        data::SequenceBatch padded = data::collate_sequences({long_pair, short_pair});
        INFO("attention " << attention_name(kind) << ", " << cell_name(cell) << (bidirectional ? ", bidirectional" : ""));

        Encoder::Output a = model.encoder->forward(alone.source, alone.source_lengths);
        Encoder::Output b = model.encoder->forward(padded.source, padded.source_lengths);
        Tensor outputs_padded = b.outputs.select(0, 1);  // [8, H]
        CHECK(max_abs_difference(a.outputs.select(0, 0), outputs_padded.narrow(0, 0, 3)) < 1e-6);
        CHECK(amax(abs(outputs_padded.narrow(0, 3, 5))).item<double>() == 0.0);  // padded steps output zero
        CHECK(max_abs_difference(a.h_n.select(1, 0), b.h_n.select(1, 1)) < 1e-6);
        CHECK(a.c_n.defined() == (cell == CellKind::LSTM));
        if (cell == CellKind::LSTM) CHECK(max_abs_difference(a.c_n.select(1, 0), b.c_n.select(1, 1)) < 1e-6);

        // The teacher-forced logits of the short sentence, alone and as row 1 of the padded batch.
        Tensor logits_alone = model.forward(alone).select(0, 0);                 // [3, V]
        Tensor logits_padded = model.forward(padded).select(0, 1).narrow(0, 0, 3);
        CHECK(max_abs_difference(logits_alone, logits_padded) < 1e-5);

        // And greedy decoding gives the same sentence.
        std::vector<Translation> one = greedy_decode(model, alone.source, alone.source_lengths, alone.source_mask, 6);
        std::vector<Translation> two = greedy_decode(model, padded.source, padded.source_lengths, padded.source_mask, 6);
        CHECK(one[0].tokens == two[1].tokens);
      }
}

TEST_CASE("translate: the masked loss ignores padding", "[translate]") {
  manual_seed(5);
  Seq2Seq model(tiny_config(AttentionKind::Bahdanau));
  model.eval();
  data::SentencePair p{{5, 6, 7}, {8, 9}, "", ""};
  data::SentencePair q{{4, 5, 6, 7, 8}, {4, 5, 6, 7, 8, 9, 10}, "", ""};
  // p's loss alone equals its share of a padded batch: summing per-token losses, pad positions add nothing.
  double alone = sequence_loss(model.forward(data::collate_sequences({p})), data::collate_sequences({p}).target_output)
                     .item<double>();
  double other = sequence_loss(model.forward(data::collate_sequences({q})), data::collate_sequences({q}).target_output)
                     .item<double>();
  data::SequenceBatch both = data::collate_sequences({p, q});
  double joint = sequence_loss(model.forward(both), both.target_output).item<double>();
  CHECK(joint == Approx((3 * alone + 8 * other) / 11).epsilon(1e-5));
}

TEST_CASE("translate: a checkpoint reloads and translates identically", "[translate]") {
  for (auto [kind, cell] : {std::pair{AttentionKind::LuongGeneral, CellKind::LSTM},
                            std::pair{AttentionKind::ScaledDot, CellKind::GRU}}) {
    INFO(attention_name(kind) << ", " << cell_name(cell));
    testing::TempDirectory dir("translate-checkpoint");
    manual_seed(11);
    Seq2SeqConfig config = tiny_config(kind, true, 1, cell);
    Seq2Seq model(config);
    optim::Adam adam(optim::groups_of(model));
    // A few steps so the optimizer has state and the weights are not the initial draw.
    std::vector<data::SentencePair> train = sequence_task(64, 9, true);
    for (int s = 0; s < 2; ++s) train_step(model, adam, batch_of(train, static_cast<size_t>(s * 32), static_cast<size_t>(s * 32 + 32)), 1.0, 1.0);
    model.eval();
    CorpusOptions data_options;
    data_options.task = "pairs";
    training::TrainingState state;
    state.metadata = config.to_metadata();
    for (const auto& [k, v] : data_options.to_metadata()) state.metadata[k] = v;
    training::save_checkpoint((dir / "best.safetensors").string(), model, adam, nullptr, nullptr, state);
    letters().save((dir / "source_vocab.txt").string());
    letters().save((dir / "target_vocab.txt").string());

    LoadedTranslator loaded = load_translator(dir.path().string());
    CHECK(loaded.model->config().attention == kind);
    CHECK(loaded.model->config().cell == cell);
    CHECK(loaded.model->config().bidirectional);
    CHECK(loaded.source_vocab == letters());
    for (const auto& p : sequence_task(5, 10, true)) {
      Translation before = beam_search(model, p.source, 3, 10);
      Translation after = beam_search(*loaded.model, p.source, 3, 10);
      CHECK(before.tokens == after.tokens);
      CHECK(before.log_probability == after.log_probability);
    }
    data::SequenceBatch batch = batch_of(train, 0, 8);
    NoGradGuard no_grad;
    CHECK(max_abs_difference(model.forward(batch), loaded.model->forward(batch)) == 0.0);
  }
}

TEST_CASE("translate: the cell is in the checkpoint metadata, and none means an LSTM", "[translate]") {
  Seq2SeqConfig gru = tiny_config(AttentionKind::ScaledDot, false, 2, CellKind::GRU);
  std::map<std::string, std::string> metadata = gru.to_metadata();
  CHECK(metadata.at("model.cell") == "gru");
  CHECK(metadata.at("model.attention") == "scaled-dot");
  Seq2SeqConfig read = Seq2SeqConfig::from_metadata(metadata);
  CHECK(read.cell == CellKind::GRU);
  CHECK(read.attention == AttentionKind::ScaledDot);
  CHECK(read.layers == 2);

  // A checkpoint written before the GRU existed has no "model.cell".
  metadata.erase("model.cell");
  CHECK(Seq2SeqConfig::from_metadata(metadata).cell == CellKind::LSTM);
  metadata["model.cell"] = "rnn";
  CHECK_THROWS_WITH(Seq2SeqConfig::from_metadata(metadata),
                    Contains("metadata 'model.cell' is \"rnn\"") && Contains("one of lstm, gru"));
  CHECK_THROWS_WITH(parse_attention("dot"), Contains("scaled-dot"));

  // Parameter names: the GRU's are PyTorch's under the encoder's "gru" and the decoder's "cell<l>".
  Seq2Seq model(gru);
  std::vector<std::string> names;
  for (auto& [name, p] : model.named_parameters()) names.push_back(name);
  CHECK(std::find(names.begin(), names.end(), "encoder.gru.weight_hh_l1") != names.end());
  CHECK(std::find(names.begin(), names.end(), "decoder.cell1.bias_ih") != names.end());
  CHECK(model.encoder->gru->weights(0).weight_ih.shape() == Shape{3 * 32, 16});
}

TEST_CASE("translate: corrupt or foreign checkpoints give clear errors", "[translate]") {
  testing::TempDirectory dir("translate-corrupt");
  CHECK_THROWS_WITH(load_translator((dir / "missing").string()), Contains("does not exist"));

  write_file(dir / "best.safetensors", "this is not a safetensors file");
  CHECK_THROWS_WITH(load_translator(dir.path().string()),
                    Contains("cannot read checkpoint") && Contains("best.safetensors"));

  // A valid safetensors file that is not a translator checkpoint.
  manual_seed(1);
  Seq2Seq model(tiny_config(AttentionKind::None));
  nn::save(model, (dir / "best.safetensors").string());
  CHECK_THROWS_WITH(load_translator(dir.path().string()), Contains("not a translator checkpoint"));

  // Vocabularies that do not match the model.
  optim::Adam adam(optim::groups_of(model));
  training::TrainingState state;
  state.metadata = tiny_config(AttentionKind::None).to_metadata();
  for (const auto& [k, v] : CorpusOptions().to_metadata()) state.metadata[k] = v;
  training::save_checkpoint((dir / "best.safetensors").string(), model, adam, nullptr, nullptr, state);
  CHECK_THROWS_WITH(load_translator(dir.path().string()), Contains("source_vocab.txt"));
  data::Vocab::from_tokens({"x", "y"}).save((dir / "source_vocab.txt").string());
  letters().save((dir / "target_vocab.txt").string());
  CHECK_THROWS_WITH(load_translator(dir.path().string()), Contains("do not match the model"));
}

TEST_CASE("translate: user input — unknown words, empty and over-long sentences", "[translate]") {
  data::Vocab vocab = data::Vocab::build({{"je", "suis", "content", "."}});
  data::Tokenizer tokenizer(data::TokenizerOptions{.lowercase = true});

  EncodedInput in = encode_input("Je suis TRÈS content.", tokenizer, vocab, 10);
  CHECK(in.tokens == std::vector<std::string>{"je", "suis", "<unk>", "content", "."});
  CHECK(in.ids[2] == data::Vocab::kUnk);
  REQUIRE(in.notes.size() == 1);
  CHECK_THAT(in.notes[0], Contains("<unk>") && Contains("\"très\""));  // quoted, escaped where not printable

  CHECK_THROWS_WITH(encode_input("", tokenizer, vocab, 10), Contains("empty input"));
  CHECK_THROWS_WITH(encode_input("   \t ", tokenizer, vocab, 10), Contains("empty input"));

  EncodedInput long_input = encode_input("je suis content je suis content je suis content .", tokenizer, vocab, 4);
  CHECK(long_input.ids.size() == 4);
  REQUIRE(long_input.notes.size() == 1);
  CHECK_THAT(long_input.notes[0], Contains("10 tokens") && Contains("truncated"));
}

TEST_CASE("translate: the program trains, translates, evaluates and reports bad input", "[translate]") {
  testing::TempDirectory dir("translate-cli");
  // 12 good pairs and three malformed lines (3: no tab, 7: empty French side, 11: three tabs).
  write_file(dir / "pairs.tsv",
             "I am happy.\tJe suis content.\n"
             "I am sad.\tJe suis triste.\n"
             "no tab on this line\n"
             "You are happy.\tTu es content.\n"
             "You are sad.\tTu es triste.\n"
             "He is happy.\tIl est content.\n"
             "He is sad.\t\n"
             "She is happy.\tElle est contente.\n"
             "She is sad.\tElle est triste.\n"
             "We are happy.\tNous sommes contents.\n"
             "a\tb\tc\td\n"
             "We are sad.\tNous sommes tristes.\n"
             "They are happy.\tIls sont contents.\n"
             "They are sad.\tIls sont tristes.\n"
             "I am tired.\tJe suis fatigué.\n");
  const std::string exe = TRANSLATE_EXE;
  const std::string run_dir = (dir / "run").string();
  int status = -1;
  std::string out = run(exe + " train --data " + (dir / "pairs.tsv").string() +
                            " --epochs 2 --embed 8 --hidden 16 --batch-size 4 --min-freq 1 --threads 1 --out " + run_dir,
                        &status);
  INFO(out);
  REQUIRE(status == 0);
  CHECK_THAT(out, Contains("3 malformed") && Contains("line 3") && Contains("line 7") && Contains("line 11"));
  for (const char* file : {"best.safetensors", "last.safetensors", "source_vocab.txt", "target_vocab.txt",
                           "metrics.csv", "curves.png", "summary.json"})
    CHECK(std::filesystem::exists(dir / "run" / file));

  // A second run into the same folder is refused and leaves metrics.csv as it was; --resume
  // continues it with exactly one more row (the rows of a run are never duplicated).
  const std::string train_again = exe + " train --data " + (dir / "pairs.tsv").string() +
                                  " --embed 8 --hidden 16 --batch-size 4 --min-freq 1 --threads 1 ";
  const std::string metrics_before = read_file(dir / "run" / "metrics.csv");
  out = run(train_again + "--epochs 2 --out " + run_dir, &status);
  CHECK(status == 1);
  CHECK_THAT(out, Contains("already holds a training run") && Contains("--resume"));
  CHECK(read_file(dir / "run" / "metrics.csv") == metrics_before);
  out = run(exe + " train --epochs 3 --threads 1 --resume " + run_dir, &status);
  INFO(out);
  REQUIRE(status == 0);
  CHECK_THAT(out, Contains("2 of 3 epochs done, continuing at epoch 3"));
  std::vector<std::string> epochs;
  {
    std::istringstream rows(read_file(dir / "run" / "metrics.csv"));
    std::string line;
    std::getline(rows, line);
    REQUIRE(line.rfind("epoch,", 0) == 0);
    while (std::getline(rows, line)) epochs.push_back(line.substr(0, line.find(',')));
  }
  CHECK(epochs == std::vector<std::string>{"1", "2", "3"});

  // Two sentences as arguments: one with an unknown word, one empty.
  out = run(exe + " run --checkpoint " + run_dir + " --plots " + run_dir + " \"I am zorglub.\" \"\"", &status);
  CHECK(status == 1);  // the empty line is an error, after the other sentence is translated
  CHECK_THAT(out, Contains("\"zorglub\"") && Contains("<unk>") && Contains("line 2: empty input"));
  CHECK(std::filesystem::exists(dir / "run" / "attention_1.png"));

  // Over-long input on stdin is truncated with a warning.
  out = run("echo 'I am happy I am sad I am happy I am sad I am happy' | " + exe + " run --beam 3 --checkpoint " +
                run_dir + " --plots " + run_dir,
            &status);
  CHECK(status == 0);
  CHECK_THAT(out, Contains("truncated"));

  out = run(exe + " eval --checkpoint " + run_dir + " --data " + (dir / "pairs.tsv").string(), &status);
  CHECK(status == 0);
  CHECK_THAT(out, Contains("BLEU = ") && Contains("held-out test split"));

  // A device this machine lacks (no CUDA build, no GPU, or no 100th GPU) is refused by name.
  out = run(exe + " run --device cuda:99 --checkpoint " + run_dir + " \"I am happy.\"", &status);
  CHECK(status == 1);
  CHECK_THAT(out, Contains("error: device 'cuda:99'"));

  // A corrupt checkpoint.
  write_file(dir / "run" / "best.safetensors", "garbage");
  out = run(exe + " run --checkpoint " + run_dir + " \"I am happy.\"", &status);
  CHECK(status == 1);
  CHECK_THAT(out, Contains("error: cannot read checkpoint") && Contains("best.safetensors"));
}

TEST_CASE("translate: the program trains, resumes and runs a GRU with scaled-dot attention", "[translate]") {
  testing::TempDirectory dir("translate-cli-gru");
  write_file(dir / "pairs.tsv",
             "I am happy.\tJe suis content.\n"
             "I am sad.\tJe suis triste.\n"
             "You are happy.\tTu es content.\n"
             "You are sad.\tTu es triste.\n"
             "He is happy.\tIl est content.\n"
             "She is happy.\tElle est contente.\n"
             "She is sad.\tElle est triste.\n"
             "We are happy.\tNous sommes contents.\n"
             "We are sad.\tNous sommes tristes.\n"
             "They are happy.\tIls sont contents.\n"
             "They are sad.\tIls sont tristes.\n"
             "I am tired.\tJe suis fatigué.\n");
  const std::string exe = TRANSLATE_EXE;
  const std::string run_dir = (dir / "run").string();
  int status = -1;
  std::string out = run(exe + " train --help", &status);
  CHECK(status == 0);
  CHECK_THAT(out, Contains("--cell") && Contains("lstm (default) | gru") && Contains("scaled-dot"));

  out = run(exe + " train --data " + (dir / "pairs.tsv").string() +
                " --cell gru --attention scaled-dot --layers 2 --epochs 1 --embed 8 --hidden 16 --batch-size 4"
                " --min-freq 1 --threads 1 --out " + run_dir,
            &status);
  INFO(out);
  REQUIRE(status == 0);
  const std::string summary = read_file(dir / "run" / "summary.json");
  CHECK_THAT(summary, Contains("\"model.cell\": \"gru\"") && Contains("\"model.attention\": \"scaled-dot\""));

  // --resume rebuilds the GRU from the checkpoint's metadata (no --cell given).
  out = run(exe + " train --epochs 2 --threads 1 --resume " + run_dir, &status);
  REQUIRE(status == 0);
  CHECK_THAT(out, Contains("1 of 2 epochs done, continuing at epoch 2"));

  LoadedTranslator loaded = load_translator(run_dir);
  CHECK(loaded.model->config().cell == CellKind::GRU);
  CHECK(loaded.model->config().attention == AttentionKind::ScaledDot);

  out = run(exe + " run --beam 2 --checkpoint " + run_dir + " --plots " + run_dir + " \"I am happy.\"", &status);
  CHECK(status == 0);
  CHECK(std::filesystem::exists(dir / "run" / "attention_1.png"));
  out = run(exe + " eval --checkpoint " + run_dir + " --data " + (dir / "pairs.tsv").string(), &status);
  CHECK(status == 0);
  CHECK_THAT(out, Contains("BLEU = "));

  out = run(exe + " train --cell rnn --data " + (dir / "pairs.tsv").string(), &status);
  CHECK(status != 0);
  CHECK_THAT(out, Contains("--cell"));
}

// ---- untrusted checkpoints and input ------------------------------------------------------------------

namespace {

// A tiny run folder (best.safetensors of tiny_config(Bahdanau): embed 16, hidden 32, and the
// vocabularies) whose metadata `edit` may then change, as a damaged or hostile file would.
std::filesystem::path write_tiny_translator(const std::filesystem::path& folder,
                                            const std::function<void(nn::Metadata&)>& edit = {}) {
  manual_seed(1);
  const Seq2SeqConfig config = tiny_config(AttentionKind::Bahdanau);
  Seq2Seq model(config);
  optim::Adam adam(optim::groups_of(model));
  training::TrainingState state;
  state.metadata = config.to_metadata();
  CorpusOptions data_options;
  data_options.task = "pairs";
  for (const auto& [k, v] : data_options.to_metadata()) state.metadata[k] = v;
  std::filesystem::create_directories(folder);
  const std::filesystem::path file = folder / "best.safetensors";
  training::save_checkpoint(file.string(), model, adam, nullptr, nullptr, state);
  letters().save((folder / "source_vocab.txt").string());
  letters().save((folder / "target_vocab.txt").string());
  if (edit) {
    nn::SafetensorsContent content = nn::load_safetensors(file.string());
    edit(content.metadata);
    nn::save_safetensors(file.string(), content.tensors, content.metadata);
  }
  return file;
}

// How often `part` occurs in `text` (a message names its file once).
size_t occurrences(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++count;
  return count;
}

bool has_control_bytes(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && byte != '\n') || byte == 0x7f;
  });
}

// Width and height of a PNG file, from its IHDR chunk.
std::pair<uint32_t, uint32_t> png_size(const std::filesystem::path& path) {
  const std::string bytes = read_file(path);
  REQUIRE(bytes.size() >= 24);
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

}  // namespace

TEST_CASE("translate: checkpoint metadata is parsed whole and within the stated limits", "[translate][untrusted]") {
  struct Case {
    std::string key, value, message;
  };
  const std::vector<Case> cases{
      {"user/model.hidden", "4000000000", "metadata 'model.hidden' is \"4000000000\": expected an integer from 1 to 65536"},
      {"user/model.hidden", "-1", "metadata 'model.hidden' is \"-1\": expected an integer from 1 to 65536"},
      {"user/model.hidden", "abc", "metadata 'model.hidden' is \"abc\": expected an integer from 1 to 65536"},
      {"user/model.hidden", "32 ", "metadata 'model.hidden' is \"32 \": expected an integer"},
      {"user/model.hidden", "\x1b[31m", "metadata 'model.hidden' is \"\\x1b[31m\": expected an integer"},
      {"user/model.embed", "", "no 'model.embed' in the checkpoint's metadata"},  // "" = the key removed
      {"user/model.layers", "65", "metadata 'model.layers' is \"65\": expected an integer from 1 to 64"},
      {"user/model.source_vocab", "10000001", "expected an integer from 5 to 10000000"},
      {"user/model.bidirectional", "yes", "metadata 'model.bidirectional' is \"yes\": expected 0 or 1"},
      {"user/model.dropout", "nan", "metadata 'model.dropout' is \"nan\": expected a number from 0 up to"},
      {"user/model.attention", "bahdanau\n", "metadata 'model.attention' is \"bahdanau\\n\": expected one of"},
      {"user/data.seed", "-1", "metadata 'data.seed' is \"-1\": expected an integer from 0 to 18446744073709551615"},
      {"user/data.max_length", "1000000", "metadata 'data.max_length' is \"1000000\": expected an integer from 0 to 1000"},
      {"user/data.date_train", "99999999999", "metadata 'data.date_train' is \"99999999999\""},
      {"user/data.task", "resnet", "metadata 'data.task' is \"resnet\": expected one of dates, pairs"},
  };
  testing::TempDirectory dir("translate-metadata");
  for (const Case& c : cases) {
    INFO(c.key << " = " << c.value);
    const auto file = write_tiny_translator(dir / "run", [&](nn::Metadata& metadata) {
      if (c.value.empty()) metadata.erase(c.key);
      else metadata[c.key] = c.value;
    });
    try {
      load_translator((dir / "run").string());
      FAIL("loaded");
    } catch (const std::exception& e) {
      const std::string message = e.what();
      CHECK_THAT(message, Contains(c.message));
      CHECK(message.rfind(file.string() + ": ", 0) == 0);  // the file first, once
      CHECK(occurrences(message, file.string()) == 1);
      CHECK_FALSE(has_control_bytes(message));
    }
  }
}

TEST_CASE("translate: metadata that does not match the weights is refused before the model is built",
          "[translate][untrusted]") {
  testing::TempDirectory dir("translate-mismatch");
  // hidden=6000 on a hidden=32 checkpoint once built a 2 GB model (16 s) before the shapes were compared.
  const auto file = write_tiny_translator(dir / "run", [](nn::Metadata& m) { m["user/model.hidden"] = "6000"; });
  CHECK_THROWS_WITH(load_translator((dir / "run").string()),
                    Contains(file.string() + ": metadata (") && Contains("hidden=6000") &&
                        Contains("does not match the weights: tensor encoder.lstm.weight_ih_l0 has shape [128, 16], "
                                 "the metadata implies [24000, 16]"));
  // More layers than the file holds, another cell, no attention: each differs from the tensors.
  write_tiny_translator(dir / "run", [](nn::Metadata& m) { m["user/model.layers"] = "64"; });
  CHECK_THROWS_WITH(load_translator((dir / "run").string()),
                    Contains("the weights have no tensor encoder.lstm.weight_ih_l1"));
  write_tiny_translator(dir / "run", [](nn::Metadata& m) { m["user/model.cell"] = "gru"; });
  CHECK_THROWS_WITH(load_translator((dir / "run").string()),
                    Contains("the weights have no tensor encoder.gru.weight_ih_l0"));
  write_tiny_translator(dir / "run", [](nn::Metadata& m) { m["user/model.attention"] = "none"; });
  CHECK_THROWS_WITH(load_translator((dir / "run").string()),
                    Contains("tensor decoder.cell0.weight_ih has shape [128, 48], the metadata implies [128, 16]"));

  // The program: refused at once, one line naming the file, for run, eval and a resumed training run.
  write_tiny_translator(dir / "run", [](nn::Metadata& m) { m["user/model.hidden"] = "6000"; });
  const std::string exe = TRANSLATE_EXE;
  for (const std::string& command :
       {exe + " run --checkpoint " + (dir / "run").string() + " 'a b c'",
        exe + " eval --checkpoint " + (dir / "run").string() + " --data " + (dir / "missing.tsv").string(),
        exe + " train --epochs 3 --threads 1 --resume " + file.string()}) {
    const testing::CommandResult result = testing::run_command(command + " 2>&1");
    INFO(command << " →\n" << result.output);
    CHECK(result.status == 1);
    CHECK(result.output.rfind("error: " + file.string() + ": metadata (", 0) == 0);
    CHECK(occurrences(result.output, file.string()) == 1);
    CHECK(result.seconds < 10);  // nothing big allocated (the model described would take seconds to build)
  }
  // Control bytes from the file reach the terminal escaped.
  write_tiny_translator(dir / "run", [](nn::Metadata& m) { m["user/model.cell"] = "gru\x1b]0;x\x07"; });
  const testing::CommandResult escaped =
      testing::run_command(exe + " run --checkpoint " + (dir / "run").string() + " 'a b c' 2>&1");
  INFO(escaped.output);
  CHECK(escaped.status == 1);
  CHECK_THAT(escaped.output, Contains("metadata 'model.cell' is \"gru\\x1b]0;x\\x07\": expected one of lstm, gru"));
  CHECK_FALSE(has_control_bytes(escaped.output));
  // Also where a message from deeper down quotes them raw: a training data path with control bytes.
  write_tiny_translator(dir / "run", [](nn::Metadata& m) { m["user/data.path"] = "/no/such\x1b[2J.tsv"; });
  const testing::CommandResult data_path =
      testing::run_command(exe + " train --epochs 3 --threads 1 --resume " + file.string() + " 2>&1");
  INFO(data_path.output);
  CHECK(data_path.status == 1);
  CHECK_THAT(data_path.output, Contains("/no/such\\x1b[2J.tsv"));
  CHECK_FALSE(has_control_bytes(data_path.output));
  // So do bytes that are not UTF-8, patched into the file (a writer may refuse to write them): shown
  // escaped by the metadata check, or refused earlier by the header's reader, never printed raw.
  write_tiny_translator(dir / "run", [](nn::Metadata& m) { m["user/model.cell"] = "@@@@"; });
  std::string bytes = read_file(file);
  const size_t at = bytes.find("@@@@");
  REQUIRE(at != std::string::npos);
  bytes.replace(at, 4, "\xc3\x28\xff@");
  write_file(file, bytes);
  const testing::CommandResult invalid =
      testing::run_command(exe + " run --checkpoint " + (dir / "run").string() + " 'a b c' 2>&1");
  INFO(invalid.output);
  CHECK(invalid.status == 1);
  CHECK(invalid.output.rfind("error: ", 0) == 0);
  CHECK(occurrences(invalid.output, file.string()) == 1);
  CHECK_THAT(invalid.output, Contains("\"\\xc3(\\xff@\": expected one of lstm, gru") || Contains("UTF-8"));
  CHECK(data::utf8::is_valid(invalid.output));
  CHECK_FALSE(has_control_bytes(invalid.output));
}

TEST_CASE("translate: the parameter shapes worked out from a configuration are the built model's",
          "[translate][untrusted]") {
  for (CellKind cell : {CellKind::LSTM, CellKind::GRU})
    for (AttentionKind kind : {AttentionKind::Bahdanau, AttentionKind::LuongDot, AttentionKind::LuongGeneral,
                               AttentionKind::ScaledDot, AttentionKind::None})
      for (bool bidirectional : {false, true})
        for (int64_t layers : {1, 3}) {
          Seq2SeqConfig config = tiny_config(kind, bidirectional, layers, cell);
          config.target_vocab = 17;  // unlike the source's, so the two embeddings cannot be swapped unseen
          INFO(config.describe());
          std::map<std::string, Shape> expected, built;
          for (const auto& [name, shape] : config.parameter_shapes()) expected[name] = shape;
          Seq2Seq model(config);
          for (const auto& [name, tensor] : model.state_dict()) built[name] = tensor.shape();
          CHECK(expected == built);
          CHECK_NOTHROW(config.check_parameter_shapes(built));
        }
}

TEST_CASE("translate: configurations beyond the stated limits are refused before anything is built",
          "[translate][untrusted]") {
  Seq2SeqConfig config = tiny_config(AttentionKind::Bahdanau);
  config.hidden = limits::kMaxWidth + 2;
  CHECK_THROWS_WITH(Seq2Seq(config), Contains("beyond the translator's limits") && Contains("hidden=65538"));
  config = tiny_config(AttentionKind::Bahdanau);
  config.layers = limits::kMaxLayers + 1;
  CHECK_THROWS_WITH(config.validate(), Contains("layers at most 64"));
  // Each size within its limit, the whole too big: 10^7 tokens x 4096 on each side is 8·10^10 parameters.
  config = tiny_config(AttentionKind::Bahdanau);
  config.source_vocab = config.target_vocab = limits::kMaxVocab;
  config.embed = config.hidden = 4096;
  CHECK_THROWS_WITH(config.validate(), Contains("parameters, more than the 4000000000 the translator builds"));
  // The flags say the same before a run starts.
  const testing::CommandResult result = testing::run_command(std::string(TRANSLATE_EXE) + " train --hidden 70000 2>&1");
  CHECK(result.status != 0);
  CHECK_THAT(result.output, Contains("--hidden"));
  CHECK_THAT(testing::run_command(std::string(TRANSLATE_EXE) + " train --help").output,
             Contains("--embed and --hidden at most 65536, --layers at most 64"));
  // A beam as wide as an int64 once overflowed 2·beam and crashed; wider than kMaxBeam is refused.
  Seq2Seq model(tiny_config(AttentionKind::Bahdanau));
  CHECK_THROWS_WITH(beam_search(model, {4, 5}, limits::kMaxBeam + 1, 5), Contains("beam must be from 1 to 100"));
  const testing::CommandResult wide =
      testing::run_command(std::string(TRANSLATE_EXE) + " run --checkpoint x --beam 9223372036854775807 a 2>&1");
  CHECK(wide.status != 0);
  CHECK(wide.status != -1);  // refused, not killed by a signal
  CHECK_THAT(wide.output, Contains("--beam"));
}

TEST_CASE("translate: metadata fields are read whole, never wrapped or cut", "[translate][untrusted]") {
  const std::map<std::string, std::string> metadata{
      {"n", "12"},   {"trailing", "12abc"}, {"space", " 12"},     {"plus", "+12"},  {"hex", "0x10"},
      {"empty", ""}, {"huge", "9223372036854775808"}, {"minus", "-1"}, {"big", "1e400"}, {"half", "0.5"},
      {"long", std::string(1000, '7')}, {"bytes", "\xc3\x28"}};
  const MetadataFields fields(metadata);
  CHECK(fields.integer("n", 0, 100) == 12);
  for (const char* key : {"trailing", "space", "plus", "hex", "empty", "huge"})
    CHECK_THROWS_WITH(fields.integer(key, 0, 100),
                      Contains(fmt::format("metadata '{}' is {}", key, quoted(metadata.at(key)))) &&
                          Contains("expected an integer from 0 to 100"));
  CHECK_THROWS_WITH(fields.unsigned_integer("minus"), Contains("\"-1\": expected an integer from 0 to"));
  CHECK(fields.unsigned_integer("huge") == 9223372036854775808ull);
  CHECK_THROWS_WITH(fields.number_below("big", 0, 1), Contains("\"1e400\": expected a number from 0"));
  CHECK(fields.number_below("half", 0, 1) == 0.5);
  CHECK_THROWS_WITH(fields.integer("missing", 0, 1), Contains("no 'missing' in the checkpoint's metadata"));
  CHECK_THROWS_WITH(fields.integer("bytes", 0, 1), Contains("metadata 'bytes' is \"\\xc3(\": expected"));
  // A long value is shown in part, with its length.
  CHECK_THROWS_WITH(fields.integer("long", 0, 1), Contains("... (1000 bytes)"));
  CHECK(quoted("caf\xc3\xa9") == "\"caf\xc3\xa9\"");  // printable UTF-8 as it is
  CHECK(quoted("a\xff\r") == "\"a\\xff\\r\"");
}

TEST_CASE("translate: input lines are read within a byte limit", "[translate][untrusted]") {
  std::istringstream in("abc\r\n" + std::string(10000, 'x') + "\n\n" + std::string(4096, 'y') + "\r\nlast");
  InputLine line;
  REQUIRE(read_input_line(in, line, 4096));
  CHECK(line.text == "abc");
  CHECK(line.bytes == 3);
  REQUIRE(read_input_line(in, line, 4096));
  CHECK(line.bytes == 10000);
  CHECK(line.text.size() == 4096);  // what is held, never more
  REQUIRE(read_input_line(in, line, 4096));
  CHECK(line.text.empty());
  REQUIRE(read_input_line(in, line, 4096));  // exactly at the limit, with a Windows line ending
  CHECK(line.bytes == 4096);
  CHECK(line.text == std::string(4096, 'y'));
  REQUIRE(read_input_line(in, line, 4096));
  CHECK(line.text == "last");
  CHECK_FALSE(read_input_line(in, line, 4096));
}

TEST_CASE("translate: an attention picture has a bounded size whatever it is given", "[translate][untrusted]") {
  testing::TempDirectory dir("translate-picture");
  // 300 output and 2000 source tokens, long labels with control bytes, a 5,000-character title.
  std::vector<std::string> source(2000, std::string(300, 'w') + "\x1b[2J"), output(300, "\n\n\nrow");
  save_attention_png(dir / "big.png", full({300, 2000}, 0.5), source, output, std::string(5000, 'z'));
  const auto [width, height] = png_size(dir / "big.png");
  INFO(width << " x " << height);
  CHECK(width <= 4500);  // 100 cells of 36 pixels, the labels and the title
  CHECK(height <= 4500);
  CHECK_THROWS_WITH(save_attention_png(dir / "bad.png", full({3, 4}, 0.5), {"a"}, {"b"}, ""),
                    Contains("attention [3, 4] for 1 output and 1 source tokens"));
}

TEST_CASE("translate run: a 5,000-character line is refused quickly, a long one truncated, pictures stay small",
          "[translate][untrusted]") {
  testing::TempDirectory dir("translate-long-input");
  write_tiny_translator(dir / "run");
  std::string long_line;
  for (int i = 0; i < 700; ++i) long_line += "a b c ";  // 4,200 bytes: over the limit
  std::string within;
  for (int i = 0; i < 600; ++i) within += "a b c ";  // 3,600 bytes, 1,800 tokens: within it, truncated
  write_file(dir / "input.txt", std::string(5000, 'x') + "\n" + long_line + "\n" + within + "\n" + "a b c\n");
  const testing::CommandResult result =
      testing::run_command(std::string(TRANSLATE_EXE) + " run --checkpoint " + (dir / "run").string() + " --plots " +
                           (dir / "plots").string() + " < " + (dir / "input.txt").string() + " 2>&1");
  INFO(result.output);
  CHECK(result.status == 1);  // lines were refused; the others were translated
  CHECK(result.seconds < 10);
  CHECK_THAT(result.output, Contains("line 1: 5000 bytes, more than the 4096 a line may have: skipped"));
  CHECK_THAT(result.output, Contains("line 2: 4200 bytes, more than the 4096"));
  CHECK_THAT(result.output, Contains("note: line 3: input is 1800 tokens long; truncated to the first 10"));
  CHECK_FALSE(std::filesystem::exists(dir / "plots" / "attention_1.png"));
  CHECK_FALSE(std::filesystem::exists(dir / "plots" / "attention_2.png"));
  for (const char* png : {"attention_3.png", "attention_4.png"}) {
    REQUIRE(std::filesystem::exists(dir / "plots" / png));
    const auto [width, height] = png_size(dir / "plots" / png);
    INFO(png << ": " << width << " x " << height);
    CHECK(width <= 2500);
    CHECK(height <= 2500);
  }
  CHECK_THAT(testing::run_command(std::string(TRANSLATE_EXE) + " run --help").output,
             Contains("A line of more than 4096 bytes is refused"));
}
