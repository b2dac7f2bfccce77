// The GPU's joining, indexing, normalisation and cross-entropy kernels against the CPU's:
// the same random inputs on both devices, forward compared, then the autograd ops'
// backward from one random upstream gradient, every input gradient compared. Sizes are
// odd on purpose (not multiples of 32 or 256) and cross the thresholds where the kernels
// change strategy (warp vs block rows, flat vs slice copies, plane vs column sums).
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "focus.h"
#include "tests/cuda/cuda_check.h"
#include "tests/support.h"

using namespace focus;
using focus::testing::check_parity;
using focus::testing::gpu;
using focus::testing::kElementwiseTolerance;
using focus::testing::kReductionTolerance;
using focus::testing::random;
using focus::testing::require_gpu_or_skip;

namespace {

constexpr double kFloat64Tolerance = 1e-10;

/// One input on both devices: the same values as a CPU and a GPU leaf.
struct Both {
  Tensor cpu, gpu;
};

Both both(const Tensor& values, bool requires_grad = true) {
  Both b{values.detach().clone(), values.to(gpu()).detach()};
  if (requires_grad) {
    b.cpu.requires_grad_();
    b.gpu.requires_grad_();
  }
  return b;
}

Tensor ids(int64_t low, int64_t high, const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randint(low, high, shape, kInt64, &gen);
}

using Op = std::function<Tensor(const std::vector<Tensor>&)>;

/// op on the CPU inputs and on the GPU inputs: outputs compared, then backward from one random
/// upstream gradient and the gradients of the inputs that require grad compared.
void check_op(const std::string& what, const std::vector<Both>& inputs, const Op& op, double tolerance,
              uint64_t seed = 99) {
  std::vector<Tensor> on_cpu, on_gpu;
  for (const Both& b : inputs) {
    on_cpu.push_back(b.cpu);
    on_gpu.push_back(b.gpu);
  }
  const Tensor y_cpu = op(on_cpu), y_gpu = op(on_gpu);
  check_parity(y_cpu, y_gpu, tolerance, what + ": forward");
  if (!y_cpu.requires_grad()) return;
  const Tensor dy = random(y_cpu.shape(), seed, y_cpu.dtype());
  y_cpu.backward(dy);
  y_gpu.backward(dy.to(gpu()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].cpu.requires_grad()) continue;
    INFO(what << ": gradient of input " << i);
    REQUIRE(inputs[i].gpu.grad().defined());
    check_parity(inputs[i].cpu.grad(), inputs[i].gpu.grad(), tolerance,
                 what + ": gradient of input " + std::to_string(i));
  }
}

}  // namespace

// ---- joining --------------------------------------------------------------------------------------

TEST_CASE("cuda cat matches the CPU along dims 0, 1 and -1, with strided inputs", "[cuda][cat]") {
  require_gpu_or_skip();
  for (int64_t dim : {0, 1, -1}) {
    const std::string what = "cat dim " + std::to_string(dim);
    // The second input is a transposed view (non-contiguous); sizes differ only along dim.
    Shape a_shape{5, 7, 3}, b_shape{5, 7, 3}, c_shape{5, 7, 3};
    const int64_t d = dim < 0 ? 2 : dim;
    a_shape[d] = 2;
    c_shape[d] = 9;
    Shape b_stored = b_shape;
    std::swap(b_stored[0], b_stored[2]);
    check_op(
        what,
        {both(random(a_shape, 1, kFloat32)), both(random(b_stored, 2, kFloat32)), both(random(c_shape, 3, kFloat32))},
        [dim](const std::vector<Tensor>& in) {
          return cat({in[0], transpose(in[1], 0, 2), in[2]}, dim);
        },
        kElementwiseTolerance);
  }
}

TEST_CASE("cuda cat of many inputs, mixed dtypes, bool and int64", "[cuda][cat]") {
  require_gpu_or_skip();
  // 150 inputs: more than one launch's batch, rows of odd lengths (units narrower than 16 bytes).
  std::vector<Both> inputs;
  for (uint64_t i = 0; i < 150; ++i) inputs.push_back(both(random({3, 1 + static_cast<int64_t>(i % 5)}, i, kFloat32)));
  check_op(
      "cat of 150", inputs, [](const std::vector<Tensor>& in) { return cat(in, 1); }, kElementwiseTolerance);

  // float32 and float64 together give float64, as on the CPU.
  const Tensor a = random({4, 6}, 7, kFloat32), b = random({3, 6}, 8, kFloat64);
  check_parity(kernels::cat({a, b}, 0), kernels::cat({a.to(gpu()), b.to(gpu())}, 0), kElementwiseTolerance,
               "cat float32 + float64");
  const Tensor i1 = ids(-50, 50, {2, 5}, 9), i2 = ids(-50, 50, {2, 3}, 10);
  check_parity(kernels::cat({i1, i2}, 1), kernels::cat({i1.to(gpu()), i2.to(gpu())}, 1), 0, "cat int64");
  const Tensor m1 = kernels::gt(random({7, 3}, 11, kFloat32), zeros({1})),
               m2 = kernels::gt(random({7, 2}, 12, kFloat32), zeros({1}));
  check_parity(kernels::cat({m1, m2}, -1), kernels::cat({m1.to(gpu()), m2.to(gpu())}, -1), 0, "cat bool");
}

TEST_CASE("cuda stack matches the CPU along dims 0, 1 and -1", "[cuda][stack]") {
  require_gpu_or_skip();
  for (int64_t dim : {0, 1, -1}) {
    check_op(
        "stack dim " + std::to_string(dim),
        {both(random({6, 5}, 1, kFloat32)), both(random({5, 6}, 2, kFloat32)), both(random({6, 5}, 3, kFloat32))},
        [dim](const std::vector<Tensor>& in) {
          return stack({in[0], transpose(in[1], 0, 1), in[2]}, dim);
        },
        kElementwiseTolerance);
  }
}

// ---- indexing -------------------------------------------------------------------------------------

TEST_CASE("cuda index_select with repeated indices, and its summing backward", "[cuda][index_select]") {
  require_gpu_or_skip();
  struct Case {
    Shape shape;
    int64_t dim;
    int64_t picks;
  };
  // Slices of 45 floats (slice kernel, 4-byte units), 3, 1 and 64 floats (flat kernel; the last in
  // 16-byte units). The embedding test below covers the slice kernel with 16-byte units.
  for (const Case& c : {Case{{13, 45}, 0, 40}, Case{{9, 5, 3}, 1, 17}, Case{{6, 11}, -1, 30}, Case{{50, 64}, 0, 200}}) {
    const int64_t dim = c.dim < 0 ? static_cast<int64_t>(c.shape.size()) + c.dim : c.dim;
    const Both index = both(ids(0, c.shape[dim], {c.picks}, 5), false);  // many repeats
    check_op(
        "index_select " + shape_str(c.shape) + " dim " + std::to_string(c.dim),
        {both(random(c.shape, 6, kFloat32)), index},
        [&c](const std::vector<Tensor>& in) { return index_select(in[0], c.dim, in[1]); }, kReductionTolerance);
  }
  // A strided input and a strided index, float64.
  const Both x = both(random({8, 40}, 7, kFloat64));
  const Tensor index_values = ids(0, 40, {24}, 8);
  const Both index = both(index_values, false);
  check_op(
      "index_select of a transposed input with a strided index", {x, index},
      [](const std::vector<Tensor>& in) { return index_select(transpose(in[0], 0, 1), 0, slice(in[1], 0, 0, 24, 2)); },
      kFloat64Tolerance);
  // int64 and bool values are copied as they are.
  const Tensor ints = ids(-1000, 1000, {7, 9}, 9), pick = ids(0, 7, {11}, 10);
  check_parity(kernels::index_select(ints, 0, pick), kernels::index_select(ints.to(gpu()), 0, pick.to(gpu())), 0,
               "index_select int64");
  const Tensor mask = kernels::gt(random({7, 9}, 11, kFloat32), zeros({1}));
  check_parity(kernels::index_select(mask, 1, pick), kernels::index_select(mask.to(gpu()), 1, pick.to(gpu())), 0,
               "index_select bool");
}

TEST_CASE("cuda index_add adds repeated rows", "[cuda][index_add]") {
  require_gpu_or_skip();
  const Tensor x = random({10, 37}, 1, kFloat32), src = random({300, 37}, 2, kFloat32), index = ids(0, 10, {300}, 3);
  check_parity(kernels::index_add(x, 0, index, src), kernels::index_add(x.to(gpu()), 0, index.to(gpu()), src.to(gpu())),
               kReductionTolerance, "index_add dim 0");
  const Tensor x1 = random({4, 6, 5}, 4, kFloat64), src1 = random({4, 21, 5}, 5, kFloat64), index1 = ids(0, 6, {21}, 6);
  check_parity(kernels::index_add(x1, 1, index1, src1),
               kernels::index_add(x1.to(gpu()), 1, index1.to(gpu()), src1.to(gpu())), kFloat64Tolerance,
               "index_add dim 1");
  const Tensor xi = ids(-9, 9, {5, 3}, 7), srci = ids(-9, 9, {40, 3}, 8), indexi = ids(0, 5, {40}, 9);
  check_parity(kernels::index_add(xi, 0, indexi, srci),
               kernels::index_add(xi.to(gpu()), 0, indexi.to(gpu()), srci.to(gpu())), 0, "index_add int64");
}

TEST_CASE("cuda gather and scatter_add along dims 0 and 1", "[cuda][gather][scatter_add]") {
  require_gpu_or_skip();
  for (int64_t dim : {0, 1}) {
    // index smaller than x in the other dim, values repeating along dim.
    const Shape x_shape{9, 7}, index_shape = dim == 0 ? Shape{20, 5} : Shape{6, 15};
    const Both index = both(ids(0, x_shape[dim], index_shape, 10 + dim), false);
    check_op(
        "gather dim " + std::to_string(dim), {both(random(x_shape, 1, kFloat32)), index},
        [dim](const std::vector<Tensor>& in) { return gather(in[0], dim, in[1]); }, kReductionTolerance);
    // src larger than index (its extra elements get zero gradient).
    const Shape src_shape{index_shape[0] + 1, index_shape[1] + 2};
    check_op(
        "scatter_add dim " + std::to_string(dim),
        {both(random(x_shape, 2, kFloat32)), index, both(random(src_shape, 3, kFloat32))},
        [dim](const std::vector<Tensor>& in) { return scatter_add(in[0], dim, in[1], in[2]); }, kReductionTolerance);
  }
  // Strided x and index, a 3-D case, float64.
  const Both x = both(random({5, 6, 4}, 4, kFloat64));
  const Both index = both(ids(0, 6, {4, 9, 5}, 5), false);
  check_op(
      "gather of a permuted input with a permuted index", {x, index},
      [](const std::vector<Tensor>& in) {
        return gather(permute(in[0], {2, 1, 0}), 1, permute(in[1], {0, 1, 2}));
      },
      kFloat64Tolerance);
  check_op(
      "gather with a transposed index", {x, both(ids(0, 6, {5, 9, 4}, 6), false)},
      [](const std::vector<Tensor>& in) {
        return gather(permute(in[0], {2, 1, 0}), 1, permute(in[1], {2, 1, 0}));
      },
      kFloat64Tolerance);
}

TEST_CASE("cuda embedding forward and backward with repeated ids and padding", "[cuda][embedding]") {
  require_gpu_or_skip();
  // Small vocabulary: every id repeats; some ids are the padding row.
  check_op(
      "embedding", {both(random({23, 40}, 1, kFloat32)), both(ids(0, 23, {6, 9}, 2), false)},
      [](const std::vector<Tensor>& in) { return embedding(in[0], in[1], 4); }, kReductionTolerance);
  // A language-model-sized lookup: [B·T] = 4096 ids into [1000, 256] (16-byte units).
  check_op(
      "embedding 4096 ids", {both(random({1000, 256}, 3, kFloat32)), both(ids(0, 1000, {32, 128}, 4), false)},
      [](const std::vector<Tensor>& in) { return embedding(in[0], in[1]); }, kReductionTolerance);
}

TEST_CASE("cuda indexing reports out-of-range indices at the next copy to the host", "[cuda][index_select][errors]") {
  require_gpu_or_skip();
  const Tensor x = random({4, 3}, 1, kFloat32).to(gpu());
  const Tensor good = from_vector(std::vector<int64_t>{0, 3}, {2}).to(gpu());
  const Tensor bad = from_vector(std::vector<int64_t>{1, 9, 2}, {3}).to(gpu());
  // The copy waits for the kernel, then reports what it met (before anyone reads its zeros).
  Tensor picked = kernels::index_select(x, 0, bad);
  REQUIRE_THROWS_WITH(picked.to(kCPU), Catch::Contains("index_select: index 9 is out of range for dim 0 with size 4"));
  // Reported once: the same (zero-filled) result reads back now, and good calls go on working.
  CHECK(picked.to(kCPU).at({1, 0}) == 0.0);
  REQUIRE_NOTHROW(kernels::index_select(x, 0, good).to(kCPU));
  Tensor gathered = kernels::gather(x, 1, from_vector(std::vector<int64_t>{-1, 0}, {2, 1}).to(gpu()));
  REQUIRE_THROWS_WITH(cuda::synchronize(), Catch::Contains("gather: index -1 is out of range"));

  // Without a copy or synchronize in between, the next indexing call reports it.
  const Tensor logits = random({3, 5}, 2, kFloat32).to(gpu());
  const Tensor targets = from_vector(std::vector<int64_t>{0, 7, 2}, {3}).to(gpu());
  Tensor loss = kernels::softmax_cross_entropy(logits, targets, {}, -100, 0.0).first;
  bool reported = false;
  for (int attempt = 0; attempt < 1000 && !reported; ++attempt) {  // the kernel may still be running
    try {
      (void)kernels::index_select(x, 0, good);
    } catch (const std::out_of_range& error) {
      CHECK_THAT(error.what(), Catch::Contains("cross_entropy: target 7 is out of range"));
      reported = true;
    }
  }
  if (!reported) REQUIRE_THROWS_WITH(cuda::synchronize(), Catch::Contains("cross_entropy: target 7 is out of range"));
  CHECK(std::isnan(loss.to(kCPU).at({1})));
}

// ---- normalisation --------------------------------------------------------------------------------

TEST_CASE("cuda layer_norm with and without affine over the last 1 and 2 dims", "[cuda][layer_norm]") {
  require_gpu_or_skip();
  struct Case {
    Shape shape;
    Shape normalized;
  };
  // D = 37 and 6·7 (warp rows), 1500 (block rows).
  for (const Case& c : {Case{{5, 9, 37}, {37}}, Case{{11, 6, 7}, {6, 7}}, Case{{3, 1500}, {1500}}}) {
    for (bool affine : {false, true}) {
      const std::string what = "layer_norm " + shape_str(c.shape) + (affine ? " affine" : "");
      // Offset values: the mean must not swamp the variance.
      const Both x = both(kernels::affine(random(c.shape, 1, kFloat32), 2.0, 3.0));
      std::vector<Both> inputs{x};
      if (affine) {
        inputs.push_back(both(random(c.normalized, 2, kFloat32)));
        inputs.push_back(both(random(c.normalized, 3, kFloat32)));
      }
      const Shape normalized = c.normalized;
      check_op(
          what, inputs,
          [normalized, affine](const std::vector<Tensor>& in) {
            return affine ? layer_norm(in[0], normalized, in[1], in[2]) : layer_norm(in[0], normalized);
          },
          kReductionTolerance);
    }
  }
  // A transposed input, weight only, float64.
  check_op(
      "layer_norm of a transposed input, float64",
      {both(random({33, 8}, 4, kFloat64)), both(random({33}, 5, kFloat64))},
      [](const std::vector<Tensor>& in) { return layer_norm(transpose(in[0], 0, 1), {33}, in[1]); }, kFloat64Tolerance);
  check_op(
      "layer_norm weight without bias", {both(random({70, 19}, 6, kFloat32)), both(random({19}, 7, kFloat32))},
      [](const std::vector<Tensor>& in) { return layer_norm(in[0], {19}, in[1]); }, kReductionTolerance);
}

TEST_CASE("cuda batch_norm in training and evaluation, [N, C, H, W] and [N, C]", "[cuda][batch_norm]") {
  require_gpu_or_skip();
  // inner = 63 and 3000 (plane sums, the latter in segments), 15 and 1 (column sums).
  for (const Shape& shape : {Shape{5, 3, 7, 9}, Shape{2, 4, 50, 60}, Shape{4, 6, 3, 5}, Shape{37, 11}}) {
    const int64_t C = shape[1];
    for (bool training : {true, false}) {
      const std::string what = "batch_norm " + shape_str(shape) + (training ? " training" : " eval");
      const Tensor running_mean = random({C}, 10, kFloat32),
                   running_var = kernels::affine(kernels::abs(random({C}, 11, kFloat32)), 1.0, 0.5);
      const Tensor rm_cpu = running_mean.clone(), rv_cpu = running_var.clone();
      const Tensor rm_gpu = running_mean.to(gpu()), rv_gpu = running_var.to(gpu());
      check_op(
          what,
          {both(kernels::affine(random(shape, 1, kFloat32), 3.0, -4.0)), both(random({C}, 2, kFloat32)),
           both(random({C}, 3, kFloat32))},
          [&](const std::vector<Tensor>& in) {
            const bool on_gpu = in[0].device().is_cuda();
            return batch_norm(in[0], on_gpu ? rm_gpu : rm_cpu, on_gpu ? rv_gpu : rv_cpu, in[1], in[2], training, 0.1,
                              1e-5);
          },
          kReductionTolerance);
      check_parity(rm_cpu, rm_gpu, kReductionTolerance, what + ": running mean");
      check_parity(rv_cpu, rv_gpu, kReductionTolerance, what + ": running var");
    }
  }
  // No affine parameters, no running statistics, a strided input, float64.
  check_op(
      "batch_norm float64 of a permuted input", {both(random({6, 5, 4, 3}, 4, kFloat64))},
      [](const std::vector<Tensor>& in) {
        return batch_norm(permute(in[0], {3, 2, 1, 0}), {}, {}, {}, {}, true, 0.1, 1e-5);
      },
      kFloat64Tolerance);
}

TEST_CASE("cuda batch_norm statistics survive a large mean", "[cuda][batch_norm]") {
  require_gpu_or_skip();
  // Values around 1000 with spread 0.01: E[x²] − E[x]² would lose everything in float32.
  const Tensor x = kernels::affine(random({16, 3, 21, 23}, 1, kFloat32), 0.01, 1000.0);
  const auto [mean_cpu, var_cpu] = kernels::batch_norm_stats(x);
  const auto [mean_gpu, var_gpu] = kernels::batch_norm_stats(x.to(gpu()));
  check_parity(mean_cpu, mean_gpu, kElementwiseTolerance, "batch_norm_stats mean");
  check_parity(var_cpu, var_gpu, kReductionTolerance, "batch_norm_stats var");
  const Tensor columns = kernels::affine(random({300, 5}, 2, kFloat32), 0.01, -1000.0);
  check_parity(kernels::batch_norm_stats(columns).second, kernels::batch_norm_stats(columns.to(gpu())).second,
               kReductionTolerance, "batch_norm_stats var of [N, C]");
}

// ---- cross-entropy ------------------------------------------------------------------------------------

TEST_CASE("cuda cross_entropy with class weights, ignore_index and label smoothing", "[cuda][cross_entropy]") {
  require_gpu_or_skip();
  struct Case {
    Shape logits;
    bool weighted;
    double smoothing;
  };
  // [N, C] with C = 10 and 2000 (warp and block rows); [N, C, T] (a thread per position).
  const std::vector<Case> cases{{{37, 10}, false, 0.0},   {{37, 10}, true, 0.0},    {{37, 10}, true, 0.2},
                                {{9, 2000}, false, 0.1},  {{9, 2000}, true, 0.1},   {{5, 7, 33}, false, 0.0},
                                {{5, 7, 33}, true, 0.15}, {{3, 4, 5, 6}, true, 0.3}};
  for (const Case& c : cases) {
    const std::string what = "cross_entropy " + shape_str(c.logits) + (c.weighted ? " weighted" : "") + " smoothing " +
                             std::to_string(c.smoothing);
    Shape target_shape{c.logits[0]};
    target_shape.insert(target_shape.end(), c.logits.begin() + 2, c.logits.end());
    const int64_t C = c.logits[1];
    // Targets in [-1, C): -1 is the ignore_index here.
    const Both target = both(ids(-1, C, target_shape, 2), false);
    const Both weight = both(kernels::affine(kernels::abs(random({C}, 3, kFloat32)), 1.0, 0.1), false);
    const bool weighted = c.weighted;
    const double smoothing = c.smoothing;
    check_op(
        what, {both(kernels::affine(random(c.logits, 1, kFloat32), 4.0, 0.0)), target, weight},
        [weighted, smoothing](const std::vector<Tensor>& in) {
          return softmax_cross_entropy(in[0], in[1], weighted ? in[2] : Tensor(), -1, smoothing);
        },
        kReductionTolerance);
  }
  // float64, logits of ±1000 (the log-sum-exp must not overflow), non-contiguous logits.
  check_op(
      "cross_entropy float64 of transposed large logits",
      {both(kernels::affine(random({12, 20}, 4, kFloat64), 1000.0, 0.0)), both(ids(0, 12, {20}, 5), false)},
      [](const std::vector<Tensor>& in) { return softmax_cross_entropy(transpose(in[0], 0, 1), in[1], {}, -100, 0.1); },
      kFloat64Tolerance);
}
