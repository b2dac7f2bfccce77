#include "nn/parallel/distributed_data_parallel.h"

#include <fmt/format.h>

#include <exception>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "nn/unary_module.h"
#include "tensor/distributed/dist.h"

namespace focus::nn {

namespace {

// One line per parameter and buffer: what every rank's model must agree on.
std::vector<std::string> describe(const Module& module) {
  std::vector<std::string> lines;
  for (const auto& [name, p] : module.named_parameters())
    lines.push_back(fmt::format("parameter {} {} {}", name, shape_str(p.shape()), dtype_name(p.dtype())));
  for (const auto& [name, b] : module.named_buffers())
    lines.push_back(fmt::format("buffer {} {} {}", name, shape_str(b.shape()), dtype_name(b.dtype())));
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + '\n';
  return text;
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(Module& module, DistributedDataParallelOptions options)
    : module_(module), options_(options) {
  if (options_.first_bucket_bytes() < 1 || options_.bucket_cap_bytes() < 1)
    throw std::invalid_argument("DistributedDataParallel: bucket sizes must be positive");
  dist::init();
  check_same_model_on_every_rank();
  buffers_ = module_.named_buffers();
  {
    NoGradGuard no_grad;  // rank 0's starting point everywhere, whatever each rank's seed was
    for (auto& [name, p] : module_.named_parameters()) dist::broadcast(p, 0);
    for (auto& [name, b] : buffers_) dist::broadcast(b, 0);
  }
  for (const auto& [name, p] : module_.named_parameters())
    if (p.requires_grad()) params_.push_back(p);

  // Buckets in reverse registration order, cut at the size cap and wherever dtype or device change.
  bucket_of_.assign(params_.size(), -1);
  int64_t bytes = 0;
  for (int64_t i = static_cast<int64_t>(params_.size()) - 1; i >= 0; --i) {
    const Tensor& p = params_[static_cast<size_t>(i)];
    const int64_t size = p.numel() * static_cast<int64_t>(element_size(p.dtype()));
    const int64_t cap = buckets_.size() == 1 ? options_.first_bucket_bytes() : options_.bucket_cap_bytes();
    bool start_new = buckets_.empty();
    if (!start_new) {
      const Tensor& first = params_[static_cast<size_t>(buckets_.back().params.front())];
      start_new = bytes > 0 && (bytes + size > cap || first.dtype() != p.dtype() || first.device() != p.device());
    }
    if (start_new) buckets_.emplace_back(), bytes = 0;
    Bucket& bucket = buckets_.back();
    bucket.offsets.push_back(bytes / static_cast<int64_t>(element_size(p.dtype())));
    bucket.params.push_back(i);
    bucket_of_[static_cast<size_t>(i)] = static_cast<int64_t>(buckets_.size()) - 1;
    bytes += size;
  }
  // One rank has nothing to average: no buffers (a second copy of every gradient), no hooks.
  if (dist::world_size() == 1) return;
  for (Bucket& bucket : buckets_) {
    const Tensor& last = params_[static_cast<size_t>(bucket.params.back())];
    const int64_t elements = bucket.offsets.back() + last.numel();
    bucket.buffer = zeros({elements}, TensorOptions(last.dtype()).with_device(last.device()));
  }
  ready_.assign(params_.size(), false);
  used_ = zeros({static_cast<int64_t>(params_.size())}, kInt64);
  for (size_t i = 0; i < params_.size(); ++i)
    hooks_.push_back(params_[i].register_post_accumulate_grad_hook(
        [this, i](Tensor&) { on_gradient_ready(static_cast<int64_t>(i)); }));
}

DistributedDataParallel::~DistributedDataParallel() {
  for (HookHandle& hook : hooks_) hook.remove();
}

void DistributedDataParallel::check_same_model_on_every_rank() const {
  if (dist::world_size() == 1) return;
  const std::vector<std::string> mine = describe(module_);
  const std::string reference_text = dist::broadcast(join_lines(mine), 0);
  std::vector<std::string> reference;
  for (size_t start = 0; start < reference_text.size();) {
    const size_t end = reference_text.find('\n', start);
    reference.push_back(reference_text.substr(start, end - start));
    start = end + 1;
  }
  std::string difference;
  for (size_t i = 0; i < std::max(mine.size(), reference.size()) && difference.empty(); ++i) {
    if (i >= mine.size()) difference = fmt::format("rank 0 has {} that rank {} lacks", reference[i], dist::rank());
    else if (i >= reference.size()) difference = fmt::format("rank {} has {} that rank 0 lacks", dist::rank(), mine[i]);
    else if (mine[i] != reference[i])
      difference = fmt::format("rank 0 has {} where rank {} has {}", reference[i], dist::rank(), mine[i]);
  }
  // Every rank learns which rank differs first and throws its message: none is left waiting.
  const int64_t first_bad =
      dist::all_reduce(int64_t{difference.empty() ? dist::world_size() : dist::rank()}, dist::ReduceOp::Min);
  if (first_bad == dist::world_size()) return;
  const std::string message = dist::broadcast(difference, static_cast<int>(first_bad));
  throw std::invalid_argument(
      fmt::format("DistributedDataParallel: the ranks' models differ (every rank must build the same one): {}",
                  message));
}

Tensor DistributedDataParallel::operator()(const Tensor& input) {
  auto* unary = dynamic_cast<UnaryModule*>(&module_);
  if (unary == nullptr)
    throw std::invalid_argument(fmt::format(
        "DistributedDataParallel: {} does not take one tensor; call ddp.forward([&] {{ return model(...); }})",
        module_.type_name()));
  before_forward();
  return (*unary)(input);
}

void DistributedDataParallel::before_forward() {
  // A backward that threw after its first gradient never reached its end-of-backward callback (the
  // engine drops the queue): its counts and flags must not carry over into this step, where they
  // would silently skip the averaging. Its all-reduces in flight are waited for and forgotten.
  if (finish_queued_) {
    finish_queued_ = false;
    for (Bucket& bucket : buckets_) {
      try {
        bucket.averaging.wait();
      } catch (...) {  // that step has already failed with its own error
      }
      bucket.averaging = dist::Work();
    }
  }
  if (!options_.broadcast_buffers() || dist::world_size() == 1) return;
  NoGradGuard no_grad;
  for (auto& [name, b] : buffers_) dist::broadcast(b, 0);
}

std::vector<std::vector<int64_t>> DistributedDataParallel::bucket_assignment() const {
  std::vector<std::vector<int64_t>> out;
  for (const Bucket& bucket : buckets_) out.push_back(bucket.params);
  return out;
}

void DistributedDataParallel::on_gradient_ready(int64_t param) {
  if (!sync_enabled_) return;
  if (!finish_queued_) {
    // The first gradient of this backward: start counting, and reduce the rest when it ends.
    finish_queued_ = true;
    next_bucket_ = 0;
    std::fill(ready_.begin(), ready_.end(), false);
    for (Bucket& bucket : buckets_) bucket.pending = static_cast<int64_t>(bucket.params.size());
    autograd::queue_callback([this] { finish_backward(); });
  }
  if (ready_[static_cast<size_t>(param)]) return;
  ready_[static_cast<size_t>(param)] = true;
  --buckets_[static_cast<size_t>(bucket_of_[static_cast<size_t>(param)])].pending;
  start_ready_buckets();
}

void DistributedDataParallel::start_ready_buckets() {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) start_bucket(buckets_[next_bucket_++]);
}

// grad = mean over ranks, through the bucket's flat buffer: one all-reduce for many parameters.
// The gradients are final, so they are copied now; the means go back into them once the
// all-reduce is done (at once without overlap, at the end of backward with it).
void DistributedDataParallel::start_bucket(Bucket& bucket) {
  NoGradGuard no_grad;
  for (size_t k = 0; k < bucket.params.size(); ++k) {
    const Tensor& p = params_[static_cast<size_t>(bucket.params[k])];
    Tensor slice = bucket.buffer.narrow(0, bucket.offsets[k], p.numel());
    if (p.grad().defined())
      slice.copy_(p.grad().reshape({p.numel()}));
    else
      slice.zero_();  // this rank did not use it: it adds nothing to the sum
  }
  if (options_.overlap_communication()) {
    bucket.averaging = dist::all_reduce_async(bucket.buffer, dist::ReduceOp::Mean);
  } else {
    dist::all_reduce(bucket.buffer, dist::ReduceOp::Mean);
    copy_mean_into_gradients(bucket);
  }
}

void DistributedDataParallel::copy_mean_into_gradients(Bucket& bucket) {
  NoGradGuard no_grad;
  for (size_t k = 0; k < bucket.params.size(); ++k) {
    Tensor& p = params_[static_cast<size_t>(bucket.params[k])];
    Tensor mean = bucket.buffer.narrow(0, bucket.offsets[k], p.numel()).reshape(p.shape());
    if (p.grad().defined())
      p.grad().copy_(mean);
    else
      p.set_grad(mean.clone());
  }
}

void DistributedDataParallel::finish_backward() {
  finish_queued_ = false;
  // The buckets not complete yet hold parameters this rank did not use; start them in order.
  while (next_bucket_ < buckets_.size()) start_bucket(buckets_[next_bucket_++]);
  if (options_.overlap_communication()) {
    // Every bucket is waited for, even after one failed: none is left writing into its buffer
    // while the next step fills it. The first failure is the one reported.
    std::exception_ptr failure;
    for (Bucket& bucket : buckets_) {
      try {
        bucket.averaging.wait();
        bucket.averaging = dist::Work();
        if (!failure) copy_mean_into_gradients(bucket);
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
  }
  // Which parameters some rank used: the ones no rank used must keep no gradient (one more
  // small all-reduce, after the buckets, in the same place on every rank).
  int64_t* users = static_cast<int64_t*>(used_.data_ptr());
  for (size_t i = 0; i < params_.size(); ++i) users[i] = ready_[i] ? 1 : 0;
  dist::all_reduce(used_);
  for (size_t i = 0; i < params_.size(); ++i)
    if (users[i] == 0) params_[i].set_grad({});
}

}  // namespace focus::nn
