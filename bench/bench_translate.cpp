// Translator training throughput, the setting of bench/torch/bench_translate.py: the
// examples/translate model (embedding 128, LSTM encoder and decoder of 256, Bahdanau
// attention, output projection to 8,000 target words), batch 64, source and target
// length 20, float32, 2 threads. One training step = teacher-forced forward, masked
// cross-entropy, backward, gradient clipping and an Adam step. Reports target tokens
// (batch × target length) per second of the best and the median of repeated steps;
// results go to bench/RESULTS.md. With --device cuda[:N] the same steps run on that GPU
// (each ends with cuda::synchronize() before the clock is read) and the peak GPU memory held
// by tensors during the timed training steps is printed; scripts/bench-gpu.sh compares the
// GPU figures with bench/torch/bench_translate.py's.
//
//   bench_translate [threads=2] [steps=20] [attention=bahdanau] [--device cpu|cuda[:N]] [--beam]
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "datasets/sequence_batch.h"
#include "autograd/ops.h"
#include "optim/adam.h"
#include "decode.h"
#include "seq2seq.h"
#include "timing.h"
#include "tensor/parallel.h"
#include "training.h"

using namespace focus;
using namespace translate;


int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const Device device = bench::take_device_flag(args);
  const auto beam_flag = std::find(args.begin(), args.end(), "--beam");
  const bool time_beam = beam_flag != args.end();
  if (time_beam) args.erase(beam_flag);
  const char* usage = "bench_translate [threads] [steps] [attention] [--device cpu|cuda[:N]] [--beam]";
  const int threads = bench::count_argument(args, 0, 2, 1, "threads", usage);
  const int steps = bench::count_argument(args, 1, 20, 1, "steps", usage);
  const std::string attention = args.size() > 2 ? args[2] : "bahdanau";
  set_num_threads(threads);
  const int64_t B = 64, S = 20, T = 20, V = 8000;
  manual_seed(0);
  Seq2SeqConfig config;
  config.source_vocab = config.target_vocab = V;
  config.embed = 128;
  config.hidden = 256;
  config.attention = parse_attention(attention);
  Seq2Seq model(config);
  model.to(device);  // before the optimizer, whose moments then live beside the parameters
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
  batch = data::to_device(std::move(batch), device);

  std::vector<double> train =
      bench::sorted_timings(device, 3, steps, [&] { train_step(model, adam, batch, 1.0, 1.0); });
  const double peak_mib = bench::peak_memory_mib(device);  // of the timed training steps
  std::vector<double> forward = bench::sorted_timings(device, 2, steps, [&] {
    NoGradGuard no_grad;
    sequence_loss(model.forward(batch), batch.target_output);
  });
  const double tokens = static_cast<double>(B * T);
  fmt::print("focus translator (B={}, S=T={}, embed 128, hidden 256, vocab {}, {} attention, float32, {})\n", B, S,
             V, attention, device.is_cuda() ? device.str() : fmt::format("{} threads", threads));
  fmt::print("  train step: best {:7.1f} ms  median {:7.1f} ms  ->  {:7.0f} target tokens/s (best), {:7.0f} (median)\n",
             train.front() * 1e3, bench::median_of(train) * 1e3, tokens / train.front(),
             tokens / bench::median_of(train));
  fmt::print("  forward only: best {:7.1f} ms  median {:7.1f} ms\n", forward.front() * 1e3,
             bench::median_of(forward) * 1e3);
  if (device.is_cuda()) fmt::print("  peak GPU memory (train step): {:.1f} MiB\n", peak_mib);

  // Beam search (beam 5, 20 tokens: an untrained model rarely says <eos>) over 16 of the sentences:
  // all at once (what `translate eval --beam` does) against one sentence at a time.
  if (time_beam) {
    model.eval();
    const int64_t sentences = 16, beam = 5;
    data::SequenceBatch few = batch;
    few.source = batch.source.narrow(0, 0, sentences);
    few.source_lengths = batch.source_lengths.narrow(0, 0, sentences);
    few.source_mask = batch.source_mask.narrow(0, 0, sentences);
    const Tensor host_source = few.source.to(kCPU);
    const double together = bench::sorted_timings(device, 0, 1, [&] { translate_batch(model, few, beam, T); }).front();
    const double alone = bench::sorted_timings(device, 0, 1, [&] {
      for (int64_t b = 0; b < sentences; ++b)
        beam_search(model, host_source.select(0, b).contiguous().to_vector<int64_t>(), beam, T);
    }).front();
    fmt::print("  beam search (beam {}, {} sentences): batched {:7.1f} ms, one at a time {:7.1f} ms ({:.1f}x)\n", beam,
               sentences, together * 1e3, alone * 1e3, alone / together);
  }
  return 0;
}
