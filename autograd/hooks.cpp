#include "autograd/hooks.h"

#include <algorithm>
#include <stdexcept>

namespace focus {

void HookHandle::remove() {
  auto list = hooks_.lock();
  if (!list) return;
  auto& hooks = list->hooks;
  hooks.erase(std::remove_if(hooks.begin(), hooks.end(), [&](const auto& entry) { return entry.first == id_; }),
              hooks.end());
}

void run_post_accumulate_grad_hooks(const std::shared_ptr<TensorImpl>& leaf) {
  if (!leaf->post_accumulate_grad_hooks) return;
  // A snapshot: a hook may remove itself (or register another) while we iterate;
  // such changes take effect from the next backward.
  const std::vector<std::pair<uint64_t, PostAccumulateGradHook>> hooks = leaf->post_accumulate_grad_hooks->hooks;
  Tensor tensor(leaf);
  for (const auto& [id, hook] : hooks) hook(tensor);
}

HookHandle register_post_accumulate_grad_hook(const Tensor& leaf, PostAccumulateGradHook hook) {
  if (!leaf.requires_grad())
    throw std::invalid_argument(
        "register_post_accumulate_grad_hook: the tensor does not require grad, so no gradient is ever "
        "accumulated into it (call requires_grad_() first)");
  if (!leaf.is_leaf())
    throw std::invalid_argument(
        "register_post_accumulate_grad_hook: only leaf tensors accumulate a gradient; this one was produced by " +
        leaf.grad_fn_name());
  if (!hook) throw std::invalid_argument("register_post_accumulate_grad_hook: the hook is empty");
  auto& list = leaf.impl().post_accumulate_grad_hooks;
  if (!list) list = std::make_shared<PostAccumulateGradHooks>();
  uint64_t id = list->next_id++;
  list->hooks.emplace_back(id, std::move(hook));
  return HookHandle(list, id);
}

namespace autograd {

namespace {
// The innermost backward running on this thread; null outside backward().
thread_local BackwardCallbackScope* current_backward = nullptr;
}  // namespace

BackwardCallbackScope::BackwardCallbackScope() : outer_(current_backward) { current_backward = this; }

BackwardCallbackScope::~BackwardCallbackScope() { current_backward = outer_; }

void BackwardCallbackScope::run_callbacks() {
  // By index, not by iterator: a callback may queue another, which reallocates.
  for (size_t i = 0; i < callbacks_.size(); ++i) {
    std::function<void()> callback = std::move(callbacks_[i]);
    callback();
  }
  callbacks_.clear();
}

void queue_callback(std::function<void()> callback) {
  if (!current_backward)
    throw std::logic_error(
        "queue_callback: no backward is running on this thread; queue callbacks from inside a hook "
        "during backward()");
  if (!callback) throw std::invalid_argument("queue_callback: the callback is empty");
  current_backward->callbacks_.push_back(std::move(callback));
}

bool is_backward_running() { return current_backward != nullptr; }

}  // namespace autograd

}  // namespace focus
