#pragma once
// DistributedDataParallel: one replica of a model per rank of a job (tensor/distributed/dist.h),
// each training on its own share of every batch, with gradients averaged over the ranks during
// backward — like torch.nn.parallel.DistributedDataParallel.
//
//   dist::init();
//   auto model = std::make_shared<Net>();               // same architecture on every rank
//   nn::DistributedDataParallel ddp(*model);           // rank 0's weights everywhere
//   Tensor loss = loss_fn(ddp(batch_of_this_rank), labels);
//   loss.backward();                                    // .grad = mean over ranks when it returns
//   optimizer.step();                                   // identical step on every rank
//
// How: the parameters are cut into buckets in reverse registration order (backward reaches the
// last layers first), about 1 MiB for the first and up to 25 MiB for the others, each with a
// flat buffer kept from step to step. A post-accumulate-grad hook on every parameter counts the
// gradients that are final; a complete bucket is copied into its buffer and handed to
// dist::all_reduce_async, which averages it on the communication thread while backward goes on
// with earlier layers, always in bucket order on every rank (collectives must match). The end
// of backward starts what is left: buckets whose parameters got no gradient here (a branch this
// rank did not take) contribute zeros. It then waits for every bucket and copies the means into
// the gradients. A parameter no rank used keeps no gradient, so optimizers skip it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/hooks.h"
#include "nn/module.h"
#include "tensor/distributed/work.h"

namespace focus::nn {

/// DistributedDataParallel's options with PyTorch's meanings, as chained setters.
class DistributedDataParallelOptions {
 public:
  /// The first bucket's size: small, so the first all-reduce starts early in backward.
  DistributedDataParallelOptions& first_bucket_bytes(int64_t bytes) { first_bucket_bytes_ = bytes; return *this; }
  /// The other buckets' size (PyTorch's bucket_cap_mb = 25).
  DistributedDataParallelOptions& bucket_cap_bytes(int64_t bytes) { bucket_cap_bytes_ = bytes; return *this; }
  /// Copy rank 0's buffers (BatchNorm's running statistics) to every rank before each forward.
  DistributedDataParallelOptions& broadcast_buffers(bool enabled) { broadcast_buffers_ = enabled; return *this; }
  /// Average each complete bucket in the background while backward goes on (the default). Off,
  /// each bucket is averaged on the backward thread as soon as it is complete, and backward waits
  /// for it: the same gradients, bit for bit, without the overlap (to measure what it gains).
  DistributedDataParallelOptions& overlap_communication(bool enabled) { overlap_communication_ = enabled; return *this; }

  int64_t first_bucket_bytes() const { return first_bucket_bytes_; }
  int64_t bucket_cap_bytes() const { return bucket_cap_bytes_; }
  bool broadcast_buffers() const { return broadcast_buffers_; }
  bool overlap_communication() const { return overlap_communication_; }

 private:
  int64_t first_bucket_bytes_ = int64_t{1} << 20;
  int64_t bucket_cap_bytes_ = int64_t{25} << 20;
  bool broadcast_buffers_ = true;
  bool overlap_communication_ = true;
};

class DistributedDataParallel {
 public:
  /// Checks that every rank's `module` has the same parameters and buffers (names, shapes, dtypes;
  /// an error on every rank names the first difference), copies rank 0's values to all ranks,
  /// and hooks the parameters. The module must outlive this object. On one rank there is nothing to
  /// average: it only assigns the buckets.
  explicit DistributedDataParallel(Module& module, DistributedDataParallelOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  /// The module's forward (a single-input module), after the buffer broadcast.
  Tensor operator()(const Tensor& input);
  /// Any other forward: `ddp.forward([&] { return model(source, target); })`.
  template <typename Call>
  auto forward(Call&& call) {
    before_forward();
    return call();
  }
  /// What runs before a forward: rank 0's buffers to every rank (when broadcast_buffers).
  void before_forward();

  /// While the returned guard lives, backward only accumulates this rank's gradients (no
  /// communication): gradient accumulation over micro-batches, synchronised by the first
  /// backward after the guard ends.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp) : ddp_(ddp) { ddp_.sync_enabled_ = false; }
    ~NoSync() { ddp_.sync_enabled_ = true; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& ddp_;
  };
  NoSync no_sync() { return NoSync(*this); }

  Module& module() { return module_; }
  /// The buckets as parameter indices into module().parameters() order, first reduced first.
  std::vector<std::vector<int64_t>> bucket_assignment() const;

 private:
  struct Bucket {
    std::vector<int64_t> params;   // indices into params_
    std::vector<int64_t> offsets;  // where each one's gradient starts in `buffer`
    Tensor buffer;                 // flat, the bucket's dtype and device, kept between steps
    int64_t pending = 0;           // parameters whose gradient is not final yet in this backward
    dist::Work averaging;          // the all-reduce of `buffer` in flight (overlap_communication)
  };

  void on_gradient_ready(int64_t param);
  void start_ready_buckets();
  void start_bucket(Bucket& bucket);
  void copy_mean_into_gradients(Bucket& bucket);
  void finish_backward();
  void check_same_model_on_every_rank() const;

  Module& module_;
  DistributedDataParallelOptions options_;
  std::vector<Tensor> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<Bucket> buckets_;
  std::vector<int64_t> bucket_of_;     // param index -> bucket index
  std::vector<bool> ready_;            // param index -> its gradient is final in this backward
  Tensor used_;                        // int64 [params]: how many ranks used each one (host, reused)
  std::vector<HookHandle> hooks_;
  size_t next_bucket_ = 0;             // the next bucket to start, in order
  bool sync_enabled_ = true;
  bool finish_queued_ = false;
};

}  // namespace focus::nn
