// LSTM throughput, the setting of bench/torch/bench_lstm.py: one layer, batch 64,
// input 256, hidden 256, sequence length 20, float32, 2 threads. Reports forward
// + backward (input and all parameters need gradients) and inference-only forward
// in tokens (time steps × batch) per second; results go to bench/RESULTS.md.
#include <fmt/format.h>

#include <utility>
#include <cstdlib>
#include <vector>

#include "autograd/ops.h"
#include "nn/layers/lstm.h"
#include "tensor/parallel.h"
#include "timing.h"

using namespace focus;

namespace {

// Median seconds per call of f over `iterations`, after `warmup` untimed calls.
template <typename F>
double median_seconds(int warmup, int iterations, F&& f) {
  return bench::median_of(bench::sorted_timings(warmup, iterations, std::forward<F>(f)));
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const char* usage = "bench_lstm [threads] [iterations]";
  const int threads = bench::count_argument(args, 0, 2, 1, "threads", usage);
  const int iterations = bench::count_argument(args, 1, 50, 1, "iterations", usage);
  set_num_threads(threads);
  const int64_t T = 20, B = 64, I = 256, H = 256;
  manual_seed(0);
  nn::LSTM lstm(nn::LSTMOptions(I, H));
  Tensor x = randn({T, B, I}).requires_grad_();
  Tensor grad_output = randn({T, B, H});

  const double train = median_seconds(5, iterations, [&] {
    lstm.zero_grad();
    x.set_grad({});
    lstm(x).output.backward(grad_output);
  });
  const double inference = median_seconds(5, iterations, [&] {
    NoGradGuard no_grad;
    lstm(x);
  });
  const double tokens = static_cast<double>(T * B);
  fmt::print("focus LSTM (T={}, B={}, I={}, H={}, 1 layer, float32, {} threads)\n", T, B, I, H, threads);
  fmt::print("  forward+backward: {:7.2f} ms/iter  {:9.0f} tokens/s\n", train * 1e3, tokens / train);
  fmt::print("  forward (no grad): {:6.2f} ms/iter  {:9.0f} tokens/s\n", inference * 1e3, tokens / inference);
  return 0;
}
