// Translator training throughput, the setting of bench/torch/bench_translate.py: the
// examples/translate model (embedding 128, LSTM encoder and decoder of 256, Bahdanau
// attention, output projection to 8,000 target words), batch 64, source and target
// length 20, float32, 2 threads. One training step = teacher-forced forward, masked
// cross-entropy, backward, gradient clipping and an Adam step. Reports target tokens
// (batch × target length) per second of the best and the median of repeated steps;
// results go to bench/RESULTS.md.
//
//   bench_translate [threads=2] [steps=20] [attention=bahdanau]
#include <fmt/format.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "optim/adam.h"
#include "seq2seq.h"
#include "timing.h"
#include "tensor/parallel.h"
#include "training.h"

using namespace focus;
using namespace translate;


int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 20;
  const std::string attention = argc > 3 ? argv[3] : "bahdanau";
  set_num_threads(threads);
  const int64_t B = 64, S = 20, T = 20, V = 8000;
  manual_seed(0);
  Seq2SeqConfig config;
  config.source_vocab = config.target_vocab = V;
  config.embed = 128;
  config.hidden = 256;
  config.attention = parse_attention(attention);
  Seq2Seq model(config);
  optim::Adam adam(optim::groups_of(model));

  // Random sentences of full length (no padding), ids avoiding the four specials; T includes <eos>.
  data::SequenceBatch batch;
  batch.source = randint(4, V, {B, S});
  batch.source_lengths = full({B}, static_cast<double>(S), kInt64);
  batch.source_mask = ones({B, S}, kBool);
  batch.target_input = randint(4, V, {B, T});
  batch.target_input.narrow(1, 0, 1).fill_(1);  // <sos>
  batch.target_output = randint(4, V, {B, T});
  batch.target_lengths = full({B}, static_cast<double>(T), kInt64);
  batch.target_mask = ones({B, T}, kBool);

  std::vector<double> train = bench::sorted_timings(3, steps, [&] { train_step(model, adam, batch, 1.0, 1.0); });
  std::vector<double> forward = bench::sorted_timings(2, steps, [&] {
    NoGradGuard no_grad;
    sequence_loss(model.forward(batch), batch.target_output);
  });
  const double tokens = static_cast<double>(B * T);
  fmt::print("focus translator (B={}, S=T={}, embed 128, hidden 256, vocab {}, {} attention, float32, {} threads)\n",
             B, S, V, attention, threads);
  fmt::print("  train step: best {:7.1f} ms  median {:7.1f} ms  ->  {:7.0f} target tokens/s (best), {:7.0f} (median)\n",
             train.front() * 1e3, bench::median_of(train) * 1e3, tokens / train.front(),
             tokens / bench::median_of(train));
  fmt::print("  forward only: best {:7.1f} ms  median {:7.1f} ms\n", forward.front() * 1e3,
             bench::median_of(forward) * 1e3);
  return 0;
}
