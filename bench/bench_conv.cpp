// Conv2d throughput on the CIFAR-10 example's shapes, the setting of
// bench/torch/bench_conv.py: 3×3 kernels, stride 1, 'same' padding, float32,
// 2 threads (first argument), 3→32 and 32→64 channels at 32×32 and 16×16, batch
// 32 and 128, then the default AttentionNet's four shapes at batch 128. The 3-channel
// layers' input (images) needs no gradient, the others' does. Beside each, the OpenBLAS sgemm rate for the forward
// pass's product done as one GEMM over the whole batch, [C_out, C_in·9] @
// [C_in·9, N·H·W]: what the convolution would reach if im2col and the layout
// changes were free. Results go to bench/RESULTS.md. Other shapes: `bench_conv 2 IN,OUT,SIZE,BATCH ...`.
#include "tensor/openblas.h"
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/parallel.h"
#include "timing.h"

using namespace focus;

using bench::best_seconds;

int main(int argc, char** argv) {
  const int threads = bench::count_argument({argv + 1, argv + argc}, 0, 2, 1, "threads",
                                            "bench_conv [threads] [IN,OUT,SIZE,BATCH ...]");
  set_num_threads(threads);
  manual_seed(0);
  struct Case {
    int64_t in, out, size, batch;
  };
  std::vector<Case> cases;
  // Further arguments IN,OUT,SIZE,BATCH name the shapes to run instead (e.g. 128,128,7,256).
  for (int a = 2; a < argc; ++a) {
    Case c{};
    if (std::sscanf(argv[a], "%ld,%ld,%ld,%ld", &c.in, &c.out, &c.size, &c.batch) != 4) {
      fmt::print(stderr, "bench_conv: expected IN,OUT,SIZE,BATCH, got '{}'\n", argv[a]);
      return 2;
    }
    cases.push_back(c);
  }
  if (cases.empty()) {
    for (auto [in, out] : {std::pair<int64_t, int64_t>{3, 32}, {32, 64}})
      for (int64_t size : {32, 16})
        for (int64_t batch : {32, 128}) cases.push_back({in, out, size, batch});
    // The default AttentionNet's 3x3 convolutions (stages 32/128/128 after the 2x2 whitening stem).
    for (Case c : {Case{24, 32, 31, 128}, Case{32, 32, 15, 128}, Case{32, 128, 15, 128}, Case{128, 128, 7, 128}})
      cases.push_back(c);
  }

  fmt::print("focus Conv2d 3x3 'same', float32, {} threads\n", threads);
  fmt::print("{:34s} {:>8s} {:>9s} {:>8s} {:>9s} {:>10s}\n", "shape", "fwd ms", "fwd GF/s", "f+b ms", "f+b GF/s",
             "sgemm GF/s");
  for (const Case& c : cases) {
    Tensor x = randn({c.batch, c.in, c.size, c.size});
    x.requires_grad_(c.in != 3);
    Tensor weight = uniform({c.out, c.in, 3, 3}, -0.1, 0.1).requires_grad_();
    Tensor bias = uniform({c.out}, -0.1, 0.1).requires_grad_();
    const double macs = static_cast<double>(c.batch * c.out * c.size * c.size * c.in * 9);
    const double fwd_flops = 2 * macs, fb_flops = fwd_flops * (x.requires_grad() ? 3 : 2);

    const double t_fwd = best_seconds([&] {
      NoGradGuard no_grad;
      conv2d(x, weight, bias, {1, 1}, {1, 1});
    });
    Tensor ones_grad;
    const double t_fb = best_seconds([&] {
      weight.set_grad({});
      bias.set_grad({});
      x.set_grad({});
      Tensor y = conv2d(x, weight, bias, {1, 1}, {1, 1});
      if (!ones_grad.defined()) ones_grad = ones(y.shape());
      y.backward(ones_grad);
    });

    // The same product as one sgemm: [out, in·9] @ [in·9, batch·size²].
    const int64_t M = c.out, K = c.in * 9, N = c.batch * c.size * c.size;
    std::vector<float> a(M * K, 0.5f), b(K * N, 0.25f), out(M * N);
    const double t_gemm = best_seconds([&] {
      openblas().sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(M), blasint(N), blasint(K), 1.0f, a.data(),
                  blasint(K), b.data(), blasint(N), 0.0f, out.data(), blasint(N));
    });

    const std::string name = fmt::format("{}->{} {}x{} batch {}", c.in, c.out, c.size, c.size, c.batch);
    fmt::print("{:34s} {:8.2f} {:9.1f} {:8.2f} {:9.1f} {:10.1f}\n", name, t_fwd * 1e3, fwd_flops / t_fwd / 1e9,
               t_fb * 1e3, fb_flops / t_fb / 1e9, fwd_flops / t_gemm / 1e9);
  }
  return 0;
}
