// CIFAR-10 training throughput, the setting of bench/torch/bench_cifar.py: the two networks of
// examples/cifar10_attention (cifar::SeedNet, cifar::AttentionNet) in train mode, one step =
// zero_grad + forward + cross-entropy + backward + AdamW step, on random images [B, 3, 32, 32] and
// labels, batch 32 and 128, float32, 2 threads by default. Each figure is from `iterations` timed
// steps after 3 warm-up ones: the median step and the best (fastest) step, in images per second.
// With --device cuda[:N] the same steps run on that GPU (model, images and labels moved there;
// each step ends with cuda::synchronize() before the clock is read) and a last column gives the
// peak GPU memory held by tensors during the timed steps.
// Usage: bench_cifar [threads] [iterations] [seed|attention] [--device cpu|cuda[:N]] (the model
// name to time one model, e.g. under perf). Results go to bench/RESULTS.md; scripts/bench-gpu.sh
// compares the GPU figures with bench/torch/bench_cifar.py's.
#include <fmt/format.h>

#include <utility>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models.h"
#include "nn/functional/loss.h"
#include "optim/adam.h"
#include "tensor/parallel.h"
#include "timing.h"

using namespace focus;

namespace {

struct Timing {
  double median = 0, best = 0;  // seconds per call
};

// Median and fastest seconds per call of f over `iterations`, after `warmup` untimed calls.
template <typename F>
Timing time_calls(Device device, int warmup, int iterations, F&& f) {
  const std::vector<double> times = bench::sorted_timings(device, warmup, iterations, std::forward<F>(f));
  return {bench::median_of(times), times.front()};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const Device device = bench::take_device_flag(args);
  const char* usage = "bench_cifar [threads] [iterations] [seed|attention] [--device cpu|cuda[:N]]";
  const int threads = bench::count_argument(args, 0, 2, 1, "threads", usage);
  const int iterations = bench::count_argument(args, 1, 20, 1, "iterations", usage);
  const std::string only = args.size() > 2 ? args[2] : "";
  set_num_threads(threads);
  fmt::print("focus CIFAR-10 training step (zero_grad + forward + cross-entropy + backward + AdamW), float32, "
             "{}, {} timed steps\n",
             device.is_cuda() ? device.str() : fmt::format("{} threads", threads), iterations);
  fmt::print("{:<14} {:>5} {:>9} {:>14} {:>13} {:>12}{}\n", "model", "batch", "params", "ms/step (med)",
             "img/s (med)", "img/s (best)", device.is_cuda() ? fmt::format(" {:>9}", "peak MiB") : "");
  for (const std::string name : {"seed", "attention"}) {
    if (!only.empty() && name != only) continue;
    for (int64_t batch : {32, 128}) {
      manual_seed(0);
      std::shared_ptr<cifar::Classifier> model = cifar::make_model(name);
      model->train();
      model->to(device);  // before the optimizer, whose moments then live beside the parameters
      optim::AdamW optimizer(optim::groups_of(*model));  // lr 1e-3, weight decay 0.01, as torch.optim.AdamW
      Tensor images = randn({batch, 3, 32, 32}).to(device);
      Tensor labels = randint(0, 10, {batch}).to(device);
      const Timing t = time_calls(device, 3, iterations, [&] {
        optimizer.zero_grad();
        Tensor loss = nn::functional::cross_entropy((*model)(images), labels);
        loss.backward();
        optimizer.step();
      });
      const double images_per_step = static_cast<double>(batch);
      fmt::print("{:<14} {:>5} {:>9} {:>14.1f} {:>13.0f} {:>12.0f}{}\n", model->type_name(), batch,
                 model->num_parameters(), t.median * 1e3, images_per_step / t.median, images_per_step / t.best,
                 device.is_cuda() ? fmt::format(" {:>9.1f}", bench::peak_memory_mib(device)) : "");
    }
  }
  return 0;
}
