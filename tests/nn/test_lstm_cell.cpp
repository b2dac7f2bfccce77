// The fused lstm_cell op (autograd/ops/lstm_cell.cpp, kernels in tensor/cpu/lstm.cpp)
// and the LSTMCell layer (nn/layers/lstm_cell.h).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "nn/gradcheck.h"
#include "nn/layers/lstm_cell.h"
#include "tensor/kernels.h"
#include "../support.h"

using namespace focus;
using focus::testing::max_abs_diff;

namespace {

// The same step composed from primitive ops, each with its own backward.
std::pair<Tensor, Tensor> composite_cell(const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w_ih,
                                         const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  Tensor gates = add(matmul(x, transpose(w_ih, 0, 1)), matmul(h, transpose(w_hh, 0, 1)));
  if (b_ih.defined()) gates = add(gates, b_ih);
  if (b_hh.defined()) gates = add(gates, b_hh);
  std::vector<Tensor> parts = chunk(gates, 4, 1);
  Tensor i = sigmoid(parts[0]), f = sigmoid(parts[1]), g = tanh(parts[2]), o = sigmoid(parts[3]);
  Tensor c_new = add(mul(f, c), mul(i, g));
  return {mul(o, tanh(c_new)), c_new};
}

struct CellInputs {
  Tensor x, h, c, w_ih, w_hh, b_ih, b_hh;
  std::vector<Tensor> all() const { return {x, h, c, w_ih, w_hh, b_ih, b_hh}; }
};

CellInputs random_cell(int64_t B, int64_t I, int64_t H, DType dtype, uint64_t seed) {
  Generator gen(seed);
  TensorOptions o(dtype);
  return {randn({B, I}, o, &gen),         randn({B, H}, o, &gen),         randn({B, H}, o, &gen),
          uniform({4 * H, I}, -0.6, 0.6, o, &gen), uniform({4 * H, H}, -0.6, 0.6, o, &gen),
          uniform({4 * H}, -0.5, 0.5, o, &gen),    uniform({4 * H}, -0.5, 0.5, o, &gen)};
}

double sigmoid_of(double v) { return 1.0 / (1.0 + std::exp(-v)); }

}  // namespace

TEST_CASE("lstm_cell forward matches the formula by hand for one unit", "[lstm_cell]") {
  // B = 1, I = 2, H = 1: gates are four numbers we can follow.
  Tensor x = tensor({0.5, -1.0}, {1, 2}, kFloat64);
  Tensor h = tensor({0.25}, {1, 1}, kFloat64), c = tensor({-0.75}, {1, 1}, kFloat64);
  Tensor w_ih = tensor({0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8}, {4, 2}, kFloat64);
  Tensor w_hh = tensor({0.9, -1.0, 1.1, -1.2}, {4, 1}, kFloat64);
  Tensor b_ih = tensor({0.01, 0.02, 0.03, 0.04}, {4}, kFloat64);
  Tensor b_hh = tensor({-0.05, 0.06, -0.07, 0.08}, {4}, kFloat64);
  auto [h_new, c_new] = lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh);

  const double xs[2] = {0.5, -1.0}, wi[4][2] = {{0.1, 0.2}, {-0.3, 0.4}, {0.5, -0.6}, {0.7, 0.8}};
  const double wh[4] = {0.9, -1.0, 1.1, -1.2}, bi[4] = {0.01, 0.02, 0.03, 0.04}, bh[4] = {-0.05, 0.06, -0.07, 0.08};
  double pre[4];
  for (int k = 0; k < 4; ++k) pre[k] = wi[k][0] * xs[0] + wi[k][1] * xs[1] + wh[k] * 0.25 + bi[k] + bh[k];
  const double i = sigmoid_of(pre[0]), f = sigmoid_of(pre[1]), g = std::tanh(pre[2]), o = sigmoid_of(pre[3]);
  const double expected_c = f * -0.75 + i * g, expected_h = o * std::tanh(expected_c);
  CHECK(c_new.item<double>() == Approx(expected_c).epsilon(1e-14));
  CHECK(h_new.item<double>() == Approx(expected_h).epsilon(1e-14));
}

TEST_CASE("lstm_cell forward matches the cell composed from primitive ops", "[lstm_cell]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    CellInputs in = random_cell(5, 3, 4, dtype, 7);
    auto [h_fused, c_fused] = lstm_cell(in.x, in.h, in.c, in.w_ih, in.w_hh, in.b_ih, in.b_hh);
    auto [h_ref, c_ref] = composite_cell(in.x, in.h, in.c, in.w_ih, in.w_hh, in.b_ih, in.b_hh);
    CHECK(h_fused.dtype() == dtype);
    const double tol = dtype == kFloat32 ? 1e-6 : 1e-14;
    CHECK(max_abs_diff(h_fused, h_ref) < tol);
    CHECK(max_abs_diff(c_fused, c_ref) < tol);

    // Without biases, and with only one of them.
    auto [h_nb, c_nb] = lstm_cell(in.x, in.h, in.c, in.w_ih, in.w_hh);
    CHECK(max_abs_diff(h_nb, composite_cell(in.x, in.h, in.c, in.w_ih, in.w_hh, {}, {}).first) < tol);
    auto [h_one, c_one] = lstm_cell(in.x, in.h, in.c, in.w_ih, in.w_hh, {}, in.b_hh);
    CHECK(max_abs_diff(c_one, composite_cell(in.x, in.h, in.c, in.w_ih, in.w_hh, {}, in.b_hh).second) < tol);
  }
}

TEST_CASE("lstm_cell forward is exact on large batches split across threads", "[lstm_cell]") {
  CellInputs in = random_cell(96, 40, 64, kFloat64, 11);
  auto [h_fused, c_fused] = lstm_cell(in.x, in.h, in.c, in.w_ih, in.w_hh, in.b_ih, in.b_hh);
  auto [h_ref, c_ref] = composite_cell(in.x, in.h, in.c, in.w_ih, in.w_hh, in.b_ih, in.b_hh);
  CHECK(max_abs_diff(h_fused, h_ref) < 1e-13);
  CHECK(max_abs_diff(c_fused, c_ref) < 1e-13);
}

TEST_CASE("lstm gate kernel: float nonlinearities are accurate over the whole range", "[lstm_cell][kernel]") {
  // Pre-activations from −30 to 30, dense near 0 (where tanh's relative precision is
  // hardest), in rows of H = 13 (one full vector of lanes plus a partial one).
  const int64_t B = 40, H = 13;
  std::vector<double> pre(static_cast<size_t>(B * 4 * H)), cell(static_cast<size_t>(B * H));
  for (size_t k = 0; k < pre.size(); ++k) {
    const double u = static_cast<double>(k) / static_cast<double>(pre.size()) * 2.0 - 1.0;  // [−1, 1)
    pre[k] = 30.0 * u * u * u;
  }
  for (size_t k = 0; k < cell.size(); ++k) cell[k] = std::sin(static_cast<double>(k)) * 3.0;
  Tensor gates64 = from_vector(pre, {B, 4 * H}), c64 = from_vector(cell, {B, H});
  Tensor gates32 = gates64.to(kFloat32), c32 = c64.to(kFloat32);
  auto run = [&](Tensor& gates, const Tensor& c) {
    TensorOptions o(gates.dtype());
    Tensor h_new = empty({B, H}, o), c_new = empty({B, H}, o), tanh_c = empty({B, H}, o);
    kernels::lstm_gates_forward(gates, {}, c, h_new, c_new, tanh_c);
    return std::vector<Tensor>{gates, h_new, c_new, tanh_c};
  };
  std::vector<Tensor> exact = run(gates64, c64), fast = run(gates32, c32);
  // The float path uses its own exp; the double path std::exp/std::tanh, as a reference.
  std::vector<double> g_exact = exact[0].to_vector<double>(), g_fast = fast[0].to_vector<double>();
  double worst_relative = 0;
  for (size_t k = 0; k < g_exact.size(); ++k) {
    const bool is_tanh = (k / H) % 4 == 2;
    auto activation = [&](double x) { return is_tanh ? std::tanh(x) : 1.0 / (1.0 + std::exp(-x)); };
    REQUIRE(g_exact[k] == activation(pre[k]));
    // Against the float-rounded input, so only the function's own error counts.
    const double reference = activation(static_cast<double>(static_cast<float>(pre[k])));
    if (reference != 0) worst_relative = std::max(worst_relative, std::abs(g_fast[k] - reference) / std::abs(reference));
  }
  CHECK(worst_relative < 1e-6);
  CHECK(max_abs_diff(fast[1], exact[1]) < 1e-6);
  CHECK(max_abs_diff(fast[2], exact[2]) < 1e-6);
}

TEST_CASE("lstm gate kernel: saturated gates stay finite and NaN propagates", "[lstm_cell][kernel]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    const double huge = 1e30, inf = std::numeric_limits<double>::infinity();
    Tensor gates = tensor({huge, -huge, inf, -inf, -huge, huge, -inf, inf}, {2, 4}, dtype);
    Tensor c = tensor({0.5, -0.5}, {2, 1}, dtype);
    TensorOptions o(dtype);
    Tensor h_new = empty({2, 1}, o), c_new = empty({2, 1}, o), tanh_c = empty({2, 1}, o);
    kernels::lstm_gates_forward(gates, {}, c, h_new, c_new, tanh_c);
    // Row 0: i = 1, f = 0, g = 1, o = 0 → c' = 1, h' = 0. Row 1: i = 0, f = 1, g = −1, o = 1 → c' = c, h' = tanh c.
    const std::vector<double> activated = gates.to_vector<double>(), expected = {1, 0, 1, 0, 0, 1, -1, 1};
    for (size_t k = 0; k < expected.size(); ++k) CHECK(activated[k] == Approx(expected[k]).margin(1e-30));
    CHECK(c_new.at({0, 0}) == Approx(1.0).margin(1e-30));
    CHECK(h_new.at({0, 0}) == Approx(0.0).margin(1e-30));
    CHECK(c_new.at({1, 0}) == Approx(-0.5).epsilon(1e-7));
    CHECK(h_new.at({1, 0}) == Approx(std::tanh(-0.5)).epsilon(1e-6));

    Tensor nan_gates = tensor({std::nan(""), 0, 0, 0}, {1, 4}, dtype);
    Tensor h1 = empty({1, 1}, o), c1 = empty({1, 1}, o), t1 = empty({1, 1}, o);
    kernels::lstm_gates_forward(nan_gates, {}, select(c, 0, 0).unsqueeze(0), h1, c1, t1);
    CHECK(std::isnan(c1.at({0, 0})));
    CHECK(std::isnan(h1.at({0, 0})));
  }
}

TEST_CASE("lstm gate kernels reject bad buffers, naming them", "[lstm_cell][kernel][errors]") {
  Tensor gates = zeros({2, 8}), c = zeros({2, 2}), h_new = zeros({2, 2}), c_new = zeros({2, 2}), t = zeros({2, 2});
  CHECK_THROWS_WITH(kernels::lstm_gates_forward(zeros({2, 7}), {}, c, h_new, c_new, t),
                    Catch::Contains("lstm_gates_forward: expected gates of shape [B, 4H], got [2, 7]"));
  CHECK_THROWS_WITH(kernels::lstm_gates_forward(gates, {}, zeros({2, 4}).t().contiguous().t(), h_new, c_new, t),
                    Catch::Contains("expected c to be a contiguous float32 tensor of shape [2, 2]"));
  CHECK_THROWS_WITH(kernels::lstm_gates_forward(gates, {}, c, h_new, zeros({2, 2}, kFloat64), t),
                    Catch::Contains("c_new") && Catch::Contains("float64"));
  CHECK_THROWS_WITH(kernels::lstm_gates_backward(gates, c, t, h_new, c_new, zeros({2, 4}), c),
                    Catch::Contains("lstm_gates_backward: expected d_gates to be a contiguous float32 tensor of "
                                    "shape [2, 8], got float32 [2, 4]"));
}

TEST_CASE("lstm_cell gradcheck: inputs, state and parameters", "[lstm_cell][gradcheck]") {
  CellInputs in = random_cell(3, 4, 5, kFloat64, 3);
  std::vector<Tensor> all = in.all();
  for (Tensor& t : all) t.requires_grad_();
  GradcheckOptions options;
  options.input_names = {"input", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh"};

  SECTION("h' output") {
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return lstm_cell(v[0], v[1], v[2], v[3], v[4], v[5], v[6]).first; },
                    all, options));
  }
  SECTION("c' output") {
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return lstm_cell(v[0], v[1], v[2], v[3], v[4], v[5], v[6]).second; },
                    all, options));
  }
  SECTION("both outputs together, through two chained steps") {
    auto two_steps = [](const std::vector<Tensor>& v) {
      auto [h1, c1] = lstm_cell(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
      auto [h2, c2] = lstm_cell(v[0], h1, c1, v[3], v[4], v[5], v[6]);
      return add(h2 * 2.0, c2);
    };
    CHECK(gradcheck(two_steps, all, options));
  }
  SECTION("without biases") {
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return lstm_cell(v[0], v[1], v[2], v[3], v[4]).first; },
                    {all[0], all[1], all[2], all[3], all[4]}, options));
  }
}

TEST_CASE("lstm_cell gradcheck on non-contiguous and broadcast inputs", "[lstm_cell][gradcheck]") {
  Generator gen(5);
  TensorOptions o(kFloat64);
  const int64_t B = 3, I = 4, H = 2;
  // Transposed input and weights, a strided slice of h, and c broadcast from one row
  // (a stride-0 view; expanded inside fn, so the checked leaf is the row itself).
  Tensor x = randn({I, B}, o, &gen).t().requires_grad_();
  Tensor h = slice(randn({B, 2 * H}, o, &gen), 1, 0, 2 * H, 2).requires_grad_();
  Tensor c = randn({1, H}, o, &gen).requires_grad_();
  Tensor w_ih = uniform({I, 4 * H}, -0.6, 0.6, o, &gen).t().requires_grad_();
  Tensor w_hh = uniform({H, 4 * H}, -0.6, 0.6, o, &gen).t().requires_grad_();
  Tensor b_ih = slice(uniform({8 * H}, -0.5, 0.5, o, &gen), 0, 0, 8 * H, 2).requires_grad_();
  Tensor b_hh = uniform({4 * H}, -0.5, 0.5, o, &gen).requires_grad_();
  REQUIRE_FALSE(x.is_contiguous());
  REQUIRE_FALSE(h.is_contiguous());
  REQUIRE_FALSE(w_ih.is_contiguous());
  auto both = [&](const std::vector<Tensor>& v) {
    auto [h_new, c_new] = lstm_cell(v[0], v[1], expand(v[2], {B, H}), v[3], v[4], v[5], v[6]);
    return cat({h_new, c_new}, 1);
  };
  CHECK(gradcheck(both, {x, h, c, w_ih, w_hh, b_ih, b_hh}));
}

TEST_CASE("lstm_cell gradients equal those of the composed cell", "[lstm_cell]") {
  CellInputs fused = random_cell(6, 5, 7, kFloat64, 21), reference = random_cell(6, 5, 7, kFloat64, 21);
  std::vector<Tensor> a = fused.all(), b = reference.all();
  for (Tensor& t : a) t.requires_grad_();
  for (Tensor& t : b) t.requires_grad_();
  Generator gen(99);
  Tensor dh = randn({6, 7}, kFloat64, &gen), dc = randn({6, 7}, kFloat64, &gen);

  auto [h1, c1] = lstm_cell(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
  add(sum(mul(h1, dh)), sum(mul(c1, dc))).backward();
  auto [h2, c2] = composite_cell(b[0], b[1], b[2], b[3], b[4], b[5], b[6]);
  add(sum(mul(h2, dh)), sum(mul(c2, dc))).backward();
  for (size_t k = 0; k < a.size(); ++k) {
    INFO("input " << k);
    CHECK(max_abs_diff(a[k].grad(), b[k].grad()) < 1e-12);
  }
  REQUIRE(h1.grad_fn()->name() == "LSTMCellBackward");
}

TEST_CASE("lstm_cell float32 gradients agree with float64", "[lstm_cell]") {
  CellInputs in64 = random_cell(4, 3, 5, kFloat64, 8);
  std::vector<Tensor> a = in64.all(), b;
  for (Tensor& t : a) {
    b.push_back(t.to(kFloat32).requires_grad_());
    t.requires_grad_();
  }
  sum(lstm_cell(a[0], a[1], a[2], a[3], a[4], a[5], a[6]).first).backward();
  sum(lstm_cell(b[0], b[1], b[2], b[3], b[4], b[5], b[6]).first).backward();
  for (size_t k = 0; k < a.size(); ++k) CHECK(max_abs_diff(a[k].grad(), b[k].grad()) < 1e-5);
}

TEST_CASE("lstm_cell rejects mismatched shapes and dtypes, naming them", "[lstm_cell][errors]") {
  CellInputs in = random_cell(2, 3, 4, kFloat32, 1);
  CHECK_THROWS_WITH(lstm_cell(in.x, in.h, in.c, randn({16, 5}), in.w_hh, in.b_ih, in.b_hh),
                    Catch::Contains("lstm_cell") && Catch::Contains("weight_ih [16, 3]") &&
                        Catch::Contains("weight_ih [16, 5]") && Catch::Contains("input [2, 3]"));
  CHECK_THROWS_WITH(lstm_cell(in.x, randn({3, 4}), in.c, in.w_ih, in.w_hh),
                    Catch::Contains("lstm_cell") && Catch::Contains("h [3, 4]"));
  CHECK_THROWS_WITH(lstm_cell(in.x, in.h, in.c, in.w_ih, in.w_hh, randn({15})),
                    Catch::Contains("bias_ih [15]"));
  CHECK_THROWS_WITH(lstm_cell(randn({3}), in.h, in.c, in.w_ih, in.w_hh),
                    Catch::Contains("lstm_cell: expected input [B, I]") && Catch::Contains("input [3]"));
  CHECK_THROWS_WITH(lstm_cell(in.x, in.h.to(kFloat64), in.c, in.w_ih, in.w_hh),
                    Catch::Contains("lstm_cell") && Catch::Contains("float64"));
}

TEST_CASE("LSTMCell has PyTorch's parameter names, shapes and init", "[lstm_cell][layer]") {
  nn::LSTMCell cell(10, 20);
  auto params = cell.named_parameters();
  REQUIRE(params.size() == 4);
  CHECK(params[0].first == "weight_ih");
  CHECK(params[0].second.shape() == Shape{80, 10});
  CHECK(params[1].first == "weight_hh");
  CHECK(params[1].second.shape() == Shape{80, 20});
  CHECK(params[2].first == "bias_ih");
  CHECK(params[2].second.shape() == Shape{80});
  CHECK(params[3].first == "bias_hh");
  const double bound = 1.0 / std::sqrt(20.0);
  for (auto& [name, p] : params) {
    std::vector<double> v = p.to_vector<double>();
    double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    INFO(name);
    CHECK(lo >= -bound);
    CHECK(hi <= bound);
    CHECK(hi - lo > bound);  // spread over the range, not a constant
  }
  CHECK(cell.type_name() == "LSTMCell");
  CHECK(cell.extra_repr() == "10, 20");
  nn::LSTMCell no_bias(3, 4, false);
  CHECK(no_bias.named_parameters().size() == 2);
  CHECK(no_bias.extra_repr() == "3, 4, bias=False");
}

TEST_CASE("LSTMCell forward is lstm_cell on its parameters, the state defaults to zeros", "[lstm_cell][layer]") {
  nn::LSTMCell cell(3, 4);
  Generator gen(2);
  Tensor x = randn({5, 3}, {}, &gen), h = randn({5, 4}, {}, &gen), c = randn({5, 4}, {}, &gen);
  auto [h1, c1] = cell(x, std::pair{h, c});
  auto [h_ref, c_ref] = lstm_cell(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh);
  CHECK(max_abs_diff(h1, h_ref) == 0);
  CHECK(max_abs_diff(c1, c_ref) == 0);
  CHECK(cell.last_output_shape() == Shape{5, 4});

  auto [h0, c0] = cell(x);
  Tensor zero = zeros({5, 4});
  CHECK(max_abs_diff(h0, cell(x, std::pair{zero, zero}).first) == 0);
  CHECK(max_abs_diff(c0, cell(x, std::pair{zero, zero}).second) == 0);

  // Unbatched: [I] with state [H]. One row is a matrix-vector product, summed in another order
  // than the batch's matrix product: float32 rounding, a few ulp of values up to about 3 (1e-6).
  auto [hu, cu] = cell(select(x, 0, 2), std::pair{select(h, 0, 2), select(c, 0, 2)});
  CHECK(hu.shape() == Shape{4});
  CHECK(max_abs_diff(hu, select(h1, 0, 2)) < 1e-6);
  CHECK(max_abs_diff(cu, select(c1, 0, 2)) < 1e-6);
}

TEST_CASE("LSTMCell gradcheck of input, state and all parameters", "[lstm_cell][layer][gradcheck]") {
  nn::LSTMCell cell(3, 4);
  Generator gen(4);
  Tensor x = randn({2, 3}, kFloat64, &gen).requires_grad_();
  Tensor h = randn({2, 4}, kFloat64, &gen).requires_grad_(), c = randn({2, 4}, kFloat64, &gen).requires_grad_();
  auto fn = [&](const std::vector<Tensor>& in) {
    auto [h1, c1] = cell(in[0], std::pair{in[1], in[2]});
    auto [h2, c2] = cell(in[0], std::pair{h1, c1});  // the parameters are used twice
    return cat({h2, c2}, 1);
  };
  CHECK(nn::gradcheck(cell, fn, {x, h, c}));
  CHECK(cell.weight_ih.dtype() == kFloat32);  // nn::gradcheck gives the layer back in its own dtype
}

TEST_CASE("LSTMCell rejects bad shapes, naming the layer", "[lstm_cell][layer][errors]") {
  nn::LSTMCell cell(3, 4);
  CHECK_THROWS_WITH(cell(randn({2, 5})), Catch::Contains("LSTMCell(3, 4)") && Catch::Contains("[2, 5]") &&
                                            Catch::Contains("expected input of shape [B, 3]"));
  CHECK_THROWS_WITH(cell(randn({2, 3}), std::pair{randn({2, 5}), randn({2, 4})}),
                    Catch::Contains("LSTMCell(3, 4): h has shape [2, 5], expected [2, 4]"));
  CHECK_THROWS_WITH(cell(randn({2, 3}), std::pair{randn({2, 4}), randn({3, 4})}),
                    Catch::Contains("LSTMCell(3, 4): c has shape [3, 4], expected [2, 4]"));
  CHECK_THROWS_WITH(nn::LSTMCell(0, 4), Catch::Contains("LSTMCell") && Catch::Contains("positive"));
}

TEST_CASE("LSTMCell initialisation is reproducible from a generator", "[lstm_cell][layer]") {
  Generator a(11), b(11);
  nn::LSTMCell first(3, 4, true, &a), second(3, 4, true, &b);
  CHECK(max_abs_diff(first.weight_hh, second.weight_hh) == 0);
  CHECK(max_abs_diff(first.bias_hh, second.bias_hh) == 0);
  Tensor before = first.weight_ih.clone();
  first.reset_parameters();
  CHECK(max_abs_diff(first.weight_ih, before) > 0);
}

TEST_CASE("LSTMCell state_dict round trip", "[lstm_cell][layer]") {
  nn::LSTMCell a(3, 4), b(3, 4);
  b.load_state_dict(a.state_dict());
  Tensor x = randn({2, 3});
  CHECK(max_abs_diff(a(x).first, b(x).first) == 0);
}
