// Data-parallel training steps: the same global batch on one process or split over the ranks of an
// `mpirun` job, for both examples' models. Run alone (1 process x T threads) and under mpirun (N
// processes x T/N threads) on the same machine to compare; bench/distributed.sh does both and
// records nothing by itself (results go to bench/RESULTS.md).
//
// One step = zero_grad + forward (through DistributedDataParallel) + loss + backward + Adam, on
// random data of the global batch's size divided by the world size. Printed, over `steps` timed
// steps after 3 warm-up ones (every step starts at a barrier, and a step lasts as long as its
// slowest rank):
// - the median step and the global throughput (images or target tokens per second);
// - the all-reduce alone: the median time of one all-reduce of all the gradients' bytes (buckets of
//   the same sizes, one after the other), i.e. what the step would spend waiting if nothing overlapped;
// - with --no-overlap the buckets are averaged on the backward thread (DDP's
//   overlap_communication(false)): the difference between the two runs is what overlap hides.
//
// Usage: bench_distributed cifar|translate [global_batch] [steps] [--threads T] [--no-overlap]
//        (defaults: cifar 128, translate 64; 20 steps; T = 2 / world size)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models.h"
#include "nn/functional/loss.h"
#include "nn/parallel/distributed_data_parallel.h"
#include "optim/adam.h"
#include "seq2seq.h"
#include "tensor/distributed/dist.h"
#include "tensor/parallel.h"
#include "timing.h"

using namespace focus;

namespace {

// Seconds of one call of f on the slowest rank, each call started together.
template <typename F>
double job_seconds(F&& f) {
  dist::barrier();
  const auto start = std::chrono::steady_clock::now();
  f();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return dist::all_reduce(seconds, dist::ReduceOp::Max);
}

// The median of `steps` timed calls after 3 warm-up ones.
template <typename F>
double median_job_seconds(int steps, F&& f) {
  for (int i = 0; i < 3; ++i) job_seconds(f);
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) times.push_back(job_seconds(f));
  std::sort(times.begin(), times.end());
  return bench::median_of(times);
}

// What one rank's part of a training step needs: the model behind DDP, and a step.
struct Workload {
  std::string what;
  double items_per_rank = 0;  // images or target tokens per rank and step
  std::string unit;
  std::shared_ptr<nn::Module> model;
  std::function<void(nn::DistributedDataParallel&)> step;
};

Workload cifar_workload(int64_t per_rank_batch) {
  auto model = cifar::make_model("attention");
  auto optimizer = std::make_shared<optim::AdamW>(optim::groups_of(*model));
  Tensor images = randn({per_rank_batch, 3, 32, 32});
  Tensor labels = randint(0, 10, {per_rank_batch});
  Workload w;
  w.what = fmt::format("CIFAR-10 AttentionNet, {} images per rank", per_rank_batch);
  w.items_per_rank = static_cast<double>(per_rank_batch);
  w.unit = "img";
  w.model = model;
  w.step = [=](nn::DistributedDataParallel& ddp) {
    optimizer->zero_grad();
    nn::functional::cross_entropy(ddp(images), labels).backward();
    optimizer->step();
  };
  return w;
}

// The en-fr recipe's translator (embed 128, hidden 256, bidirectional, vocabularies of 8,000) on
// full-length sentences of 10 tokens, the recipe's --max-len.
Workload translate_workload(int64_t per_rank_batch) {
  const int64_t S = 10, T = 11, V = 8000;  // T counts <eos>
  translate::Seq2SeqConfig config;
  config.source_vocab = config.target_vocab = V;
  config.embed = 128;
  config.hidden = 256;
  config.bidirectional = true;
  auto model = std::make_shared<translate::Seq2Seq>(config);
  auto optimizer = std::make_shared<optim::Adam>(optim::groups_of(*model));
  auto batch = std::make_shared<data::SequenceBatch>();
  batch->source = randint(4, V, {per_rank_batch, S});
  batch->source_lengths = full({per_rank_batch}, static_cast<double>(S), kInt64);
  batch->source_mask = ones({per_rank_batch, S}, kBool);
  batch->target_input = randint(4, V, {per_rank_batch, T});
  batch->target_input.narrow(1, 0, 1).fill_(1);  // <sos>
  batch->target_output = randint(4, V, {per_rank_batch, T});
  batch->target_lengths = full({per_rank_batch}, static_cast<double>(T), kInt64);
  batch->target_mask = ones({per_rank_batch, T}, kBool);
  Workload w;
  w.what = fmt::format("translator (en-fr recipe), {} sentences of {} tokens per rank", per_rank_batch, S);
  w.items_per_rank = static_cast<double>(per_rank_batch * T);
  w.unit = "tok";
  w.model = model;
  w.step = [=](nn::DistributedDataParallel& ddp) {
    optimizer->zero_grad();
    Tensor logits = ddp.forward([&] { return model->forward(*batch); });
    translate::sequence_loss(logits, batch->target_output).backward();
    optimizer->step();
  };
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  dist::init();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto take_flag = [&](const std::string& flag) {
    auto it = std::find(args.begin(), args.end(), flag);
    if (it == args.end()) return false;
    args.erase(it);
    return true;
  };
  const char* usage = "bench_distributed cifar|translate [global_batch] [steps] [--threads T] [--no-overlap]";
  int threads = std::max(1, 2 / dist::world_size());
  if (auto it = std::find(args.begin(), args.end(), "--threads"); it != args.end() && it + 1 != args.end()) {
    threads = bench::count_argument({*(it + 1)}, 0, 2, 1, "--threads", usage);
    args.erase(it, it + 2);
  }
  const bool overlap = !take_flag("--no-overlap");
  const std::string model_name = args.size() > 0 ? args[0] : "cifar";
  const int64_t global_batch =
      bench::count_argument(args, 1, model_name == "cifar" ? 128 : 64, 1, "global batch", usage);
  const int steps = bench::count_argument(args, 2, 20, 1, "steps", usage);
  if (global_batch % dist::world_size() != 0) {
    fmt::print(stderr, "the global batch {} does not split over {} ranks\n", global_batch, dist::world_size());
    return 1;
  }
  set_num_threads(threads);
  manual_seed(0);
  const int64_t per_rank = global_batch / dist::world_size();
  Workload work = model_name == "cifar" ? cifar_workload(per_rank) : translate_workload(per_rank);
  nn::DistributedDataParallel ddp(*work.model, nn::DistributedDataParallelOptions().overlap_communication(overlap));

  const double step = median_job_seconds(steps, [&] { work.step(ddp); });
  // The all-reduce alone, in DDP's bucket sizes, one after the other.
  std::vector<Tensor> buckets;
  for (const std::vector<int64_t>& bucket : ddp.bucket_assignment()) {
    int64_t numel = 0;
    for (int64_t index : bucket) numel += work.model->parameters()[static_cast<size_t>(index)].numel();
    buckets.push_back(zeros({numel}));
  }
  const double reduce = median_job_seconds(steps, [&] {
    for (Tensor& bucket : buckets) dist::all_reduce(bucket, dist::ReduceOp::Mean);
  });
  if (dist::is_main()) {
    const double bytes = 4.0 * static_cast<double>(work.model->num_parameters());
    fmt::print("{} | {} x {} threads | global batch {} | overlap {} | step {:.1f} ms | {:.0f} {}/s | "
               "all-reduce of {:.2f} MB in {} buckets alone {:.2f} ms\n",
               work.what, dist::world_size(), threads, global_batch, overlap ? "on" : "off", step * 1e3,
               work.items_per_rank * dist::world_size() / step, work.unit, bytes / 1e6, buckets.size(), reduce * 1e3);
  }
  return 0;
}
