#include "training.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "datasets/dataloader.h"
#include "decode.h"
#include "nn/serialize.h"
#include "optim/adam.h"
#include "optim/clip_grad.h"
#include "optim/training/training_run.h"
#include "report.h"
#include "tensor/config.h"
#include "tensor/cuda/backend.h"

namespace translate {

using namespace focus;
namespace fs = std::filesystem;

namespace {

// The examples [begin, end) of a dataset as one padded batch, on the host.
data::SequenceBatch batch_of(const PairDataset& dataset, int64_t begin, int64_t end) {
  std::vector<data::SentencePair> examples;
  for (int64_t i = begin; i < end; ++i) examples.push_back(dataset.get(i));
  return data::collate_sequences(std::move(examples));
}

// Real target tokens of a batch still on the host (reading them back from a GPU would wait for it).
int64_t target_tokens(const data::SequenceBatch& batch) {
  int64_t tokens = 0;
  for (int64_t n : batch.target_lengths.to_vector<int64_t>()) tokens += n;
  return tokens;
}

// A training batch with its token count, taken by the loader's worker before the batch moves
// to the model's device, so the training loop never reads it back from the GPU.
struct CountedBatch {
  data::SequenceBatch batch;
  int64_t tokens = 0;
};
CountedBatch count_and_collate(std::vector<data::SentencePair>&& examples) {
  CountedBatch counted{data::collate_sequences(std::move(examples))};
  counted.tokens = target_tokens(counted.batch);
  return counted;
}
// What DataLoaderOptions::device calls on the worker (found by argument-dependent lookup).
CountedBatch to_device(CountedBatch&& counted, Device device) {
  counted.batch = data::to_device(std::move(counted.batch), device);
  return std::move(counted);
}

// Restores a module's training flag when leaving a scope.
struct ModeGuard {
  explicit ModeGuard(nn::Module& m) : module(m), was_training(m.is_training()) {}
  ~ModeGuard() { module.train(was_training); }
  nn::Module& module;
  bool was_training;
};

}  // namespace

Evaluation evaluate(Seq2Seq& model, const PairDataset& dataset, const Corpus& corpus, int64_t batch_size,
                    int64_t beam, int64_t samples) {
  ModeGuard mode(model);
  model.eval();
  NoGradGuard no_grad;
  Evaluation result;
  training::RunningMean loss;
  int64_t correct_tokens = 0, total_tokens = 0, exact = 0;
  std::vector<std::vector<std::string>> candidates, references;
  for (int64_t begin = 0; begin < dataset.size(); begin += batch_size) {
    data::SequenceBatch batch = batch_of(dataset, begin, std::min(dataset.size(), begin + batch_size));
    const int64_t real = target_tokens(batch);
    batch = data::to_device(std::move(batch), model.device());
    Tensor logits = model.forward(batch);
    loss.add(sequence_loss(logits, batch.target_output).item<double>(), real);
    Tensor hits = eq(argmax(logits, 2), batch.target_output).to(kInt64) * batch.target_mask.to(kInt64);
    correct_tokens += sum(hits).item<int64_t>();
    total_tokens += real;

    std::vector<Translation> translations = translate_batch(model, batch, beam);
    for (int64_t b = 0; b < batch.size(); ++b) {
      std::vector<std::string> candidate =
          corpus.target_vocab.decode(translations[static_cast<size_t>(b)].tokens);
      std::vector<std::string> reference = corpus.target_tokenizer.tokenize(batch.target_texts[static_cast<size_t>(b)]);
      if (candidate == reference) ++exact;
      if (static_cast<int64_t>(result.samples.size()) < samples)
        result.samples.push_back({batch.source_texts[static_cast<size_t>(b)], batch.target_texts[static_cast<size_t>(b)],
                                  corpus.target_tokenizer.detokenize(candidate)});
      candidates.push_back(std::move(candidate));
      references.push_back(std::move(reference));
    }
  }
  result.sentences = static_cast<int64_t>(candidates.size());
  result.loss = loss.mean();
  result.perplexity = std::exp(result.loss);
  result.token_accuracy = total_tokens ? static_cast<double>(correct_tokens) / static_cast<double>(total_tokens) : 0;
  result.exact_match = result.sentences ? static_cast<double>(exact) / static_cast<double>(result.sentences) : 0;
  result.bleu = data::corpus_bleu(candidates, references);
  return result;
}

double train_step(Seq2Seq& model, optim::Optimizer& optimizer, const data::SequenceBatch& batch,
                  double teacher_forcing, double clip, Generator* generator) {
  optimizer.zero_grad();
  Tensor loss = sequence_loss(model.forward(batch, teacher_forcing, generator), batch.target_output);
  loss.backward();
  if (clip > 0) {
    double norm = optim::clip_grad_norm_(model.parameters(), clip, 2.0, /*error_if_nonfinite=*/false);
    if (!std::isfinite(norm)) return loss.item<double>();  // skip a step that would poison the weights
  }
  optimizer.step();
  return loss.item<double>();
}

fs::path checkpoint_file(const std::string& argument) {
  fs::path path(argument);
  if (fs::is_directory(path)) path /= "best.safetensors";
  if (!fs::exists(path))
    throw std::runtime_error(fmt::format("checkpoint {} does not exist (pass a run folder holding best.safetensors, "
                                         "or a .safetensors file)",
                                         path.string()));
  return path;
}

std::map<std::string, std::string> read_checkpoint_metadata(const fs::path& file) {
  nn::SafetensorsContent content;
  try {
    content = nn::load_safetensors(file.string());
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("cannot read checkpoint: {}", e.what()));
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : content.metadata)
    if (key.rfind("user/", 0) == 0) metadata[key.substr(5)] = value;
  if (!metadata.count("model.attention"))
    throw std::runtime_error(fmt::format("{}: not a translator checkpoint (no model configuration in its metadata)",
                                         file.string()));
  return metadata;
}

namespace {
// The model's tensors of a checkpoint (the optimizer's moments are stored beside them).
nn::StateDict model_weights(const fs::path& file) {
  nn::StateDict weights;
  for (auto& [name, tensor] : nn::load_safetensors(file.string()).tensors)
    if (name.rfind("optimizer.", 0) != 0) weights.emplace_back(name, tensor);
  return weights;
}
}  // namespace

LoadedTranslator load_translator(const std::string& argument) {
  LoadedTranslator t;
  t.file = checkpoint_file(argument);
  std::map<std::string, std::string> metadata = read_checkpoint_metadata(t.file);
  Seq2SeqConfig config;
  try {
    config = Seq2SeqConfig::from_metadata(metadata);
    t.corpus = CorpusOptions::from_metadata(metadata);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", t.file.string(), e.what()));
  }
  const fs::path folder = t.file.parent_path();
  t.source_vocab = data::Vocab::load((folder / "source_vocab.txt").string());
  t.target_vocab = data::Vocab::load((folder / "target_vocab.txt").string());
  if (t.source_vocab.size() != config.source_vocab || t.target_vocab.size() != config.target_vocab)
    throw std::runtime_error(fmt::format(
        "{}: the vocabularies beside it ({} source / {} target tokens) do not match the model ({} / {})",
        t.file.string(), t.source_vocab.size(), t.target_vocab.size(), config.source_vocab, config.target_vocab));
  std::tie(t.source_tokenizer, t.target_tokenizer) = task_tokenizers(t.corpus);
  t.model = std::make_unique<Seq2Seq>(config);
  try {
    t.model->load_state_dict(model_weights(t.file));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", t.file.string(), e.what()));
  }
  t.model->eval();
  return t;
}

int train(Seq2Seq& model, const Corpus& corpus, const TrainOptions& options,
          const std::map<std::string, std::string>& metadata) {
  // The caller has put the model on its device: the optimizer's moments and every batch go there too.
  const Device device = model.device();
  optim::AdamOptions adam;
  adam.lr = options.lr;
  optim::Adam optimizer(optim::groups_of(model), adam);
  const bool dates = corpus.options.task == "dates";

  training::RunOptions run_options;
  run_options.out = options.out;
  run_options.resume = options.resume;
  run_options.overwrite = options.overwrite;
  run_options.epochs = options.epochs;
  run_options.best_metric = dates ? "val_exact" : "val_bleu";
  run_options.better = training::Better::Higher;
  run_options.unit = "tok";
  run_options.throughput_column = "tokens_per_s";
  run_options.curves = {{"loss", "cross-entropy per token", {{"train", "train_loss"}, {"validation", "val_loss"}}},
                        {"validation", "BLEU / %", {{"BLEU", "val_bleu"}, {"exact match %", "val_exact", 100.0}}}};
  run_options.metadata = metadata;
  training::TrainingRun run(run_options, model, optimizer);
  if (run.resumed() && options.override_lr) {
    for (optim::ParamGroup& group : optimizer.param_groups()) group.lr = options.lr;
    fmt::print("learning rate set to {}\n", options.lr);
  }
  corpus.source_vocab.save((run.folder() / "source_vocab.txt").string());
  corpus.target_vocab.save((run.folder() / "target_vocab.txt").string());

  data::DataLoaderOptions loader_options;
  loader_options.device = device;  // the worker queues each batch's copy while the GPU trains on the last one
  data::DataLoader<data::SentencePair, CountedBatch> loader(
      corpus.train, data::make_bucket_sampler(source_lengths(*corpus.train), options.batch_size, options.seed),
      count_and_collate, loader_options);
  fmt::print("{}", config());
  fmt::print("{}\n{}\n{} parameters on {}; {} steps/epoch; output in {}\n", model.summary(), corpus.description,
             model.num_parameters(), device.str(), loader.num_batches(0), run.folder().string());

  Generator& gen = default_generator();
  auto step = [&](CountedBatch& counted) {
    const double loss = train_step(model, optimizer, counted.batch, options.teacher_forcing, options.clip, &gen);
    return training::StepReport{counted.tokens, {{"loss", loss}}};
  };
  auto validate = [&](int64_t) {
    Evaluation val = evaluate(model, *corpus.validation, corpus);
    std::string samples;
    for (const Sample& s : val.samples) samples += fmt::format("  {}\n    = {}\n    > {}\n", s.source, s.reference, s.output);
    if (device.is_cuda()) samples += fmt::format("  {}\n", cuda::memory_summary(device.index));
    return training::Validation{{{"val_loss", val.loss},
                                 {"val_perplexity", val.perplexity},
                                 {"val_bleu", val.bleu.score},
                                 {"val_exact%", val.exact_match},
                                 {"val_token_acc%", val.token_accuracy}},
                                samples};
  };
  if (int status = run.fit(loader, step, validate); status != 0) return status;

  // ---- the best checkpoint on the test set ------------------------------------------------------------
  run.load_best();
  Evaluation test = evaluate(model, *corpus.test, corpus);
  fmt::print("\ntest ({} sentences, best checkpoint): {}\nexact match {:.2f}%, loss {:.4f}, perplexity {:.2f}\n",
             test.sentences, test.bleu.to_string(), 100 * test.exact_match, test.loss, test.perplexity);
  std::map<std::string, std::string> summary{
      {"task", corpus.options.task},
      {"attention", metadata.count("model.attention") ? metadata.at("model.attention") : ""},
      {"train_tokens_per_second", fmt::format("{:.1f}", run.items_per_second())},
      {"device", device.str()},
      {"gpu_peak_mib", device.is_cuda()
                           ? fmt::format("{:.1f}", cuda::memory_stats(device.index).peak_allocated_bytes / 1048576.0)
                           : "0"},
      {"parameters", std::to_string(model.num_parameters())},
      {"test_sentences", std::to_string(test.sentences)},
      {"test_bleu", fmt::format("{:.2f}", test.bleu.score)},
      {"test_exact_match", fmt::format("{:.4f}", test.exact_match)},
      {"test_loss", fmt::format("{:.4f}", test.loss)},
      {"test_perplexity", fmt::format("{:.3f}", test.perplexity)}};
  for (const auto& [k, v] : metadata) summary.emplace(k, v);
  run.write_summary(summary);
  return 0;
}

}  // namespace translate
