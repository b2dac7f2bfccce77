// An LSTM or GRU encoder-decoder translator with attention: trains on the synthetic date task
// or on English-French sentence pairs, translates sentences with greedy or beam search,
// and draws what the decoder looked at. The model, search, data and loop live in the
// files beside this one; this file only wires the command line to them.
//
//   translate train --task dates --out runs/dates
//   translate train --data $FOCUS_DATA/translation/eng-fra.tsv --max-len 10 --epochs 10 --device cuda
//   translate run --checkpoint runs/dates "Tuesday, June 10 2003"
//   translate eval --checkpoint runs/eng-fra --data $FOCUS_DATA/translation/eng-fra.tsv
//   mpirun -np 4 translate train --task dates --threads 1    (data-parallel: docs/distributed.md)
#include <CLI/CLI.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <new>

#include "corpus.h"
#include "datasets/data_root.h"
#include "decode.h"
#include "optim/training/training_run.h"
#include "datasets/printable_text.h"
#include "report.h"
#include "seq2seq.h"
#include "tensor/distributed/agreement.h"
#include "tensor/distributed/dist.h"
#include "tensor/generator.h"
#include "tensor/parallel.h"
#include "training.h"
#include "translator_limits.h"

using namespace focus;
using namespace translate;
namespace fs = std::filesystem;

namespace {

// Each task's documented recipe: what `translate train --task T` runs when no flag says otherwise
// (README, "The translator": the numbers were measured with these).
struct Recipe {
  int64_t embed, hidden;
  bool bidirectional;
  double dropout, lr;
  int64_t epochs, max_len, max_vocab;
};
const Recipe kDatesRecipe{32, 128, true, 0.0, 2e-3, 2, 10, 0};
const Recipe kPairsRecipe{128, 256, true, 0.1, 2e-3, 3, 10, 8000};

const char* kRecipeHelp =
    "Defaults are each task's recipe (flags override any part):\n"
    "  dates: --embed 32 --hidden 128 --bidirectional --lr 2e-3 --epochs 2: about 5 minutes on 2 cores,\n"
    "         100% exact match on the held-out test dates.\n"
    "  pairs: --max-len 10 --max-vocab 8000 --embed 128 --hidden 256 --bidirectional --dropout 0.1\n"
    "         --lr 2e-3 --epochs 3: about 9 minutes an epoch on 2 cores for the 107,859 English-French\n"
    "         training pairs of eng-fra.tsv (test BLEU 36.6 with Bahdanau attention).\n"
    "Both recipes use LSTM cells; --cell gru swaps GRU cells into the encoder and the decoder, and\n"
    "--attention chooses how the decoder scores the source (scaled-dot: h.k/sqrt(hidden) of the new state).\n"
    "Data-parallel: mpirun -np N translate train --threads T ... trains N ranks of T threads; --batch-size\n"
    "is per rank (a step sees N times as many sentences), the recipe's learning rate grows by sqrt(N)\n"
    "(an explicit --lr is used as given), and a resume needs the same N. See docs/distributed.md.";

struct Flags {
  // data
  std::string task = "dates", data, out, resume, device = "cpu";
  bool reverse = false;
  int64_t max_len = 10, max_pairs = 0, min_freq = 2, max_vocab = 0, date_train = 20000;
  // model
  int64_t embed = 128, hidden = 256, layers = 1;
  bool bidirectional = false;
  double dropout = 0.0;
  std::string attention = "bahdanau";
  std::string cell = "lstm";
  // training
  int64_t epochs = 10, batch_size = 64;
  double lr = 1e-3, teacher_forcing = 1.0, clip = 1.0;
  uint64_t seed = 0;
  int threads = 2;
  bool lr_given = false;  ///< --lr was on the command line (overrides a resumed checkpoint's rate)
  bool overwrite = false;
  // run / eval
  std::string checkpoint, plots;
  std::vector<std::string> sentences;
  int64_t beam = 1;
};

// Fills in every recipe flag the command line left out, from the task's recipe.
void apply_recipe(const CLI::App& train, Flags& f) {
  const bool pairs = f.task == "pairs" || !f.data.empty();
  const Recipe& recipe = pairs ? kPairsRecipe : kDatesRecipe;
  auto fill = [&](const char* flag, auto& value, auto recipe_value) {
    if (train.count(flag) == 0) value = recipe_value;
  };
  fill("--embed", f.embed, recipe.embed);
  fill("--hidden", f.hidden, recipe.hidden);
  fill("--bidirectional", f.bidirectional, recipe.bidirectional);
  fill("--dropout", f.dropout, recipe.dropout);
  fill("--lr", f.lr, recipe.lr);
  fill("--epochs", f.epochs, recipe.epochs);
  fill("--max-len", f.max_len, recipe.max_len);
  fill("--max-vocab", f.max_vocab, recipe.max_vocab);
}

int train_command(const Flags& f) {
  set_num_threads(f.threads);
  const Device device = Device::parse_available(f.device);
  manual_seed(f.seed);
  CorpusOptions data;
  Seq2SeqConfig config;
  if (!f.resume.empty()) {
    // A resumed run rebuilds the model and data exactly as they were (the metadata checked against
    // the weights before that model is built).
    dist::on_every_rank([&] {
      TranslatorCheckpoint checkpoint = read_translator_checkpoint(training::resume_checkpoint_file(f.resume));
      config = checkpoint.config;
      data = checkpoint.corpus;
    });
  } else {
    data.task = f.data.empty() ? f.task : "pairs";
    data.data_path = f.data;
    data.reverse = f.reverse;
    data.max_length = f.max_len;
    data.max_pairs = f.max_pairs;
    data.min_freq = f.min_freq;
    data.max_vocab = f.max_vocab;
    data.date_train = f.date_train;
    data.seed = f.seed;
    if (data.task == "pairs" && data.data_path.empty())
      data.data_path = (data::data_root() / "translation" / "eng-fra.tsv").string();
  }
  Corpus corpus;
  dist::on_every_rank([&] { corpus = load_corpus(data); });  // every rank reads and splits the same data
  if (f.resume.empty()) {
    config.source_vocab = corpus.source_vocab.size();
    config.target_vocab = corpus.target_vocab.size();
    config.embed = f.embed;
    config.hidden = f.hidden;
    config.layers = f.layers;
    config.bidirectional = f.bidirectional;
    config.dropout = f.dropout;
    config.attention = parse_attention(f.attention);
    config.cell = parse_cell(f.cell);
  }
  Seq2Seq model(config);
  model.to(device);  // before train() builds the optimizer, whose state then lives beside the parameters
  std::map<std::string, std::string> metadata = config.to_metadata();
  for (const auto& [k, v] : data.to_metadata()) metadata[k] = v;

  TrainOptions options;
  options.epochs = f.epochs;
  options.batch_size = f.batch_size;
  // The recipe's rate is for one process; N ranks take N times the sentences per step, and Adam's
  // rate grows by sqrt(N) (the square-root rule of adaptive optimizers).
  options.lr = f.lr_given ? f.lr : f.lr * std::sqrt(static_cast<double>(dist::world_size()));
  options.clip = f.clip;
  options.teacher_forcing = f.teacher_forcing;
  options.seed = f.seed;
  options.resume = f.resume;
  options.overwrite = f.overwrite;
  options.override_lr = !f.resume.empty() && f.lr_given;
  options.out = !f.out.empty() || !f.resume.empty()
                    ? fs::path(f.out)
                    : fs::path(fmt::format("runs/translate-{}-{}-{:%Y%m%d-%H%M%S}", data.task, f.attention,
                                           fmt::localtime(std::time(nullptr))));
  return train(model, corpus, options, metadata);
}

int run_command(const Flags& f) {
  if (dist::world_size() > 1) throw dist::JobError("translate run works as one process, not under mpirun", 0);
  set_num_threads(f.threads);
  const Device device = Device::parse_available(f.device);
  LoadedTranslator t = load_translator(f.checkpoint);
  t.model->to(device);
  const fs::path plots = f.plots.empty() ? t.file.parent_path() : fs::path(f.plots);
  std::error_code error;
  fs::create_directories(plots, error);
  if (error)
    throw std::runtime_error(fmt::format("cannot create the folder {} for the attention pictures: {}", plots.string(),
                                         error.message()));
  const int64_t max_source = task_max_source_length(t.corpus);
  int failures = 0;
  int64_t number = 0;
  // Each line on its own: a bad one is reported and skipped, and the next is translated.
  auto translate_line = [&](const InputLine& line) {
    ++number;
    if (line.bytes > limits::kMaxInputBytes) {
      fmt::print(stderr, "line {}: {} bytes, more than the {} a line may have: skipped\n", number, line.bytes,
                 limits::kMaxInputBytes);
      ++failures;
      return;
    }
    EncodedInput input;
    try {
      input = encode_input(line.text, t.source_tokenizer, t.source_vocab, max_source);
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "line {}: {}\n", number, e.what());
      ++failures;
      return;
    }
    for (const std::string& note : input.notes) fmt::print(stderr, "note: line {}: {}\n", number, note);
    Translation tr = beam_search(*t.model, input.ids, std::max<int64_t>(1, f.beam),
                                 default_max_length(static_cast<int64_t>(input.ids.size())));
    const std::string translation = t.target_tokenizer.detokenize(t.target_vocab.decode(tr.tokens));
    fmt::print("{}\n", data::printable(translation));
    std::fflush(stdout);  // one answer per line, as it comes, for a user typing or a program piping
    if (tr.attention.defined()) {
      // One row label per generated id, specials included, so rows and labels line up.
      std::vector<std::string> rows;
      for (int64_t id : tr.tokens) rows.push_back(t.target_vocab.token(id));
      if (tr.ended) rows.push_back(t.target_vocab.token(data::Vocab::kEos));
      fs::path png = plots / fmt::format("attention_{}.png", number);
      save_attention_png(png, tr.attention, input.tokens, rows, fmt::format("{} -> {}", line.text, translation));
      fmt::print(stderr, "attention: {}\n", png.string());
    }
  };
  if (!f.sentences.empty()) {
    for (const std::string& sentence : f.sentences)
      translate_line({sentence.substr(0, static_cast<size_t>(limits::kMaxInputBytes)),
                      static_cast<int64_t>(sentence.size())});
  } else {
    // Read as the lines come (never the whole input at once), each held to kMaxInputBytes.
    InputLine line;
    while (read_input_line(std::cin, line, limits::kMaxInputBytes)) translate_line(line);
  }
  return failures ? 1 : 0;
}

int eval_command(const Flags& f) {
  set_num_threads(f.threads);
  const Device device = Device::parse_available(f.device);
  LoadedTranslator t;
  dist::on_every_rank([&] { t = load_translator(f.checkpoint); });
  t.model->to(device);
  Corpus corpus{t.corpus, t.source_vocab, t.target_vocab, t.source_tokenizer, t.target_tokenizer,
                nullptr, nullptr, nullptr, task_max_source_length(t.corpus), ""};
  std::shared_ptr<const PairDataset> test;
  std::string what;
  // Whether --data is the file the checkpoint trained on (data.path in its metadata); a path the system
  // cannot check (missing, a name too long) is simply another file.
  auto same_file = [](const std::string& a, const std::string& b) {
    std::error_code error;
    return !a.empty() && !b.empty() && fs::equivalent(a, b, error) && !error;
  };
  dist::on_every_rank([&] {
  if (t.corpus.task == "dates" || same_file(f.data, t.corpus.data_path)) {
    if (t.corpus.task == "dates" && !f.data.empty())
      throw std::runtime_error("--data: this checkpoint was trained on the date task, whose test set is generated");
    // The training data: rebuild the same split and evaluate on its held-out test part.
    test = load_corpus(t.corpus).test;
    what = t.corpus.task == "dates" ? "held-out generated dates" : "the held-out test split of " + f.data;
  } else {
    if (f.data.empty()) throw std::runtime_error("eval needs --data PATH.tsv");
    test = load_pairs_for_eval(f.data, t.corpus, t.source_vocab, t.target_vocab);
    what = "every pair of " + f.data;
  }
  });
  Evaluation result = evaluate(*t.model, *test, corpus, f.batch_size, f.beam, 5);  // each rank a part
  if (!dist::is_main()) return 0;
  fmt::print("{} sentences ({}), {}:\n{}\nexact match {:.2f}%, loss {:.4f}, perplexity {:.2f}\n", result.sentences,
             what, f.beam > 1 ? fmt::format("beam {}", f.beam) : "greedy", result.bleu.to_string(),
             100 * result.exact_match, result.loss, result.perplexity);
  for (const Sample& s : result.samples) fmt::print("  {}\n    = {}\n    > {}\n", s.source, s.reference, s.output);
  return 0;
}


}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"focus: an LSTM or GRU encoder-decoder translator with attention"};
  app.require_subcommand(1);
  Flags f;

  CLI::App* train = app.add_subcommand(
      "train", "train a translator (every model and training flag defaults to the task's recipe, below)");
  train->add_option("--task", f.task, "dates (synthetic, the default) | pairs (a TSV file, see --data)")
      ->check(CLI::IsMember({"dates", "pairs"}));
  train->add_option("--data", f.data, "sentence pairs, one 'source<TAB>target' per line (implies --task pairs); "
                                      "default $FOCUS_DATA/translation/eng-fra.tsv");
  train->add_flag("--reverse", f.reverse, "translate the second column into the first");
  train->add_option("--max-len", f.max_len, "drop pairs with more tokens on either side")
      ->check(CLI::Range(int64_t{1}, limits::kMaxSentenceTokens));
  train->add_option("--max-pairs", f.max_pairs, "use a random sample of N pairs (0 = all)")->check(CLI::NonNegativeNumber);
  train->add_option("--min-freq", f.min_freq, "training tokens seen fewer times become <unk>")->check(CLI::PositiveNumber);
  train->add_option("--max-vocab", f.max_vocab, "largest vocabulary per side, specials included (0 = no limit)")
      ->check(CLI::Range(int64_t{0}, limits::kMaxVocab));
  train->add_option("--date-examples", f.date_train, "dates: training examples")
      ->check(CLI::Range(int64_t{1}, limits::kMaxDateExamples));
  train->add_option("--epochs", f.epochs, "training epochs")->check(CLI::PositiveNumber);
  train->add_option("--batch-size", f.batch_size, "sentence pairs per step")->check(CLI::PositiveNumber);
  train->add_option("--lr", f.lr, "Adam learning rate (with --resume: replaces the saved one)")->check(CLI::PositiveNumber);
  train->add_option("--embed", f.embed, "embedding size")->check(CLI::Range(int64_t{1}, limits::kMaxWidth));
  train->add_option("--hidden", f.hidden, "recurrent state size")->check(CLI::Range(int64_t{1}, limits::kMaxWidth));
  train->add_option("--layers", f.layers, "recurrent layers (encoder and decoder)")
      ->check(CLI::Range(int64_t{1}, limits::kMaxLayers));
  train->add_option("--cell", f.cell, "lstm (default) | gru: the recurrent cell of the encoder and the decoder")
      ->check(CLI::IsMember({"lstm", "gru"}));
  train->add_flag("--bidirectional,!--no-bidirectional", f.bidirectional,
                  "bidirectional encoder (hidden/2 per direction)");
  train->add_option("--dropout", f.dropout, "dropout on embeddings, between layers and before the output")
      ->check(CLI::Range(0.0, 0.9));
  train->add_option("--attention", f.attention,
                    "bahdanau (additive) | luong-dot (h.k) | luong-general (h.Wk) | scaled-dot (h.k/sqrt(hidden)) "
                    "| none")
      ->check(CLI::IsMember({"bahdanau", "luong-dot", "luong-general", "scaled-dot", "none"}));
  train->add_option("--teacher-forcing", f.teacher_forcing, "probability of feeding the true previous token")
      ->check(CLI::Range(0.0, 1.0));
  train->add_option("--clip", f.clip, "clip the gradient norm to this (0 = off)")->check(CLI::NonNegativeNumber);
  train->add_option("--seed", f.seed, "random seed (weights, data order, data split)");
  train->add_option("--threads", f.threads, "CPU threads")->check(CLI::PositiveNumber);
  train->add_option("--device", f.device, "cpu (default), cuda or cuda:N");
  train->add_option("--out", f.out, "run folder (default runs/translate-<task>-<attention>-<time>)");
  train->add_option("--resume", f.resume, "continue a run: its folder or a checkpoint (RUN/last.safetensors)");
  train->add_flag("--overwrite", f.overwrite, "start afresh in an --out folder that holds an earlier run");
  train->footer(std::string(kRecipeHelp) + "\n" + limits::limits_help());

  CLI::App* run = app.add_subcommand("run", "translate sentences (arguments, or lines on stdin)");
  run->add_option("--checkpoint", f.checkpoint, "run folder or .safetensors file")->required();
  run->add_option("--beam", f.beam, fmt::format("beam width (1 = greedy, at most {})", limits::kMaxBeam))
      ->check(CLI::Range(int64_t{1}, limits::kMaxBeam));
  run->add_option("--plots", f.plots, "folder for attention_<n>.png (default: the checkpoint's folder)");
  run->add_option("--threads", f.threads, "CPU threads")->check(CLI::PositiveNumber);
  run->add_option("--device", f.device, "cpu (default), cuda or cuda:N");
  run->add_option("sentences", f.sentences, "sentences to translate");
  run->footer(
      fmt::format("Each sentence (argument, or line of stdin, translated as it comes) gives one line on stdout;\n"
                  "notes and errors go to stderr as 'line N: ...'. A line of more than {} bytes is refused (its\n"
                  "number and length reported, then the next line is read; the exit status is then 1). A sentence\n"
                  "longer than the model reads (the checkpoint's --max-len; 48 characters for dates) is truncated to\n"
                  "the tokens it reads, with a note. attention_<N>.png draws at most {} x {} tokens.",
                  limits::kMaxInputBytes, limits::kMaxPictureTokens, limits::kMaxPictureTokens));

  CLI::App* eval = app.add_subcommand("eval", "test BLEU / exact match of a checkpoint");
  eval->add_option("--checkpoint", f.checkpoint, "run folder or .safetensors file")->required();
  eval->add_option("--data", f.data, "sentence pairs (the training file: its held-out test split)");
  eval->add_option("--beam", f.beam, fmt::format("beam width (1 = greedy, at most {})", limits::kMaxBeam))
      ->check(CLI::Range(int64_t{1}, limits::kMaxBeam));
  eval->add_option("--batch-size", f.batch_size, "sentences per batch")->check(CLI::PositiveNumber);
  eval->add_option("--threads", f.threads, "CPU threads")->check(CLI::PositiveNumber);
  eval->add_option("--device", f.device, "cpu (default), cuda or cuda:N");
  app.footer(limits::limits_help());

  CLI11_PARSE(app, argc, argv);
  f.lr_given = train->count("--lr") > 0;
  if (train->parsed()) apply_recipe(*train, f);
  try {
    dist::init();  // under mpirun: this process is one rank of the job; otherwise a world of one
    if (train->parsed()) return train_command(f);
    if (run->parsed()) return run_command(f);
    return eval_command(f);
  } catch (const dist::JobError& e) {  // every rank stopped here together: one message, a clean exit
    if (dist::is_main()) fmt::print(stderr, "error: {}\n", data::error_text(e));
    return 1;
  } catch (const std::exception& e) {
    // One rank alone failed: the others would wait for it forever, so it ends the whole job.
    if (dist::world_size() > 1) dist::abort(fmt::format("error: {}", data::error_text(e)));
    fmt::print(stderr, "error: {}\n", data::error_text(e));
    return 1;
  }
}
