#pragma once
// dist::Work — the handle of a collective that runs while its caller goes on
// (dist::all_reduce_async), like torch.distributed's Work:
//
//   dist::Work work = dist::all_reduce_async(bucket, dist::ReduceOp::Mean);
//   ...                                  // more backward, while the ranks exchange the bucket
//   work.wait();                         // bucket holds the mean; a failed collective throws here
//
// Until wait() returns, the tensor belongs to the collective: do not read or write it.
#include <memory>

namespace focus::dist {

/// A collective in flight. Copies refer to the same collective; a default-constructed Work is
/// one that has already completed.
class Work {
 public:
  /// What each way of running a collective provides (the communication thread, NCCL).
  class Impl {
   public:
    virtual ~Impl() = default;
    /// True once wait() would return (or throw) without waiting.
    virtual bool completed() = 0;
    /// Blocks until the result is in place; rethrows the collective's error.
    virtual void wait() = 0;
  };

  Work() = default;
  explicit Work(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

  /// Returns once the result is in the tensor: for a CPU tensor, when the ranks have exchanged
  /// it; for a GPU tensor, once the GPU's compute stream is ordered after the exchange (the host
  /// does not wait). If the collective failed, throws its error, with its message, every time.
  void wait() {
    if (impl_) impl_->wait();
  }
  /// Whether the collective has finished (successfully or not), without blocking.
  bool completed() const { return !impl_ || impl_->completed(); }

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace focus::dist
