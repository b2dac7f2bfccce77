#pragma once
// Hooks into the backward engine, for code that must act on gradients while
// backward() is still running rather than after it returns.
//
// What they are for: data-parallel training. Each process computes gradients
// on its own share of the batch, and the processes must average every
// parameter's .grad (an all-reduce) before the optimizer steps. Waiting for
// backward() to return and then reducing everything leaves the network idle
// during backward and the CPU/GPU idle during the reduction. Instead, as
// PyTorch's DistributedDataParallel does:
//   1. a post-accumulate-grad hook on every parameter tells the reducer "this
//      .grad is final for this backward"; once a bucket of parameters is
//      complete, its all-reduce starts while backward goes on with earlier layers;
//   2. the first such hook queues a callback, which runs when the engine has
//      finished every node, and waits for the outstanding reductions, so that
//      when backward() returns all gradients are averaged.
// Parameters that got no gradient in this backward (a branch not taken) fire
// no hook: the callback is where a reducer notices them.
//
//   HookHandle handle = weight.register_post_accumulate_grad_hook([&](Tensor& w) {
//     reducer.mark_ready(w);                               // w.grad() is final here
//     if (!queued) { queued = true; autograd::queue_callback([&] { reducer.finish(); }); }
//   });
//   ...
//   handle.remove();
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace focus {

/// A callback run on a leaf tensor right after the engine has added this
/// backward's gradient into its .grad (`leaf.grad()` holds the sum so far).
using PostAccumulateGradHook = std::function<void(Tensor& leaf)>;

/// The hooks registered on one leaf, in registration order. Lives in the leaf's
/// TensorImpl (slot `post_accumulate_grad_hooks`), so it outlives any one graph.
struct PostAccumulateGradHooks {
  std::vector<std::pair<uint64_t, PostAccumulateGradHook>> hooks;  // (id, hook)
  uint64_t next_id = 0;
};

/// What register_post_accumulate_grad_hook returns: remove() unregisters the
/// hook. Like PyTorch's RemovableHandle, dropping the handle keeps the hook;
/// copies refer to the same hook; remove() is a no-op the second time, and
/// after the tensor is gone.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<PostAccumulateGradHooks> hooks, uint64_t id) : hooks_(std::move(hooks)), id_(id) {}
  /// Unregisters the hook. Safe to call from inside the hook itself.
  void remove();

 private:
  std::weak_ptr<PostAccumulateGradHooks> hooks_;
  uint64_t id_ = 0;
};

/// Registers `hook` on `leaf` (a leaf tensor that requires grad); the body of
/// Tensor::register_post_accumulate_grad_hook, like PyTorch's
/// `tensor.register_post_accumulate_grad_hook(hook)`.
HookHandle register_post_accumulate_grad_hook(const Tensor& leaf, PostAccumulateGradHook hook);

/// Runs a leaf's hooks in registration order (the engine's AccumulateGrad calls this).
void run_post_accumulate_grad_hooks(const std::shared_ptr<TensorImpl>& leaf);

namespace autograd {

/// Queues `callback` to run once when the backward now running has finished
/// all its nodes, before backward() returns (PyTorch:
/// `Variable._execution_engine.queue_callback`). Call it from inside a hook.
/// Callbacks run in the order queued, a callback may queue more, and the queue
/// is empty again for the next backward. Throws std::logic_error when no
/// backward is running on this thread.
void queue_callback(std::function<void()> callback);

/// True while this thread is inside backward() (in a node, a hook or a callback).
bool is_backward_running();

/// For the engine: while alive, this thread is running a backward with its own,
/// empty callback queue. A backward started from inside a hook gets a queue of
/// its own, and the outer one is restored when it ends, by return or by exception,
/// so a failed backward leaves nothing queued for the next.
class BackwardCallbackScope {
 public:
  BackwardCallbackScope();
  ~BackwardCallbackScope();
  BackwardCallbackScope(const BackwardCallbackScope&) = delete;
  BackwardCallbackScope& operator=(const BackwardCallbackScope&) = delete;
  /// Runs the queued callbacks in order, including any queued while they run.
  void run_callbacks();

 private:
  friend void queue_callback(std::function<void()> callback);
  std::vector<std::function<void()>> callbacks_;
  BackwardCallbackScope* outer_;
};

}  // namespace autograd

}  // namespace focus
