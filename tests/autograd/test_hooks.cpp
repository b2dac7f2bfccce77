// Engine hooks: post-accumulate-grad hooks on leaves and callbacks queued for the end of backward.
#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "focus.h"

using namespace focus;

TEST_CASE("a post-accumulate-grad hook sees the summed gradient of a leaf used twice, once", "[autograd][hooks]") {
  // y = sum(x * x + 3x)  =>  dy/dx = 2x + 3, arriving along two paths (x*x and 3x)
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  std::vector<std::vector<double>> seen;
  x.register_post_accumulate_grad_hook([&](Tensor& leaf) { seen.push_back(leaf.grad().to_vector<double>()); });
  sum(x * x + x * 3.0).backward();
  REQUIRE(seen.size() == 1);
  REQUIRE(seen[0] == std::vector<double>{5.0, 7.0});
}

TEST_CASE("the hook receives the leaf itself", "[autograd][hooks]") {
  Tensor w = tensor({2.0}, {}, kFloat64).requires_grad_();
  bool same = false;
  w.register_post_accumulate_grad_hook([&](Tensor& leaf) { same = leaf.impl_ptr() == w.impl_ptr(); });
  sum(w * w).backward();
  REQUIRE(same);
}

TEST_CASE("several hooks on one leaf run in registration order", "[autograd][hooks]") {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  std::vector<int> order;
  for (int i = 0; i < 3; ++i) x.register_post_accumulate_grad_hook([&order, i](Tensor&) { order.push_back(i); });
  sum(x * 2.0).backward();
  REQUIRE(order == std::vector<int>{0, 1, 2});
}

TEST_CASE("a removed hook is no longer called, removing twice is harmless", "[autograd][hooks]") {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  std::vector<std::string> calls;
  HookHandle first = x.register_post_accumulate_grad_hook([&](Tensor&) { calls.push_back("first"); });
  x.register_post_accumulate_grad_hook([&](Tensor&) { calls.push_back("second"); });
  first.remove();
  first.remove();
  sum(x * 2.0).backward();
  REQUIRE(calls == std::vector<std::string>{"second"});
}

TEST_CASE("a hook may remove itself while running", "[autograd][hooks]") {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  int calls = 0;
  HookHandle handle;
  handle = x.register_post_accumulate_grad_hook([&](Tensor&) {
    ++calls;
    handle.remove();
  });
  sum(x * 2.0).backward();
  sum(x * 2.0).backward();
  REQUIRE(calls == 1);
}

TEST_CASE("removing a hook after its tensor is gone does nothing", "[autograd][hooks]") {
  HookHandle handle;
  {
    Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
    handle = x.register_post_accumulate_grad_hook([](Tensor&) {});
  }
  REQUIRE_NOTHROW(handle.remove());
}

TEST_CASE("a leaf whose gradient this backward does not compute gets no hook call", "[autograd][hooks]") {
  Tensor used = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor unused = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor other_branch = unused * 5.0;  // recorded, but not part of the loss
  int used_calls = 0, unused_calls = 0;
  used.register_post_accumulate_grad_hook([&](Tensor&) { ++used_calls; });
  unused.register_post_accumulate_grad_hook([&](Tensor&) { ++unused_calls; });
  sum(used * 2.0).backward();
  REQUIRE(used_calls == 1);
  REQUIRE(unused_calls == 0);
  REQUIRE_FALSE(unused.grad().defined());
}

TEST_CASE("a hook on the root leaf itself runs", "[autograd][hooks]") {
  Tensor x = tensor({4.0}, {}, kFloat64).requires_grad_();
  double seen = 0;
  x.register_post_accumulate_grad_hook([&](Tensor& leaf) { seen = leaf.grad().item<double>(); });
  x.backward();
  REQUIRE(seen == 1.0);
}

TEST_CASE("hooks only go on leaves that require grad", "[autograd][hooks]") {
  Tensor plain = tensor({1.0}, {}, kFloat64);
  REQUIRE_THROWS_WITH(plain.register_post_accumulate_grad_hook([](Tensor&) {}),
                      Catch::Contains("does not require grad"));
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor y = x * 2.0;
  REQUIRE_THROWS_WITH(y.register_post_accumulate_grad_hook([](Tensor&) {}),
                      Catch::Contains("only leaf tensors") && Catch::Contains("MulBackward"));
}

TEST_CASE("a callback queued from a hook runs after every hook of that backward, once", "[autograd][hooks]") {
  // Two layers' worth of parameters, as a data-parallel reducer would see them.
  Tensor w1 = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor w2 = tensor({3.0}, {}, kFloat64).requires_grad_();
  Tensor w3 = tensor({0.5}, {}, kFloat64).requires_grad_();
  std::vector<std::string> events;
  bool queued = false;
  auto hook_for = [&](const std::string& name) {
    return [&, name](Tensor&) {
      events.push_back(name);
      if (!queued) {
        queued = true;
        autograd::queue_callback([&] {
          events.push_back("callback");
          REQUIRE(autograd::is_backward_running());
        });
      }
    };
  };
  w1.register_post_accumulate_grad_hook(hook_for("w1"));
  w2.register_post_accumulate_grad_hook(hook_for("w2"));
  w3.register_post_accumulate_grad_hook(hook_for("w3"));
  Tensor loss = sum(sum(w1 * w2) * w3);
  loss.backward();
  REQUIRE(events.size() == 4);
  REQUIRE(events.back() == "callback");
  std::vector<std::string> hooks(events.begin(), events.end() - 1);
  std::sort(hooks.begin(), hooks.end());
  REQUIRE(hooks == std::vector<std::string>{"w1", "w2", "w3"});
  REQUIRE_FALSE(autograd::is_backward_running());

  // The queue was emptied: the next backward runs only what it queues itself.
  events.clear();
  queued = true;  // this time nobody queues
  sum(sum(w1 * w2) * w3).backward();
  REQUIRE(events.size() == 3);
}

TEST_CASE("callbacks run in queue order, and one may queue another", "[autograd][hooks]") {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  std::vector<int> order;
  x.register_post_accumulate_grad_hook([&](Tensor&) {
    autograd::queue_callback([&] {
      order.push_back(1);
      autograd::queue_callback([&] { order.push_back(3); });
    });
    autograd::queue_callback([&] { order.push_back(2); });
  });
  sum(x * 2.0).backward();
  REQUIRE(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("queue_callback outside backward throws", "[autograd][hooks]") {
  REQUIRE_FALSE(autograd::is_backward_running());
  REQUIRE_THROWS_WITH(autograd::queue_callback([] {}), Catch::Contains("no backward is running"));
}

TEST_CASE("an exception in a hook leaves backward, and the next backward works", "[autograd][hooks]") {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  bool fail = true;
  int callbacks = 0;
  x.register_post_accumulate_grad_hook([&](Tensor&) {
    autograd::queue_callback([&] { ++callbacks; });
    if (fail) throw std::runtime_error("hook failed");
  });
  REQUIRE_THROWS_WITH(sum(x * 2.0).backward(), "hook failed");
  REQUIRE_FALSE(autograd::is_backward_running());
  REQUIRE(callbacks == 0);  // the failed backward's callback was dropped, not carried over

  fail = false;
  x.set_grad(Tensor());
  sum(x * 3.0).backward();
  REQUIRE(x.grad().item<double>() == 3.0);
  REQUIRE(callbacks == 1);
}

TEST_CASE("an exception in a callback leaves backward, and the next backward works", "[autograd][hooks]") {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  bool fail = true;
  x.register_post_accumulate_grad_hook([&](Tensor&) {
    autograd::queue_callback([&] {
      if (fail) throw std::runtime_error("callback failed");
    });
  });
  REQUIRE_THROWS_WITH(sum(x * 2.0).backward(), "callback failed");
  REQUIRE_FALSE(autograd::is_backward_running());
  fail = false;
  REQUIRE_NOTHROW(sum(x * 2.0).backward());
  REQUIRE(x.grad().item<double>() == 4.0);
}

TEST_CASE("accumulating over two backwards calls the hook each time with the running sum", "[autograd][hooks]") {
  Tensor w = tensor({2.0}, {}, kFloat64).requires_grad_();
  std::vector<double> seen;
  w.register_post_accumulate_grad_hook([&](Tensor& leaf) { seen.push_back(leaf.grad().item<double>()); });
  sum(w * w).backward();    // d(w²)/dw = 4
  sum(w * 3.0).backward();  // + 3
  REQUIRE(seen == std::vector<double>{4.0, 7.0});
}

TEST_CASE("hooks survive the graph and Module::to, and fire on parameters of a layer", "[autograd][hooks]") {
  nn::Linear layer(nn::LinearOptions(3, 2));
  std::vector<std::string> ready;
  for (auto& [name, parameter] : layer.named_parameters())
    parameter.register_post_accumulate_grad_hook([&ready, name = name](Tensor&) { ready.push_back(name); });
  layer.to(kFloat64);
  for (int step = 0; step < 2; ++step) {
    ready.clear();
    Tensor input = ones({4, 3}, kFloat64);
    sum(layer.forward(input)).backward();
    std::sort(ready.begin(), ready.end());
    REQUIRE(ready == std::vector<std::string>{"bias", "weight"});
  }
}
