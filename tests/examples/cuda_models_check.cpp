// Whole example models on the GPU against the CPU: both CIFAR-10 networks and the translator
// (Bahdanau and Luong attention over a bidirectional encoder, a padded batch of unequal
// lengths). Each model is built on the CPU, its weights loaded into a twin that moves to the
// GPU, and the same batch goes through both: loss, every parameter's gradient by name, and
// the parameters after Adam steps must agree. Then the translator's decoding, training loop,
// checkpoints and evaluation run on the GPU.
//
// Without a GPU (or in a build without CUDA) every test reports "skipped" (exit code 4).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../cuda/cuda_check.h"
#include "../datasets/temp_directory.h"
#include "corpus.h"
#include "decode.h"
#include "focus.h"
#include "models.h"
#include "seq2seq.h"
#include "training.h"

using namespace focus;
using focus::testing::gpu;
using focus::testing::relative_error;
using focus::testing::require_gpu_or_skip;

namespace {

// Float32 through a whole network: the loss and gradients are sums of many GEMM-sized
// reductions (kReductionTolerance); an optimizer step is elementwise.
constexpr double kLossTolerance = 1e-4;
constexpr double kGradientTolerance = 1e-4;
constexpr double kParameterTolerance = 1e-5;  // relative to each tensor's largest |value|
constexpr double kUpdateTolerance = 1e-4;     // of the step itself, p_after − p_before

// The twin gets the source's weights and then moves to the GPU. It was built from a
// different seed, so a load that silently did nothing would show up as a mismatch.
void copy_to_gpu_twin(const nn::Module& source, nn::Module& twin) {
  twin.load_state_dict(source.state_dict());
  twin.to(gpu());
  for (const auto& [name, p] : twin.named_parameters()) {
    INFO("parameter " << name);
    REQUIRE(p.device() == gpu());
  }
}

void check_loss(const Tensor& cpu_loss, const Tensor& gpu_loss) {
  REQUIRE(gpu_loss.device() == gpu());
  INFO("loss: CPU " << cpu_loss.item<double>() << ", GPU " << gpu_loss.item<double>());
  CHECK(relative_error(cpu_loss, gpu_loss) <= kLossTolerance);
}

// Every parameter's gradient, matched by name; both devices must give one to the same parameters.
void check_gradients(const nn::Module& cpu_model, const nn::Module& gpu_model) {
  const auto cpu_params = cpu_model.named_parameters(), gpu_params = gpu_model.named_parameters();
  REQUIRE(cpu_params.size() == gpu_params.size());
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    const std::string& name = cpu_params[i].first;
    INFO("gradient of " << name);
    REQUIRE(gpu_params[i].first == name);
    const Tensor expected = cpu_params[i].second.grad(), actual = gpu_params[i].second.grad();
    REQUIRE(expected.defined());  // every parameter of these models takes part in the loss
    REQUIRE(actual.defined());
    REQUIRE(actual.device() == gpu());
    CHECK(relative_error(expected, actual) <= kGradientTolerance);
  }
}

// Running statistics of batch norm (and any other buffer) after the training-mode forward.
void check_buffers(const nn::Module& cpu_model, const nn::Module& gpu_model) {
  const auto cpu_buffers = cpu_model.named_buffers(), gpu_buffers = gpu_model.named_buffers();
  REQUIRE(cpu_buffers.size() == gpu_buffers.size());
  for (size_t i = 0; i < cpu_buffers.size(); ++i) {
    INFO("buffer " << cpu_buffers[i].first);
    REQUIRE(gpu_buffers[i].first == cpu_buffers[i].first);
    if (!is_floating(cpu_buffers[i].second.dtype())) {
      CHECK(relative_error(cpu_buffers[i].second, gpu_buffers[i].second) == 0);  // counters
      continue;
    }
    CHECK(relative_error(cpu_buffers[i].second, gpu_buffers[i].second) <= kGradientTolerance);
  }
}

// Two Adam steps on each twin from the same gradients: the CPU's, copied to the GPU. This
// isolates the optimizer's arithmetic and state on the GPU. Stepping each from its own
// gradients would not compare anything useful: Adam's first step is about lr·sign(g), so an
// element whose gradient is nearly zero moves by ±lr on float32 noise alone.
void check_adam_steps(const nn::Module& cpu_model, nn::Module& gpu_model) {
  const auto cpu_params = cpu_model.named_parameters();
  auto gpu_params = gpu_model.named_parameters();  // handles: setting their gradient sets the model's
  std::vector<Tensor> before;
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    before.push_back(cpu_params[i].second.detach().clone());
    gpu_params[i].second.set_grad(cpu_params[i].second.grad().to(gpu()));
  }
  optim::AdamOptions options;
  options.weight_decay = 0.01;  // L2 adds the parameters to the gradient: one more path through the update
  optim::Adam cpu_adam(optim::groups_of(cpu_model), options), gpu_adam(optim::groups_of(gpu_model), options);
  for (int step = 0; step < 2; ++step) {  // the second step reads the moments the first left on the device
    cpu_adam.step();
    gpu_adam.step();
  }
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    INFO("parameter " << cpu_params[i].first << " after two Adam steps");
    const Tensor& expected = cpu_params[i].second;
    const Tensor& actual = gpu_params[i].second;
    REQUIRE(actual.device() == gpu());
    CHECK(relative_error(expected, actual) <= kParameterTolerance);
    CHECK(relative_error(expected.detach() - before[i], actual.detach().to(kCPU) - before[i]) <= kUpdateTolerance);
  }
}

// ---- CIFAR-10 ------------------------------------------------------------------------------------

void check_cifar_model(const std::string& name) {
  manual_seed(7);
  std::shared_ptr<cifar::Classifier> cpu_model = cifar::make_model(name);
  manual_seed(8);
  std::shared_ptr<cifar::Classifier> gpu_model = cifar::make_model(name);
  copy_to_gpu_twin(*cpu_model, *gpu_model);
  // Training mode, so batch norm normalises with batch statistics and updates its running ones
  // (neither model has dropout, whose masks the two devices would draw differently).
  for (auto& model : {cpu_model, gpu_model}) model->train();
  manual_seed(9);
  const Tensor images = randn({6, 3, 32, 32});
  const Tensor labels = randint(0, 10, {6});

  const Tensor cpu_loss = nn::functional::cross_entropy((*cpu_model)(images), labels);
  const Tensor gpu_loss = nn::functional::cross_entropy((*gpu_model)(images.to(gpu())), labels.to(gpu()));
  check_loss(cpu_loss, gpu_loss);
  {
    INFO("attention map");
    focus::testing::check_parity(cpu_model->attention_map(), gpu_model->attention_map(), kLossTolerance,
                                 name + " attention_map");
  }
  check_buffers(*cpu_model, *gpu_model);
  cpu_loss.backward();
  gpu_loss.backward();
  check_gradients(*cpu_model, *gpu_model);
  check_adam_steps(*cpu_model, *gpu_model);
}

// ---- the translator ------------------------------------------------------------------------------

translate::Seq2SeqConfig translator_config(translate::AttentionKind attention) {
  translate::Seq2SeqConfig config;
  config.source_vocab = 37;  // sizes that are multiples of nothing a kernel might assume
  config.target_vocab = 41;
  config.embed = 24;
  config.hidden = 34;  // 17 per encoder direction
  config.layers = 2;
  config.bidirectional = true;
  config.dropout = 0.0;  // the two devices would draw different masks
  config.attention = attention;
  return config;
}

// Five sentence pairs of unequal lengths (so every row but the longest is padded), random ids.
data::SequenceBatch translator_batch(const translate::Seq2SeqConfig& config) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> source_id(data::Vocab::kNumSpecial, config.source_vocab - 1),
      target_id(data::Vocab::kNumSpecial, config.target_vocab - 1);
  const std::vector<int> source_lengths{7, 3, 9, 1, 5}, target_lengths{4, 8, 2, 6, 3};
  std::vector<data::SentencePair> pairs;
  for (size_t i = 0; i < source_lengths.size(); ++i) {
    data::SentencePair pair;
    for (int n = 0; n < source_lengths[i]; ++n) pair.source.push_back(source_id(rng));
    for (int n = 0; n < target_lengths[i]; ++n) pair.target.push_back(target_id(rng));
    pair.source_text = pair.target_text = "pair " + std::to_string(i);
    pairs.push_back(pair);
  }
  return data::collate_sequences(std::move(pairs));
}

data::SequenceBatch on_gpu(const data::SequenceBatch& batch) {
  data::SequenceBatch moved = data::to_device(data::SequenceBatch(batch), gpu());
  REQUIRE(moved.source.device() == gpu());
  REQUIRE(moved.target_mask.device() == gpu());
  REQUIRE(batch.source.device() == kCPU);  // the copy moved, not the original
  return moved;
}

// teacher_forcing below 1 takes the step-by-step path (each step's argmax feeds the next);
// both twins draw their coin flips from equally seeded generators.
void check_translator(translate::AttentionKind attention, double teacher_forcing) {
  const translate::Seq2SeqConfig config = translator_config(attention);
  manual_seed(21);
  translate::Seq2Seq cpu_model(config);
  manual_seed(22);
  translate::Seq2Seq gpu_model(config);
  copy_to_gpu_twin(cpu_model, gpu_model);
  REQUIRE(gpu_model.device() == gpu());
  cpu_model.train();
  gpu_model.train();
  const data::SequenceBatch cpu_batch = translator_batch(config);
  const data::SequenceBatch gpu_batch = on_gpu(cpu_batch);

  Generator cpu_coins(5), gpu_coins(5);
  const Tensor cpu_logits = cpu_model.forward(cpu_batch, teacher_forcing, &cpu_coins);
  const Tensor gpu_logits = gpu_model.forward(gpu_batch, teacher_forcing, &gpu_coins);
  REQUIRE(gpu_logits.device() == gpu());
  focus::testing::check_parity(cpu_logits, gpu_logits, kLossTolerance, "logits [B, T, V]");
  const Tensor cpu_loss = translate::sequence_loss(cpu_logits, cpu_batch.target_output);
  const Tensor gpu_loss = translate::sequence_loss(gpu_logits, gpu_batch.target_output);
  check_loss(cpu_loss, gpu_loss);
  cpu_loss.backward();
  gpu_loss.backward();
  check_gradients(cpu_model, gpu_model);
  check_adam_steps(cpu_model, gpu_model);
}

// Greedy decoding of the padded batch and beam search of one sentence, on both devices.
void check_translator_decoding(translate::AttentionKind attention) {
  const translate::Seq2SeqConfig config = translator_config(attention);
  manual_seed(31);
  translate::Seq2Seq cpu_model(config);
  translate::Seq2Seq gpu_model(config);
  copy_to_gpu_twin(cpu_model, gpu_model);
  cpu_model.eval();
  gpu_model.eval();
  const data::SequenceBatch cpu_batch = translator_batch(config);
  const data::SequenceBatch gpu_batch = on_gpu(cpu_batch);

  auto same = [](const translate::Translation& expected, const translate::Translation& actual) {
    CHECK(actual.tokens == expected.tokens);
    CHECK(actual.ended == expected.ended);
    CHECK(std::abs(actual.log_probability - expected.log_probability) <=
          kLossTolerance * std::max(1.0, std::abs(expected.log_probability)));
    REQUIRE(actual.attention.defined() == expected.attention.defined());
    if (!expected.attention.defined()) return;
    CHECK(actual.attention.device() == kCPU);  // translations are read on the host
    CHECK(relative_error(expected.attention, actual.attention) <= kLossTolerance);
  };
  const std::vector<translate::Translation> cpu_greedy = translate::translate_batch(cpu_model, cpu_batch, 1, 12);
  const std::vector<translate::Translation> gpu_greedy = translate::translate_batch(gpu_model, gpu_batch, 1, 12);
  REQUIRE(gpu_greedy.size() == cpu_greedy.size());
  for (size_t i = 0; i < cpu_greedy.size(); ++i) {
    INFO("greedy, sentence " << i);
    same(cpu_greedy[i], gpu_greedy[i]);
  }
  const std::vector<translate::Translation> cpu_beam = translate::translate_batch(cpu_model, cpu_batch, 3, 12);
  const std::vector<translate::Translation> gpu_beam = translate::translate_batch(gpu_model, gpu_batch, 3, 12);
  REQUIRE(gpu_beam.size() == cpu_beam.size());
  for (size_t i = 0; i < cpu_beam.size(); ++i) {
    INFO("beam 3, sentence " << i);
    same(cpu_beam[i], gpu_beam[i]);
  }
}

// The number after "key": in summary.json (−1 when missing).
double summary_number(const std::filesystem::path& file, const std::string& key) {
  std::stringstream text;
  text << std::ifstream(file).rdbuf();
  const std::string json = text.str(), quoted = "\"" + key + "\": ";
  const size_t at = json.find(quoted);
  return at == std::string::npos ? -1.0 : std::stod(json.substr(at + quoted.size()));
}

}  // namespace

TEST_CASE("GPU: CIFAR-10 SeedNet trains like on the CPU (loss, gradients, Adam)", "[cuda]") {
  require_gpu_or_skip();
  check_cifar_model("seed");
}

TEST_CASE("GPU: CIFAR-10 AttentionNet with train-mode batch norm trains like on the CPU", "[cuda]") {
  require_gpu_or_skip();
  check_cifar_model("attention");
}

TEST_CASE("GPU: the Bahdanau translator trains like on the CPU (bidirectional, padded)", "[cuda]") {
  require_gpu_or_skip();
  check_translator(translate::AttentionKind::Bahdanau, 1.0);
}

TEST_CASE("GPU: the Luong translator trains like on the CPU, also with scheduled sampling", "[cuda]") {
  require_gpu_or_skip();
  SECTION("teacher forcing") { check_translator(translate::AttentionKind::LuongGeneral, 1.0); }
  SECTION("scheduled sampling") { check_translator(translate::AttentionKind::LuongGeneral, 0.5); }
  SECTION("dot score") { check_translator(translate::AttentionKind::LuongDot, 1.0); }
}

TEST_CASE("GPU: greedy decoding and beam search give the CPU's translations", "[cuda]") {
  require_gpu_or_skip();
  SECTION("bahdanau") { check_translator_decoding(translate::AttentionKind::Bahdanau); }
  SECTION("luong") { check_translator_decoding(translate::AttentionKind::LuongGeneral); }
  SECTION("no attention") { check_translator_decoding(translate::AttentionKind::None); }
}

TEST_CASE("GPU: the translator trains, checkpoints, resumes and evaluates on the GPU", "[cuda]") {
  require_gpu_or_skip();
  translate::CorpusOptions data;
  data.task = "dates";
  data.date_train = 256;
  data.date_eval = 64;
  const translate::Corpus corpus = translate::load_corpus(data);
  translate::Seq2SeqConfig config;
  config.source_vocab = corpus.source_vocab.size();
  config.target_vocab = corpus.target_vocab.size();
  config.embed = 16;
  config.hidden = 32;
  std::map<std::string, std::string> metadata = config.to_metadata();
  for (const auto& [k, v] : data.to_metadata()) metadata[k] = v;

  focus::testing::TempDirectory dir("translate-gpu");
  translate::TrainOptions options;
  options.epochs = 1;
  options.batch_size = 32;
  options.out = dir.path();
  manual_seed(0);
  translate::Seq2Seq model(config);
  model.to(gpu());
  REQUIRE(translate::train(model, corpus, options, metadata) == 0);
  CHECK(model.device() == gpu());
  CHECK(summary_number(dir / "summary.json", "gpu_peak_mib") > 0);

  // A checkpoint written from the GPU resumes into a fresh GPU model and its optimizer.
  translate::Seq2Seq resumed(config);
  resumed.to(gpu());
  options.epochs = 2;
  options.resume = (dir / "last.safetensors").string();
  REQUIRE(translate::train(resumed, corpus, options, metadata) == 0);
  CHECK(summary_number(dir / "summary.json", "epochs") == 2);

  // The best checkpoint evaluates alike on both devices.
  translate::LoadedTranslator on_cpu = translate::load_translator(dir.path().string());
  translate::LoadedTranslator on_device = translate::load_translator(dir.path().string());
  on_device.model->to(gpu());
  const translate::Evaluation expected = translate::evaluate(*on_cpu.model, *corpus.test, corpus, 32, 1, 0);
  const translate::Evaluation actual = translate::evaluate(*on_device.model, *corpus.test, corpus, 32, 1, 0);
  CHECK(std::abs(actual.loss - expected.loss) <= kLossTolerance * std::max(1.0, expected.loss));
  // A near-tie between two logits may flip a token (of about 700) or a sentence (of 64), no more.
  CHECK(std::abs(actual.token_accuracy - expected.token_accuracy) <= 3e-3);
  CHECK(std::abs(actual.exact_match - expected.exact_match) <= 1.0 / 64);
  const translate::Evaluation beam = translate::evaluate(*on_device.model, *corpus.test, corpus, 32, 2, 0);
  CHECK(beam.sentences == expected.sentences);
}
