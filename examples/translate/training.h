#pragma once
// Training and evaluating the translator: one optimisation step, a validation pass
// (loss, perplexity, BLEU, exact match), and the whole epoch loop with its checkpoints,
// metrics.csv, curves.png and summary.json.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "corpus.h"
#include "datasets/bleu.h"
#include "nn/parallel/distributed_data_parallel.h"
#include "optim/optimizer.h"
#include "seq2seq.h"

namespace translate {

/// One decoded example, for the log.
struct Sample {
  std::string source, reference, output;
};

/// How a model does on a data set.
struct Evaluation {
  double loss = 0;            ///< teacher-forced cross-entropy per target token
  double perplexity = 0;      ///< exp(loss)
  double token_accuracy = 0;  ///< teacher-forced: next token argmax correct, over real target tokens
  double exact_match = 0;     ///< decoded sentence equals the reference token for token
  focus::data::BleuScore bleu;  ///< corpus BLEU-4 of the decoded sentences against the references
  int64_t sentences = 0;
  std::vector<Sample> samples;  ///< the first few examples
};

/// Loss, token accuracy, decoding (greedy, or beam search with `beam` > 1), BLEU and exact match over
/// `dataset`. References are the target texts tokenised as in training (so words the vocabulary lacks
/// count as misses). Runs on the model's device without gradients in eval mode (the model's mode is
/// restored). On N ranks (collective) each rank decodes its data::evaluation_shard and the counts
/// (summed losses, tokens, n-gram matches) are added over the ranks: every rank gets the result for
/// the whole set, each sentence counted once; the samples are rank 0's.
Evaluation evaluate(Seq2Seq& model, const PairDataset& dataset, const Corpus& corpus, int64_t batch_size = 128,
                    int64_t beam = 1, int64_t samples = 3);

/// How one rank's step is part of a data-parallel step: the forward goes through `ddp`, and the loss
/// is scaled so that the gradient DDP averages is that of the mean over every target token of the
/// global batch (what one process training on the whole global batch computes).
struct DataParallelStep {
  focus::nn::DistributedDataParallel* ddp = nullptr;
  int64_t rank_tokens = 1;    ///< real target tokens in this rank's batch
  int64_t global_tokens = 1;  ///< the same summed over the ranks
};

/// One optimisation step on `batch` (on the model's device): teacher-forced (ratio `teacher_forcing`)
/// masked cross-entropy, backward, gradient clipping to `clip` (0 = none), optimizer step. Returns the
/// loss (per target token of `batch`). With `parallel`, one rank's part of a data-parallel step.
double train_step(Seq2Seq& model, focus::optim::Optimizer& optimizer, const focus::data::SequenceBatch& batch,
                  double teacher_forcing, double clip, focus::Generator* generator = nullptr,
                  const DataParallelStep* parallel = nullptr);

/// Options of the training loop.
struct TrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  double lr = 1e-3;
  double clip = 1.0;
  double teacher_forcing = 1.0;
  uint64_t seed = 0;
  std::filesystem::path out;  ///< the run folder
  std::string resume;         ///< a run folder or a checkpoint (last.safetensors) to continue from
  bool overwrite = false;     ///< start afresh in an `out` that holds an earlier run
  /// When resuming, use `lr` instead of the learning rate saved in the checkpoint (to fine-tune
  /// with a smaller step after the first epochs).
  bool override_lr = false;
};

/// Trains `model` on `corpus` on the model's device (move it there first: batches and the optimizer's
/// state follow it) with the library's training-run kit (optim/training/training_run.h): Adam,
/// clipping, per-epoch validation (loss, perplexity, BLEU, exact match, three samples; on a GPU also
/// its memory use), best.safetensors by validation BLEU (dates: exact match) with the vocabularies
/// beside it, last.safetensors every epoch, metrics.csv, curves.png, and at the end the best model on
/// the test set and summary.json (with the device and `gpu_peak_mib`). `metadata` goes into every
/// checkpoint. Returns the process exit code (130 or 143 when Ctrl-C or SIGTERM stopped it, after
/// saving last.safetensors). Under mpirun (after dist::init()) it is one rank of a data-parallel run:
/// `batch_size` sentences per rank, the length buckets cut into global batches and shared out, the
/// token loss normalised by the global batch's token count, and rank 0 writing the run folder.
int train(Seq2Seq& model, const Corpus& corpus, const TrainOptions& options,
          const std::map<std::string, std::string>& metadata);

/// A trained translator read back from a checkpoint, with what it needs to read and write text.
struct LoadedTranslator {
  std::unique_ptr<Seq2Seq> model;  ///< in eval mode, on the CPU (Module::to moves it)
  CorpusOptions corpus;
  focus::data::Vocab source_vocab, target_vocab;
  focus::data::Tokenizer source_tokenizer, target_tokenizer;
  std::filesystem::path file;
};
/// Loads `argument` (a run folder or a .safetensors file) and the vocabularies saved beside it.
/// Every problem (missing or corrupt file, not a translator checkpoint, vocabularies missing or
/// not matching the model) throws with a message naming the file.
LoadedTranslator load_translator(const std::string& argument);

/// The checkpoint file a `--checkpoint` argument names: the file itself, or DIR/best.safetensors.
std::filesystem::path checkpoint_file(const std::string& argument);

/// A translator checkpoint, read and checked against itself: its metadata parsed (every number whole
/// and within translator_limits.h) and the shapes of its model tensors compared with those the
/// metadata implies (Seq2SeqConfig::check_parameter_shapes), so a checkpoint whose metadata promises
/// a bigger model than its weights is refused before that model is built.
struct TranslatorCheckpoint {
  std::filesystem::path file;
  std::map<std::string, std::string> metadata;  ///< the user part, without its "user/" prefix
  Seq2SeqConfig config;
  CorpusOptions corpus;
  focus::nn::StateDict weights;  ///< the model's tensors (the optimizer's moments left out)
};
/// Reads `file`. Every problem (missing, corrupt, not a translator checkpoint, a malformed or
/// out-of-range metadata value, metadata that does not match the weights) throws
/// std::runtime_error with the file's name in front, once.
TranslatorCheckpoint read_translator_checkpoint(const std::filesystem::path& file);

}  // namespace translate
