// The GRU and GRUCell layers (nn/layers/gru.h, nn/layers/gru_cell.h) and their functional
// form (nn/functional/gru.h): PyTorch's names and numbers, packed-sequence lengths, gradcheck.
#include <catch2/catch.hpp>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "nn/functional/gru.h"
#include "nn/gradcheck.h"
#include "nn/layers/gru.h"
#include "nn/layers/gru_cell.h"
#include "../support.h"
#include "gru_torch_reference.h"

using namespace focus;
using focus::testing::max_abs_diff;
namespace F = focus::nn::functional;
namespace reference = gru_torch_reference;

namespace {

// float64 gradcheck tolerances for every GRU check below: central differences with eps 1e-6 have a
// truncation error near eps² and a rounding error near 1e-16/eps, both far below these.
GradcheckOptions tight(std::vector<std::string> input_names = {}) {
  GradcheckOptions options;
  options.atol = 1e-8;
  options.rtol = 1e-6;
  options.input_names = std::move(input_names);
  return options;
}

// fixed(shape, seed, scale)[k] = scale · sin(0.37 (k + 1) + 1.7 seed): the values
// tests/nn/gru_reference.py gave PyTorch, so only its results are written down.
Tensor fixed(const Shape& shape, int seed, double scale) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) values[static_cast<size_t>(k)] = scale * std::sin(0.37 * (k + 1) + 1.7 * seed);
  return from_vector(values, shape);
}

// Parameter i (in named_parameters() order) gets fixed(shape, 10 + i, 0.5), as in the script.
void set_fixed_parameters(nn::Module& module) {
  module.to(kFloat64);
  NoGradGuard no_grad;
  int i = 0;
  for (auto& [name, p] : module.named_parameters()) p.copy_(fixed(p.shape(), 10 + i++, 0.5));
}

// The script's loss: Σ output ⊙ fixed(·, 3) + Σ h_n ⊙ fixed(·, 4).
Tensor reference_loss(const Tensor& output, const Tensor& h_n) {
  Tensor loss = sum(mul(output, fixed(output.shape(), 3, 1.0)));
  return h_n.defined() ? add(loss, sum(mul(h_n, fixed(h_n.shape(), 4, 1.0)))) : loss;
}

Tensor values(const std::vector<double>& numbers, const Shape& shape) { return from_vector(numbers, shape); }

// Every parameter's gradient against PyTorch's, by name and in order.
void check_parameter_grads(nn::Module& module,
                           const std::vector<std::pair<std::string, std::vector<double>>>& expected, double tolerance) {
  auto params = module.named_parameters();
  REQUIRE(params.size() == expected.size());
  for (size_t k = 0; k < params.size(); ++k) {
    INFO(params[k].first);
    REQUIRE(params[k].first == expected[k].first);
    CHECK(max_abs_diff(params[k].second.grad(), values(expected[k].second, params[k].second.shape())) < tolerance);
  }
}

// The GRU on ONE unpadded sequence [len, I], step by step through the GRUCell maths (gru_cell):
// what PyTorch computes for that sequence inside a packed batch. h0: [L·D, H] → (output [len, D·H], h_n).
std::pair<Tensor, Tensor> reference_gru(const nn::GRU& gru, const Tensor& sequence, const Tensor& h0) {
  const int64_t D = gru.options().bidirectional() ? 2 : 1, len = sequence.shape()[0];
  Tensor layer_input = sequence;
  std::vector<Tensor> h_n;
  for (int64_t layer = 0; layer < gru.options().num_layers(); ++layer) {
    std::vector<Tensor> direction_outputs;
    for (int64_t direction = 0; direction < D; ++direction) {
      const F::GRUWeights& w = gru.weights(layer, direction);
      Tensor h = unsqueeze(select(h0, 0, layer * D + direction), 0);
      std::vector<Tensor> outputs(static_cast<size_t>(len));
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = direction == 1 ? len - 1 - step : step;
        h = F::gru_cell(narrow(layer_input, 0, t, 1), h, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh);
        outputs[static_cast<size_t>(t)] = squeeze(h, 0);
      }
      direction_outputs.push_back(stack(outputs, 0));
      h_n.push_back(squeeze(h, 0));
    }
    layer_input = D == 2 ? cat(direction_outputs, 1) : direction_outputs[0];
  }
  return {layer_input, stack(h_n, 0)};
}

// A padded time-major batch [T, B, I] from the leading `lengths[b]` steps of each sequence, zeros after.
Tensor random_padded_batch(int64_t T, int64_t B, int64_t I, const std::vector<int64_t>& lengths, Generator& gen) {
  Tensor x = randn({T, B, I}, kFloat64, &gen);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = lengths[static_cast<size_t>(b)]; t < T; ++t)
      for (int64_t i = 0; i < I; ++i) x.set({t, b, i}, 0.0);
  return x;
}

}  // namespace

TEST_CASE("GRU parameters are named and shaped as in PyTorch", "[gru][layer]") {
  nn::GRU gru(nn::GRUOptions(10, 20).num_layers(2).bidirectional(true));
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"weight_ih_l0", {60, 10}},         {"weight_hh_l0", {60, 20}},         {"bias_ih_l0", {60}},
      {"bias_hh_l0", {60}},               {"weight_ih_l0_reverse", {60, 10}}, {"weight_hh_l0_reverse", {60, 20}},
      {"bias_ih_l0_reverse", {60}},       {"bias_hh_l0_reverse", {60}},       {"weight_ih_l1", {60, 40}},
      {"weight_hh_l1", {60, 20}},         {"bias_ih_l1", {60}},               {"bias_hh_l1", {60}},
      {"weight_ih_l1_reverse", {60, 40}}, {"weight_hh_l1_reverse", {60, 20}}, {"bias_ih_l1_reverse", {60}},
      {"bias_hh_l1_reverse", {60}}};
  auto params = gru.named_parameters();
  REQUIRE(params.size() == expected.size());
  for (size_t k = 0; k < params.size(); ++k) {
    CHECK(params[k].first == expected[k].first);
    CHECK(params[k].second.shape() == expected[k].second);
  }
  // PyTorch's init: all U(−1/√H, 1/√H).
  const double bound = 1.0 / std::sqrt(20.0);
  for (auto& [name, p] : params) {
    std::vector<double> v = p.to_vector<double>();
    INFO(name);
    CHECK(*std::min_element(v.begin(), v.end()) >= -bound);
    CHECK(*std::max_element(v.begin(), v.end()) <= bound);
    CHECK(*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end()) > bound);
  }
  CHECK(gru.type_name() == "GRU");
  CHECK(gru.extra_repr() == "10, 20, num_layers=2, bidirectional=True");
  nn::GRU plain(nn::GRUOptions(3, 4).bias(false).batch_first(true).dropout(0.25));
  CHECK(plain.named_parameters().size() == 2);
  CHECK(plain.extra_repr() == "3, 4, bias=False, batch_first=True, dropout=0.25");

  nn::GRUCell cell(10, 20);
  auto cell_params = cell.named_parameters();
  REQUIRE(cell_params.size() == 4);
  CHECK(cell_params[0].first == "weight_ih");
  CHECK(cell_params[0].second.shape() == Shape{60, 10});
  CHECK(cell_params[1].first == "weight_hh");
  CHECK(cell_params[1].second.shape() == Shape{60, 20});
  CHECK(cell_params[2].first == "bias_ih");
  CHECK(cell_params[3].first == "bias_hh");
  CHECK(cell_params[3].second.shape() == Shape{60});
  CHECK(cell.type_name() == "GRUCell");
  CHECK(cell.extra_repr() == "10, 20");
  CHECK(nn::GRUCell(3, 4, false).named_parameters().size() == 2);
}

// Expected values: tests/nn/gru_reference.py (torch.nn.GRU / GRUCell in float64, packed sequences via
// pack_padded_sequence(enforce_sorted=False)), written to 17 digits in gru_torch_reference.h.
TEST_CASE("GRU matches PyTorch: outputs and gradients, packed and full, bidirectional", "[gru][layer][torch]") {
  const int64_t T = 4, B = 3, I = 3, H = 2;
  for (bool packed : {true, false}) {
    DYNAMIC_SECTION((packed ? "lengths {4, 2, 3}" : "no lengths")) {
      nn::GRU gru(nn::GRUOptions(I, H).num_layers(2).bidirectional(true));
      set_fixed_parameters(gru);
      Tensor x = fixed({T, B, I}, 1, 1.0).requires_grad_();
      Tensor h0 = fixed({4, B, H}, 2, 0.8).requires_grad_();
      Tensor lengths = packed ? from_vector(std::vector<int64_t>{4, 2, 3}, {B}) : Tensor();
      auto [output, h_n] = gru(x, h0, lengths);
      reference_loss(output, h_n).backward();

      const auto& expect_output = packed ? reference::packed_output : reference::full_output;
      const auto& expect_h_n = packed ? reference::packed_h_n : reference::full_h_n;
      const auto& expect_dx = packed ? reference::packed_grad_input : reference::full_grad_input;
      const auto& expect_dh0 = packed ? reference::packed_grad_h0 : reference::full_grad_h0;
      CHECK(max_abs_diff(output, values(expect_output, {T, B, 2 * H})) < 1e-14);
      CHECK(max_abs_diff(h_n, values(expect_h_n, {4, B, H})) < 1e-14);
      CHECK(max_abs_diff(x.grad(), values(expect_dx, {T, B, I})) < 1e-13);
      CHECK(max_abs_diff(h0.grad(), values(expect_dh0, {4, B, H})) < 1e-13);
      check_parameter_grads(gru, packed ? reference::packed_parameter_grads : reference::full_parameter_grads,
                            1e-13);
    }
  }
}

TEST_CASE("GRU matches PyTorch: batch_first, no bias, zero initial state", "[gru][layer][torch]") {
  const int64_t T = 4, B = 2, I = 3, H = 2;
  nn::GRU gru(nn::GRUOptions(I, H).bias(false).batch_first(true));
  set_fixed_parameters(gru);
  Tensor x = fixed({B, T, I}, 1, 1.0).requires_grad_();
  auto [output, h_n] = gru(x);
  reference_loss(output, h_n).backward();
  CHECK(max_abs_diff(output, values(reference::batch_first_no_bias_output, {B, T, H})) < 1e-14);
  CHECK(max_abs_diff(h_n, values(reference::batch_first_no_bias_h_n, {1, B, H})) < 1e-14);
  CHECK(max_abs_diff(x.grad(), values(reference::batch_first_no_bias_grad_input, {B, T, I})) < 1e-13);
  check_parameter_grads(gru, reference::batch_first_no_bias_parameter_grads, 1e-13);
}

TEST_CASE("GRUCell matches PyTorch: h' and gradients", "[gru_cell][layer][torch]") {
  nn::GRUCell cell(3, 2);
  set_fixed_parameters(cell);
  Tensor x = fixed({2, 3}, 1, 1.0).requires_grad_();
  Tensor h = fixed({2, 2}, 2, 0.8).requires_grad_();
  Tensor h_new = cell(x, h);
  reference_loss(h_new, {}).backward();
  CHECK(max_abs_diff(h_new, values(reference::cell_h_new, {2, 2})) < 1e-14);
  CHECK(max_abs_diff(x.grad(), values(reference::cell_grad_input, {2, 3})) < 1e-13);
  CHECK(max_abs_diff(h.grad(), values(reference::cell_grad_h, {2, 2})) < 1e-13);
  check_parameter_grads(cell, reference::cell_parameter_grads, 1e-13);
}

TEST_CASE("GRU with lengths equals packed sequences: each sequence run alone", "[gru][layer][lengths]") {
  const int64_t T = 7, B = 4, I = 3, H = 4;
  const std::vector<int64_t> lengths = {5, 7, 1, 3};  // unsorted, one full, one of length 1
  nn::GRU gru(nn::GRUOptions(I, H).num_layers(2).bidirectional(true));
  gru.to(kFloat64);
  Generator gen(23);
  Tensor x = random_padded_batch(T, B, I, lengths, gen);
  Tensor h0 = randn({4, B, H}, kFloat64, &gen);
  auto [output, h_n] = gru(x, h0, from_vector(lengths, {B}));
  CHECK(gru.last_output_shape() == Shape{T, B, 2 * H});

  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lengths[static_cast<size_t>(b)];
    INFO("sequence " << b << " of length " << len);
    Tensor alone = narrow(select(x, 1, b), 0, 0, len);
    auto [ref_output, ref_h_n] = reference_gru(gru, alone, select(h0, 1, b));
    CHECK(max_abs_diff(narrow(select(output, 1, b), 0, 0, len), ref_output) < 1e-13);
    if (len < T) CHECK(max_abs_diff(narrow(select(output, 1, b), 0, len, T - len), zeros({T - len, 2 * H}, kFloat64)) == 0);
    CHECK(max_abs_diff(select(h_n, 1, b), ref_h_n) < 1e-13);
  }

  // Padding content is never read: garbage there changes nothing.
  Tensor noisy = x.clone();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = lengths[static_cast<size_t>(b)]; t < T; ++t) noisy.set({t, b, 0}, 1e3);
  auto [noisy_output, noisy_h] = gru(noisy, h0, from_vector(lengths, {B}));
  CHECK(max_abs_diff(noisy_output, output) == 0);
  CHECK(max_abs_diff(noisy_h, h_n) == 0);

  // Lengths that are all T are the same as no lengths.
  auto full = gru(x, h0, from_vector(std::vector<int64_t>(B, T), {B}));
  CHECK(max_abs_diff(full.output, gru(x, h0).output) == 0);
}

TEST_CASE("GRU gradcheck: input, h0 and every parameter", "[gru][layer][gradcheck]") {
  const int64_t T = 5, B = 3, I = 3, H = 2;
  Generator gen(41);
  const std::vector<int64_t> lengths = {5, 2, 4};
  for (bool with_lengths : {true, false}) {
    DYNAMIC_SECTION("2 layers, bidirectional, batch_first, " << (with_lengths ? "variable lengths" : "no lengths")) {
      nn::GRU gru(nn::GRUOptions(I, H).num_layers(2).bidirectional(true).batch_first(true));
      Tensor x = transpose(random_padded_batch(T, B, I, lengths, gen), 0, 1).contiguous().requires_grad_();
      Tensor h0 = randn({4, B, H}, kFloat64, &gen).requires_grad_();
      Tensor lens = with_lengths ? from_vector(lengths, {B}) : Tensor();
      auto fn = [&](const std::vector<Tensor>& in) {
        auto [output, h_n] = gru(in[0], in[1], lens);
        return cat({flatten(output), flatten(h_n)}, 0);
      };
      CHECK(nn::gradcheck(gru, fn, {x, h0}, tight({"input", "h0"})));
    }
  }
  SECTION("1 layer, time-major, no bias, zero initial state, a non-contiguous input") {
    nn::GRU gru(nn::GRUOptions(I, H).bias(false));
    Tensor x = transpose(randn({B, T, I}, kFloat64, &gen), 0, 1).requires_grad_();  // [T, B, I] seen through a view
    REQUIRE_FALSE(x.is_contiguous());
    auto fn = [&](const std::vector<Tensor>& in) { return gru(in[0]).output; };
    CHECK(nn::gradcheck(gru, fn, {x}, tight({"input"})));
  }
  SECTION("3 layers, unidirectional, lengths, time-major") {
    nn::GRU gru(nn::GRUOptions(I, H).num_layers(3));
    Tensor x = random_padded_batch(T, B, I, lengths, gen).requires_grad_();
    Tensor h0 = randn({3, B, H}, kFloat64, &gen).requires_grad_();
    Tensor lens = from_vector(lengths, {B});
    auto fn = [&](const std::vector<Tensor>& in) {
      auto [output, h_n] = gru(in[0], in[1], lens);
      return cat({flatten(output), flatten(h_n)}, 0);
    };
    CHECK(nn::gradcheck(gru, fn, {x, h0}, tight({"input", "h0"})));
  }
}

TEST_CASE("GRUCell gradcheck of input, state and all parameters", "[gru_cell][layer][gradcheck]") {
  nn::GRUCell cell(3, 4);
  Generator gen(4);
  Tensor x = randn({2, 3}, kFloat64, &gen).requires_grad_();
  Tensor h = randn({2, 4}, kFloat64, &gen).requires_grad_();
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor h1 = cell(in[0], in[1]);
    return cell(in[0], h1);  // the parameters are used twice
  };
  CHECK(nn::gradcheck(cell, fn, {x, h}, tight({"input", "h"})));

  // The functional step on non-contiguous and broadcast arguments: a transposed input and
  // weight_ih, a strided bias, and a state broadcast from one row.
  TensorOptions o(kFloat64);
  Tensor xt = transpose(randn({3, 2}, o, &gen), 0, 1).requires_grad_();
  Tensor h_row = randn({1, 4}, o, &gen).requires_grad_();
  Tensor w_ih = transpose(uniform({3, 12}, -0.7, 0.7, o, &gen), 0, 1).requires_grad_();
  Tensor w_hh = uniform({12, 4}, -0.7, 0.7, o, &gen).requires_grad_();
  Tensor b_ih = slice(uniform({24}, -0.5, 0.5, o, &gen), 0, 0, 24, 2).requires_grad_();
  Tensor b_hh = uniform({12}, -0.5, 0.5, o, &gen).requires_grad_();
  REQUIRE_FALSE(xt.is_contiguous());
  REQUIRE_FALSE(b_ih.is_contiguous());
  auto step = [&](const std::vector<Tensor>& in) {
    return F::gru_cell(in[0], expand(in[1], {2, 4}), in[2], in[3], in[4], in[5]);
  };
  CHECK(gradcheck(step, {xt, h_row, w_ih, w_hh, b_ih, b_hh},
                  tight({"input", "h", "weight_ih", "weight_hh", "bias_ih", "bias_hh"})));
}

TEST_CASE("GRUCell: the state defaults to zeros, unbatched input, one GRU step", "[gru_cell][layer]") {
  nn::GRUCell cell(3, 4);
  Generator gen(2);
  Tensor x = randn({5, 3}, {}, &gen), h = randn({5, 4}, {}, &gen);
  Tensor h1 = cell(x, h);
  CHECK(h1.shape() == Shape{5, 4});
  CHECK(cell.last_output_shape() == Shape{5, 4});
  CHECK(max_abs_diff(cell(x), cell(x, zeros({5, 4}))) == 0);
  Tensor unbatched = cell(select(x, 0, 2), select(h, 0, 2));
  CHECK(unbatched.shape() == Shape{4});
  CHECK(max_abs_diff(unbatched, select(h1, 0, 2)) < 1e-6);  // float32, a GEMM of 1 row against one of 5

  // A one-layer GRU over one step is the cell with the same weights.
  nn::GRU gru(nn::GRUOptions(3, 4));
  gru.load_state_dict([&] {
    auto state = cell.state_dict();
    decltype(state) renamed;
    for (auto& [name, t] : state) renamed.emplace_back(name + "_l0", t);
    return renamed;
  }());
  auto [output, h_n] = gru(unsqueeze(x, 0), unsqueeze(h, 0));
  CHECK(max_abs_diff(select(output, 0, 0), h1) < 1e-6);
  CHECK(max_abs_diff(select(h_n, 0, 0), h1) < 1e-6);
}

TEST_CASE("GRU batch_first is the time-major GRU on transposed data", "[gru][layer]") {
  nn::GRU time_major(nn::GRUOptions(3, 4).bidirectional(true));
  nn::GRU batch_first(nn::GRUOptions(3, 4).bidirectional(true).batch_first(true));
  batch_first.load_state_dict(time_major.state_dict());
  Generator gen(5);
  Tensor x = randn({2, 6, 3}, {}, &gen);  // [B, T, I]
  Tensor lengths = from_vector(std::vector<int64_t>{6, 4}, {2});
  auto bf = batch_first(x, {}, lengths);
  auto tm = time_major(transpose(x, 0, 1), {}, lengths);
  CHECK(bf.output.shape() == Shape{2, 6, 8});
  CHECK(max_abs_diff(bf.output, transpose(tm.output, 0, 1)) < 1e-6);
  CHECK(max_abs_diff(bf.h_n, tm.h_n) < 1e-6);
  CHECK(bf.h_n.shape() == Shape{2, 2, 4});  // the state stays [L·D, B, H]
}

TEST_CASE("GRU initial state: zeros equal none, continuing from a state", "[gru][layer]") {
  nn::GRU gru(nn::GRUOptions(3, 4).num_layers(2));
  Generator gen(6);
  Tensor x = randn({5, 2, 3}, {}, &gen);
  auto none = gru(x);
  CHECK(max_abs_diff(none.output, gru(x, zeros({2, 2, 4})).output) == 0);
  CHECK(max_abs_diff(none.output, gru(x, randn({2, 2, 4}, {}, &gen)).output) > 1e-3);
  auto first = gru(narrow(x, 0, 0, 2)), rest = gru(narrow(x, 0, 2, 3), first.h_n);
  CHECK(max_abs_diff(rest.output, narrow(none.output, 0, 2, 3)) < 1e-6);
  CHECK(max_abs_diff(rest.h_n, none.h_n) < 1e-6);
}

TEST_CASE("GRU dropout acts between layers, in training mode only", "[gru][layer]") {
  nn::GRU with_dropout(nn::GRUOptions(3, 8).num_layers(2).dropout(0.5));
  nn::GRU without(nn::GRUOptions(3, 8).num_layers(2));
  without.load_state_dict(with_dropout.state_dict());
  Generator gen(7);
  Tensor x = randn({4, 5, 3}, {}, &gen);
  const Tensor reference_output = without(x).output;
  with_dropout.train();
  Tensor a = with_dropout(x).output, b = with_dropout(x).output;
  CHECK(max_abs_diff(a, b) > 1e-3);
  CHECK(max_abs_diff(select(with_dropout(x).h_n, 0, 0), select(without(x).h_n, 0, 0)) == 0);
  with_dropout.eval();
  CHECK(max_abs_diff(with_dropout(x).output, reference_output) == 0);
}

TEST_CASE("GRU float32 matches float64", "[gru][layer]") {
  nn::GRU gru(nn::GRUOptions(8, 16).bidirectional(true));
  Generator gen(9);
  Tensor x = randn({10, 4, 8}, {}, &gen);
  Tensor lengths = from_vector(std::vector<int64_t>{10, 3, 7, 1}, {4});
  auto out32 = gru(x, {}, lengths);
  gru.to(kFloat64);
  auto out64 = gru(x.to(kFloat64), {}, lengths);
  CHECK(out32.output.dtype() == kFloat32);
  CHECK(max_abs_diff(out32.output, out64.output) < 1e-5);
  CHECK(max_abs_diff(out32.h_n, out64.h_n) < 1e-5);
}

TEST_CASE("GRU and GRUCell reject bad shapes, naming the layer and the shapes", "[gru][layer][errors]") {
  nn::GRU gru(nn::GRUOptions(4, 8).num_layers(2));
  CHECK_THROWS_WITH(gru(randn({5, 3, 5})),
                    Catch::Contains("GRU(4, 8, num_layers=2): input of shape [5, 3, 5] has 5 features, expected 4"));
  CHECK_THROWS_WITH(gru(randn({5, 4})),
                    Catch::Contains("GRU(4, 8, num_layers=2): expected input of shape [T, B, features], got [5, 4]"));
  CHECK_THROWS_WITH(gru(randn({5, 3, 4}), randn({1, 3, 8})),
                    Catch::Contains("GRU(4, 8, num_layers=2): h0 has shape [1, 3, 8], expected") &&
                        Catch::Contains("[2, 3, 8]"));
  CHECK_THROWS_WITH(gru(randn({5, 3, 4}), {}, from_vector(std::vector<int64_t>{5, 7, 2}, {3})),
                    Catch::Contains("GRU(4, 8, num_layers=2): lengths must be in [1, 5]") && Catch::Contains("got 7"));
  CHECK_THROWS_WITH(gru(randn({5, 3, 4}), {}, from_vector(std::vector<int64_t>{5, 5}, {2})),
                    Catch::Contains("lengths") && Catch::Contains("shape [3]"));
  CHECK_THROWS_WITH(nn::GRU(nn::GRUOptions(4, 8).dropout(1.5)), Catch::Contains("dropout must be in [0, 1]"));
  CHECK_THROWS_WITH(nn::GRU(nn::GRUOptions(0, 8)), Catch::Contains("GRU") && Catch::Contains("positive"));
  nn::GRU batch_first(nn::GRUOptions(4, 8).batch_first(true));
  CHECK_THROWS_WITH(batch_first(randn({3, 5})), Catch::Contains("[B, T, features]"));

  nn::GRUCell cell(3, 4);
  CHECK_THROWS_WITH(cell(randn({2, 5})), Catch::Contains("GRUCell(3, 4)") && Catch::Contains("[2, 5]") &&
                                            Catch::Contains("expected input of shape [B, 3]"));
  CHECK_THROWS_WITH(cell(randn({2, 3}), randn({2, 5})),
                    Catch::Contains("GRUCell(3, 4): h has shape [2, 5], expected [2, 4]"));
  CHECK_THROWS_WITH(nn::GRUCell(0, 4), Catch::Contains("GRUCell") && Catch::Contains("positive"));
  CHECK_THROWS_WITH(F::gru_cell(randn({2, 3}), randn({2, 4}), randn({12, 5}), randn({12, 4})),
                    Catch::Contains("gru_cell: weight_ih has shape [12, 5], expected [12, 3]"));
  CHECK_THROWS_WITH(F::gru_cell(randn({2, 3}), randn({2, 4}), randn({12, 3}), randn({12, 4}), randn({11})),
                    Catch::Contains("gru_cell: bias_ih has shape [11], expected [12]"));
  CHECK_THROWS_WITH(F::gru_cell(randn({2, 3}), randn({3, 4}), randn({12, 3}), randn({12, 4})),
                    Catch::Contains("gru_cell") && Catch::Contains("h [3, 4]"));
  CHECK_THROWS_WITH(F::gru_cell(randn({2, 3}), randn({2, 4}).to(kFloat64), randn({12, 3}), randn({12, 4})),
                    Catch::Contains("gru_cell") && Catch::Contains("float64"));
}

TEST_CASE("GRU initialisation is reproducible from a generator", "[gru][layer]") {
  Generator a(11), b(11);
  nn::GRU first(nn::GRUOptions(3, 4), &a), second(nn::GRUOptions(3, 4), &b);
  CHECK(max_abs_diff(first.weights(0).weight_hh, second.weights(0).weight_hh) == 0);
  Tensor before = first.weights(0).weight_ih.clone();
  first.reset_parameters();
  CHECK(max_abs_diff(first.weights(0).weight_ih, before) > 0);
  CHECK_THROWS_WITH(first.weights(0, 1), Catch::Contains("no layer 0 direction 1"));
}
