#include "training.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "datasets/dataloader.h"
#include "datasets/distributed_sampler.h"
#include "decode.h"
#include "nn/serialize.h"
#include "optim/adam.h"
#include "optim/clip_grad.h"
#include "optim/training/training_run.h"
#include "datasets/printable_text.h"
#include "report.h"
#include "tensor/config.h"
#include "tensor/cuda/backend.h"
#include "tensor/distributed/agreement.h"
#include "tensor/distributed/dist.h"

namespace translate {

using namespace focus;
using focus::data::printable;
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
  double loss_sum = 0;
  int64_t correct_tokens = 0, total_tokens = 0, exact = 0;
  std::vector<std::vector<std::string>> candidates, references;
  const data::IndexRange part = data::evaluation_shard(dataset.size(), dist::rank(), dist::world_size());
  for (int64_t begin = part.begin; begin < part.end; begin += batch_size) {
    data::SequenceBatch batch = batch_of(dataset, begin, std::min(part.end, begin + batch_size));
    const int64_t real = target_tokens(batch);
    batch = data::to_device(std::move(batch), model.device());
    Tensor logits = model.forward(batch);
    loss_sum += sequence_loss(logits, batch.target_output).item<double>() * static_cast<double>(real);
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
        result.samples.push_back({printable(batch.source_texts[static_cast<size_t>(b)]),  // text from a file, for a log
                                  printable(batch.target_texts[static_cast<size_t>(b)]),
                                  printable(corpus.target_tokenizer.detokenize(candidate))});
      candidates.push_back(std::move(candidate));
      references.push_back(std::move(reference));
    }
  }
  result.sentences = static_cast<int64_t>(candidates.size());
  data::BleuScore bleu = data::corpus_bleu(candidates, references);
  if (dist::world_size() > 1) {
    // Every count adds up over the ranks' disjoint parts (doubles hold these integers exactly).
    std::vector<double> counts{loss_sum,
                               static_cast<double>(correct_tokens),
                               static_cast<double>(total_tokens),
                               static_cast<double>(exact),
                               static_cast<double>(result.sentences),
                               static_cast<double>(bleu.candidate_length),
                               static_cast<double>(bleu.reference_length)};
    for (int n = 0; n < 4; ++n) counts.push_back(static_cast<double>(bleu.matches[static_cast<size_t>(n)]));
    for (int n = 0; n < 4; ++n) counts.push_back(static_cast<double>(bleu.totals[static_cast<size_t>(n)]));
    Tensor summed = from_vector(counts, {static_cast<int64_t>(counts.size())});
    dist::all_reduce(summed);
    const std::vector<double> total = summed.to_vector<double>();
    auto count = [&](size_t i) { return static_cast<int64_t>(std::llround(total[i])); };
    loss_sum = total[0];
    correct_tokens = count(1), total_tokens = count(2), exact = count(3), result.sentences = count(4);
    bleu.candidate_length = count(5), bleu.reference_length = count(6);
    for (size_t n = 0; n < 4; ++n) bleu.matches[n] = count(7 + n), bleu.totals[n] = count(11 + n);
    bleu = data::bleu_from_counts(bleu);
  }
  result.loss = total_tokens ? loss_sum / static_cast<double>(total_tokens) : 0;
  result.perplexity = std::exp(result.loss);
  result.token_accuracy = total_tokens ? static_cast<double>(correct_tokens) / static_cast<double>(total_tokens) : 0;
  result.exact_match = result.sentences ? static_cast<double>(exact) / static_cast<double>(result.sentences) : 0;
  result.bleu = bleu;
  return result;
}

double train_step(Seq2Seq& model, optim::Optimizer& optimizer, const data::SequenceBatch& batch,
                  double teacher_forcing, double clip, Generator* generator, const DataParallelStep* parallel) {
  optimizer.zero_grad();
  auto forward = [&] { return model.forward(batch, teacher_forcing, generator); };
  Tensor loss = sequence_loss(parallel ? parallel->ddp->forward(forward) : forward(), batch.target_output);
  if (parallel) {
    // This rank's loss is a mean over its own tokens, and DDP averages the N ranks' gradients.
    // Scaled by N · tokens_here / tokens_everywhere, the average becomes the gradient of the mean
    // over every token of the global batch, however the tokens fell across the ranks.
    const double share = static_cast<double>(parallel->rank_tokens) * dist::world_size() /
                         static_cast<double>(parallel->global_tokens);
    (loss * share).backward();
  } else {
    loss.backward();
  }
  if (clip > 0) {
    double norm = optim::clip_grad_norm_(model.parameters(), clip, 2.0, /*error_if_nonfinite=*/false);
    if (!std::isfinite(norm)) return loss.item<double>();  // skip a step that would poison the weights
  }
  optimizer.step();
  return loss.item<double>();
}

fs::path checkpoint_file(const std::string& argument) {
  fs::path path(argument);
  // The error_code forms: a name the system refuses (too long, say) is reported like a missing file.
  std::error_code error;
  if (fs::is_directory(path, error)) path /= "best.safetensors";
  if (!fs::exists(path, error))
    throw std::runtime_error(fmt::format("checkpoint {} does not exist{} (pass a run folder holding best.safetensors, "
                                         "or a .safetensors file)",
                                         path.string(), error ? fmt::format(" ({})", error.message()) : ""));
  return path;
}

TranslatorCheckpoint read_translator_checkpoint(const fs::path& file) {
  TranslatorCheckpoint checkpoint;
  checkpoint.file = file;
  nn::SafetensorsContent content;
  try {
    // Safe to read whole: load_safetensors checks every size in the header against the bytes present.
    content = nn::load_safetensors(file.string());
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("cannot read checkpoint: {}", e.what()));  // names the file already
  }
  for (const auto& [key, value] : content.metadata)
    if (key.rfind("user/", 0) == 0) checkpoint.metadata[key.substr(5)] = value;
  if (!checkpoint.metadata.count("model.attention"))
    throw std::runtime_error(fmt::format("{}: not a translator checkpoint (no model configuration in its metadata)",
                                         file.string()));
  std::map<std::string, Shape> shapes;
  for (auto& [name, tensor] : content.tensors)
    if (name.rfind("optimizer.", 0) != 0) {
      shapes[name] = tensor.shape();
      checkpoint.weights.emplace_back(name, tensor);
    }
  try {
    checkpoint.config = Seq2SeqConfig::from_metadata(checkpoint.metadata);
    checkpoint.corpus = CorpusOptions::from_metadata(checkpoint.metadata);
    // Before anything is built: the model the metadata describes must be the one the weights are.
    checkpoint.config.check_parameter_shapes(shapes);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", file.string(), e.what()));
  }
  return checkpoint;
}

LoadedTranslator load_translator(const std::string& argument) {
  LoadedTranslator t;
  t.file = checkpoint_file(argument);
  TranslatorCheckpoint checkpoint = read_translator_checkpoint(t.file);
  const Seq2SeqConfig& config = checkpoint.config;
  t.corpus = checkpoint.corpus;
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
    t.model->load_state_dict(checkpoint.weights);
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
  // DDP makes sure every rank holds the same model (rank 0's weights) and averages the gradients;
  // on one process it does nothing. Each rank then draws its own dropout masks.
  nn::DistributedDataParallel ddp(model);
  if (dist::world_size() > 1) manual_seed(options.seed + 1000003 * static_cast<uint64_t>(dist::rank()));
  training::TrainingRun run(run_options, model, optimizer);
  if (run.resumed() && options.override_lr) {
    for (optim::ParamGroup& group : optimizer.param_groups()) group.lr = options.lr;
    if (dist::is_main()) fmt::print("learning rate set to {}\n", options.lr);
  }
  dist::on_main_rank([&] {
    corpus.source_vocab.save((run.folder() / "source_vocab.txt").string());
    corpus.target_vocab.save((run.folder() / "target_vocab.txt").string());
  });

  // Every rank cuts the same global batches of similar lengths from the seed and takes its share of
  // each, so no rank waits at the all-reduce on longer sentences; on one process these are the
  // plain length buckets.
  data::DistributedSamplerOptions sampling;
  sampling.rank = dist::rank();
  sampling.world_size = dist::world_size();
  sampling.seed = options.seed;
  data::DataLoaderOptions loader_options;
  loader_options.device = device;  // the worker queues each batch's copy while the GPU trains on the last one
  data::DataLoader<data::SentencePair, CountedBatch> loader(
      corpus.train,
      data::make_distributed_bucket_sampler(source_lengths(*corpus.train), options.batch_size, sampling),
      count_and_collate, loader_options);
  if (dist::is_main()) {
    fmt::print("{}", config());
    fmt::print("{}\n{}\n{} parameters on {}; {} steps/epoch; output in {}\n", model.summary(), corpus.description,
               model.num_parameters(), device.str(), loader.num_batches(0), run.folder().string());
    if (dist::world_size() > 1)
      fmt::print("{} ranks x {} sentences = {} sentences per step\n", dist::world_size(), options.batch_size,
                 dist::world_size() * options.batch_size);
  }

  Generator& gen = default_generator();
  auto step = [&](CountedBatch& counted) {
    if (dist::world_size() == 1)
      return training::StepReport{
          counted.tokens, {{"loss", train_step(model, optimizer, counted.batch, options.teacher_forcing, options.clip, &gen)}}};
    const DataParallelStep parallel{&ddp, counted.tokens, dist::all_reduce(counted.tokens)};
    const double loss =
        train_step(model, optimizer, counted.batch, options.teacher_forcing, options.clip, &gen, &parallel);
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
  if (dist::is_main())
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
      {"global_batch", std::to_string(dist::world_size() * options.batch_size)},
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
