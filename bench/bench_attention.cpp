// Scaled dot-product attention, forward + backward, the setting of bench/torch/bench_attention.py:
// batch 32, 8 heads, length 128 (queries and keys), head dim 32, float32, 2 threads (first argument).
// The fused op (autograd/ops/scaled_dot_product_attention.cpp) against the same attention composed
// from primitive ops (nn::functional::scaled_dot_product_attention_composed), without a mask and with
// a causal one, plus forward only; the two are timed alternately, call by call, so that both see the same
// machine load. Results go to bench/RESULTS.md.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "nn/functional/attention.h"
#include "tensor/parallel.h"
#include "timing.h"

using namespace focus;

namespace {

// Median seconds per call of f and of g, called alternately (so that both see the same machine load) for
// at least `min_reps` pairs and `min_time` seconds, after two warm-up pairs.
template <typename F, typename G>
std::pair<double, double> median_seconds(F&& f, G&& g, double min_time = 2.0, int min_reps = 10) {
  for (int i = 0; i < 2; ++i) f(), g();
  std::vector<double> f_times, g_times;
  auto seconds = [](auto&& call) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  while (static_cast<int>(f_times.size()) < min_reps || elapsed() < min_time) {
    f_times.push_back(seconds(f));
    g_times.push_back(seconds(g));
  }
  auto median = [](std::vector<double>& t) {
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  return {median(f_times), median(g_times)};
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(x[i] - y[i])));
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = bench::count_argument({argv + 1, argv + argc}, 0, 2, 1, "threads", "bench_attention [threads]");
  set_num_threads(threads);
  const int64_t B = 32, H = 8, L = 128, D = 32;
  manual_seed(0);
  Tensor q = randn({B, H, L, D}).requires_grad_();
  Tensor k = randn({B, H, L, D}).requires_grad_();
  Tensor v = randn({B, H, L, D}).requires_grad_();
  Tensor grad_output = randn({B, H, L, D});

  using Attention = std::pair<Tensor, Tensor> (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double,
                                                  bool, std::optional<double>, Generator*);
  const Attention fused = &scaled_dot_product_attention;
  const Attention composed = &nn::functional::scaled_dot_product_attention_composed;
  auto train_step = [&](Attention attention, bool causal) {
    for (Tensor* t : {&q, &k, &v}) t->set_grad({});
    attention(q, k, v, {}, 0.0, causal, std::nullopt, nullptr).first.backward(grad_output);
  };

  // Both compute the same thing (float32 round-off apart).
  train_step(fused, true);
  Tensor fused_dq = q.grad();
  train_step(composed, true);
  const double difference = max_abs_diff(fused_dq, q.grad());

  fmt::print("focus scaled dot-product attention (B={}, H={}, L=S={}, head dim {}, float32, {} threads)\n", B, H, L,
             D, threads);
  fmt::print("  fused and composed dQ agree to {:.1e}\n", difference);
  fmt::print("  {:28s} {:>10s} {:>12s} {:>8s}\n", "", "fused ms", "composed ms", "speedup");
  for (bool causal : {false, true}) {
    auto [t_fused, t_composed] =
        median_seconds([&] { train_step(fused, causal); }, [&] { train_step(composed, causal); });
    fmt::print("  {:28s} {:10.2f} {:12.2f} {:7.2f}x\n",
               causal ? "forward+backward, causal" : "forward+backward", t_fused * 1e3, t_composed * 1e3,
               t_composed / t_fused);
  }
  NoGradGuard no_grad;
  auto [f_fused, f_composed] =
      median_seconds([&] { fused(q, k, v, {}, 0.0, false, std::nullopt, nullptr); },
                     [&] { composed(q, k, v, {}, 0.0, false, std::nullopt, nullptr); });
  fmt::print("  {:28s} {:10.2f} {:12.2f} {:7.2f}x\n", "forward (no grad)", f_fused * 1e3, f_composed * 1e3,
             f_composed / f_fused);
  return 0;
}
