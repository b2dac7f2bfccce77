// The LSTM layer (nn/layers/lstm.h), its functional form (nn/functional/recurrent.h)
// and the whole-sequence op under them, lstm_layer (autograd/ops/lstm_layer.cpp).
#include <catch2/catch.hpp>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "nn/functional/recurrent.h"
#include "nn/gradcheck.h"
#include "nn/layers/lstm.h"
#include "tensor/cpu_info.h"
#include "tensor/kernels.h"
#include "../support.h"

using namespace focus;
using focus::testing::max_abs_diff;
namespace F = focus::nn::functional;

namespace {

double max_abs(const Tensor& a) { return max_abs_diff(a, zeros_like(a)); }

// One LSTM step from primitive ops (matmul, sigmoid, tanh, mul, add, chunk): the reference.
std::pair<Tensor, Tensor> composite_step(const Tensor& gates_without_h, const Tensor& h, const Tensor& c,
                                         const Tensor& w_hh) {
  Tensor gates = add(gates_without_h, matmul(h, transpose(w_hh, 0, 1)));
  std::vector<Tensor> parts = chunk(gates, 4, 1);
  Tensor c_new = add(mul(sigmoid(parts[1]), c), mul(sigmoid(parts[0]), tanh(parts[2])));
  return {mul(sigmoid(parts[3]), tanh(c_new)), c_new};
}

struct Reference {
  Tensor output;  // [len, D·H]
  Tensor h_n;     // [L·D, H]
  Tensor c_n;
};

// The LSTM on ONE unpadded sequence [len, I], step by step from primitive ops: what
// PyTorch computes for that sequence inside a packed batch. h0, c0: [L·D, H].
Reference reference_lstm(const nn::LSTM& lstm, const Tensor& sequence, const Tensor& h0, const Tensor& c0) {
  const int64_t D = lstm.options().bidirectional() ? 2 : 1, len = sequence.shape()[0];
  Tensor layer_input = sequence;
  std::vector<Tensor> h_n, c_n;
  for (int64_t layer = 0; layer < lstm.options().num_layers(); ++layer) {
    std::vector<Tensor> direction_outputs;
    for (int64_t direction = 0; direction < D; ++direction) {
      const F::LSTMWeights& w = lstm.weights(layer, direction);
      Tensor h = unsqueeze(select(h0, 0, layer * D + direction), 0);
      Tensor c = unsqueeze(select(c0, 0, layer * D + direction), 0);
      std::vector<Tensor> outputs(static_cast<size_t>(len));
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = direction == 1 ? len - 1 - step : step;
        Tensor gates_x = matmul(narrow(layer_input, 0, t, 1), transpose(w.weight_ih, 0, 1));
        if (w.bias_ih.defined()) gates_x = add(add(gates_x, w.bias_ih), w.bias_hh);
        std::tie(h, c) = composite_step(gates_x, h, c, w.weight_hh);
        outputs[static_cast<size_t>(t)] = squeeze(h, 0);
      }
      direction_outputs.push_back(stack(outputs, 0));
      h_n.push_back(squeeze(h, 0));
      c_n.push_back(squeeze(c, 0));
    }
    layer_input = D == 2 ? cat(direction_outputs, 1) : direction_outputs[0];
  }
  return {layer_input, stack(h_n, 0), stack(c_n, 0)};
}

// A padded time-major batch [T, B, I] from the leading `lengths[b]` steps of each sequence, zeros after.
Tensor random_padded_batch(int64_t T, int64_t B, int64_t I, const std::vector<int64_t>& lengths, Generator& gen) {
  Tensor x = randn({T, B, I}, kFloat64, &gen);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = lengths[static_cast<size_t>(b)]; t < T; ++t)
      for (int64_t i = 0; i < I; ++i) x.set({t, b, i}, 0.0);
  return x;
}

// Σ over all outputs times fixed random weights: one scalar that touches every result.
Tensor weighted_total(const F::LSTMOutput& out, uint64_t seed) {
  Generator gen(seed);
  Tensor total = sum(mul(out.output, randn(out.output.shape(), out.output.dtype(), &gen)));
  total = add(total, sum(mul(out.h_n, randn(out.h_n.shape(), out.h_n.dtype(), &gen))));
  return add(total, sum(mul(out.c_n, randn(out.c_n.shape(), out.c_n.dtype(), &gen))));
}

}  // namespace

TEST_CASE("LSTM parameters are named and shaped as in PyTorch", "[lstm][layer]") {
  nn::LSTM lstm(nn::LSTMOptions(10, 20).num_layers(2).bidirectional(true));
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"weight_ih_l0", {80, 10}},         {"weight_hh_l0", {80, 20}},         {"bias_ih_l0", {80}},
      {"bias_hh_l0", {80}},               {"weight_ih_l0_reverse", {80, 10}}, {"weight_hh_l0_reverse", {80, 20}},
      {"bias_ih_l0_reverse", {80}},       {"bias_hh_l0_reverse", {80}},       {"weight_ih_l1", {80, 40}},
      {"weight_hh_l1", {80, 20}},         {"bias_ih_l1", {80}},               {"bias_hh_l1", {80}},
      {"weight_ih_l1_reverse", {80, 40}}, {"weight_hh_l1_reverse", {80, 20}}, {"bias_ih_l1_reverse", {80}},
      {"bias_hh_l1_reverse", {80}}};
  auto params = lstm.named_parameters();
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
  CHECK(lstm.type_name() == "LSTM");
  CHECK(lstm.extra_repr() == "10, 20, num_layers=2, bidirectional=True");
  nn::LSTM plain(nn::LSTMOptions(3, 4).bias(false).batch_first(true).dropout(0.25));
  CHECK(plain.named_parameters().size() == 2);
  CHECK(plain.extra_repr() == "3, 4, bias=False, batch_first=True, dropout=0.25");
}

TEST_CASE("LSTM forward equals a step-by-step reference from primitive ops", "[lstm][layer]") {
  const int64_t T = 6, B = 3, I = 4, H = 5;
  for (bool bidirectional : {false, true}) {
    DYNAMIC_SECTION("bidirectional " << bidirectional) {
      nn::LSTM lstm(nn::LSTMOptions(I, H).num_layers(2).bidirectional(bidirectional));
      lstm.to(kFloat64);
      const int64_t D = bidirectional ? 2 : 1;
      Generator gen(17);
      Tensor x = randn({T, B, I}, kFloat64, &gen);
      Tensor h0 = randn({2 * D, B, H}, kFloat64, &gen), c0 = randn({2 * D, B, H}, kFloat64, &gen);
      auto [output, h_n, c_n] = lstm(x, std::pair{h0, c0});
      REQUIRE(output.shape() == Shape{T, B, D * H});
      REQUIRE(h_n.shape() == Shape{2 * D, B, H});
      CHECK(lstm.last_output_shape() == Shape{T, B, D * H});
      for (int64_t b = 0; b < B; ++b) {
        Reference ref = reference_lstm(lstm, select(x, 1, b), select(h0, 1, b), select(c0, 1, b));
        CHECK(max_abs_diff(select(output, 1, b), ref.output) < 1e-13);
        CHECK(max_abs_diff(select(h_n, 1, b), ref.h_n) < 1e-13);
        CHECK(max_abs_diff(select(c_n, 1, b), ref.c_n) < 1e-13);
      }
    }
  }
}

TEST_CASE("LSTM with lengths equals packed sequences: each sequence run alone", "[lstm][layer][lengths]") {
  const int64_t T = 7, B = 4, I = 3, H = 4;
  const std::vector<int64_t> lengths = {5, 7, 1, 3};  // unsorted, one full, one of length 1
  nn::LSTM lstm(nn::LSTMOptions(I, H).num_layers(2).bidirectional(true));
  lstm.to(kFloat64);
  Generator gen(23);
  Tensor x = random_padded_batch(T, B, I, lengths, gen);
  Tensor h0 = randn({4, B, H}, kFloat64, &gen), c0 = randn({4, B, H}, kFloat64, &gen);
  auto [output, h_n, c_n] = lstm(x, std::pair{h0, c0}, from_vector(lengths, {B}));

  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lengths[static_cast<size_t>(b)];
    INFO("sequence " << b << " of length " << len);
    // The sequence alone, in a batch of one with no padding.
    Tensor alone = narrow(select(x, 1, b), 0, 0, len);
    Reference ref = reference_lstm(lstm, alone, select(h0, 1, b), select(c0, 1, b));
    CHECK(max_abs_diff(narrow(select(output, 1, b), 0, 0, len), ref.output) < 1e-13);
    if (len < T) CHECK(max_abs(narrow(select(output, 1, b), 0, len, T - len)) == 0);  // padded steps: zeros
    CHECK(max_abs_diff(select(h_n, 1, b), ref.h_n) < 1e-13);
    CHECK(max_abs_diff(select(c_n, 1, b), ref.c_n) < 1e-13);

    // And through the layer itself, as a batch of one.
    auto [y1, h1, c1] = lstm(unsqueeze(alone, 1), std::pair{narrow(h0, 1, b, 1), narrow(c0, 1, b, 1)});
    CHECK(max_abs_diff(select(y1, 1, 0), ref.output) < 1e-13);
    CHECK(max_abs_diff(select(h1, 1, 0), select(h_n, 1, b)) < 1e-13);
  }

  // Padding content is never read: garbage there changes nothing.
  Tensor noisy = x.clone();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = lengths[static_cast<size_t>(b)]; t < T; ++t) noisy.set({t, b, 0}, 1e3);
  auto [noisy_output, noisy_h, noisy_c] = lstm(noisy, std::pair{h0, c0}, from_vector(lengths, {B}));
  CHECK(max_abs_diff(noisy_output, output) == 0);
  CHECK(max_abs_diff(noisy_h, h_n) == 0);
  CHECK(max_abs_diff(noisy_c, c_n) == 0);

  // Lengths that are all T are the same as no lengths.
  auto full = lstm(x, std::pair{h0, c0}, from_vector(std::vector<int64_t>(B, T), {B}));
  CHECK(max_abs_diff(full.output, lstm(x, std::pair{h0, c0}).output) == 0);
}

TEST_CASE("LSTM gradients equal the step-by-step reference's, with lengths", "[lstm][layer][lengths]") {
  const int64_t T = 5, B = 3, I = 3, H = 3;
  const std::vector<int64_t> lengths = {2, 5, 4};
  nn::LSTM lstm(nn::LSTMOptions(I, H).num_layers(2).bidirectional(true));
  lstm.to(kFloat64);
  Generator gen(31);
  Tensor x = random_padded_batch(T, B, I, lengths, gen).requires_grad_();
  Tensor h0 = randn({4, B, H}, kFloat64, &gen).requires_grad_();
  Tensor c0 = randn({4, B, H}, kFloat64, &gen).requires_grad_();

  weighted_total(lstm(x, std::pair{h0, c0}, from_vector(lengths, {B})), 5).backward();
  std::vector<Tensor> fused_grads;
  for (auto& [name, p] : lstm.named_parameters()) fused_grads.push_back(p.grad().clone());
  Tensor dx = x.grad().clone(), dh0 = h0.grad().clone(), dc0 = c0.grad().clone();
  lstm.zero_grad();
  x.set_grad({});
  h0.set_grad({});
  c0.set_grad({});

  // The reference per sequence, reassembled into the padded layout so the loss is the same function.
  std::vector<Tensor> outputs, hs, cs;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lengths[static_cast<size_t>(b)];
    Reference ref = reference_lstm(lstm, narrow(select(x, 1, b), 0, 0, len), select(h0, 1, b), select(c0, 1, b));
    outputs.push_back(len < T ? cat({ref.output, zeros({T - len, 2 * H}, kFloat64)}, 0) : ref.output);
    hs.push_back(ref.h_n);
    cs.push_back(ref.c_n);
  }
  weighted_total({stack(outputs, 1), stack(hs, 1), stack(cs, 1)}, 5).backward();
  size_t k = 0;
  for (auto& [name, p] : lstm.named_parameters()) {
    INFO(name);
    CHECK(max_abs_diff(fused_grads[k++], p.grad()) < 1e-12);
  }
  CHECK(max_abs_diff(dx, x.grad()) < 1e-12);
  CHECK(max_abs_diff(dh0, h0.grad()) < 1e-12);
  CHECK(max_abs_diff(dc0, c0.grad()) < 1e-12);
}

TEST_CASE("LSTM gradcheck: input, h0, c0 and every parameter", "[lstm][layer][gradcheck]") {
  const int64_t T = 5, B = 3, I = 3, H = 2;
  Generator gen(41);
  SECTION("2 layers, bidirectional, batch_first, variable lengths") {
    nn::LSTM lstm(nn::LSTMOptions(I, H).num_layers(2).bidirectional(true).batch_first(true));
    const std::vector<int64_t> lengths = {5, 2, 4};
    Tensor x = transpose(random_padded_batch(T, B, I, lengths, gen), 0, 1).contiguous().requires_grad_();
    Tensor h0 = randn({4, B, H}, kFloat64, &gen).requires_grad_();
    Tensor c0 = randn({4, B, H}, kFloat64, &gen).requires_grad_();
    Tensor lens = from_vector(lengths, {B});
    auto fn = [&](const std::vector<Tensor>& in) {
      auto out = lstm(in[0], std::pair{in[1], in[2]}, lens);
      return cat({flatten(out.output), flatten(out.h_n), flatten(out.c_n)}, 0);
    };
    GradcheckOptions options;
    options.input_names = {"input", "h0", "c0"};
    CHECK(nn::gradcheck(lstm, fn, {x, h0, c0}, options));
  }
  SECTION("1 layer, time-major, no bias, zero initial state") {
    nn::LSTM lstm(nn::LSTMOptions(I, H).bias(false));
    Tensor x = randn({T, B, I}, kFloat64, &gen).requires_grad_();
    auto fn = [&](const std::vector<Tensor>& in) {
      auto [output, h_n, c_n] = lstm(in[0]);
      return cat({flatten(output), flatten(c_n)}, 0);
    };
    CHECK(nn::gradcheck(lstm, fn, {x}));
  }
}

TEST_CASE("lstm_layer gradcheck and agreement with composed steps", "[lstm_layer][gradcheck]") {
  const int64_t T = 5, B = 3, I = 2, H = 2;
  Generator gen(43);
  TensorOptions o(kFloat64);
  // Non-contiguous on purpose: the input is a batch-major tensor seen time-major,
  // weight_ih a transposed view, bias_ih a strided slice.
  Tensor x = transpose(randn({B, T, I}, o, &gen), 0, 1).requires_grad_();
  Tensor h0 = randn({B, H}, o, &gen).requires_grad_(), c0 = randn({B, H}, o, &gen).requires_grad_();
  Tensor w_ih = transpose(uniform({I, 4 * H}, -0.7, 0.7, o, &gen), 0, 1).requires_grad_();
  Tensor w_hh = uniform({4 * H, H}, -0.7, 0.7, o, &gen).requires_grad_();
  Tensor b_ih = slice(uniform({8 * H}, -0.5, 0.5, o, &gen), 0, 0, 8 * H, 2).requires_grad_();
  Tensor b_hh = uniform({4 * H}, -0.5, 0.5, o, &gen).requires_grad_();
  REQUIRE_FALSE(x.is_contiguous());
  REQUIRE_FALSE(w_ih.is_contiguous());
  Tensor lengths = from_vector(std::vector<int64_t>{3, 5, 1}, {B});
  const std::vector<Tensor> inputs = {x, h0, c0, w_ih, w_hh, b_ih, b_hh};
  GradcheckOptions options;
  options.input_names = {"input", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"};

  for (bool reverse : {false, true}) {
    for (bool padded : {false, true}) {
      DYNAMIC_SECTION("reverse " << reverse << ", lengths " << padded) {
        Tensor lens = padded ? lengths : Tensor();
        auto fused = [&](const std::vector<Tensor>& in) {
          auto [y, h, c] = lstm_layer(in[0], in[1], in[2], in[3], in[4], in[5], in[6], lens, reverse);
          return cat({flatten(y), flatten(h), flatten(c)}, 0);
        };
        CHECK(gradcheck(fused, inputs, options));

        // The same layer from primitive ops, step by step, padded rows blended with where().
        std::vector<int64_t> len_list = padded ? lengths.to_vector<int64_t>() : std::vector<int64_t>(B, T);
        auto composed = [&](const std::vector<Tensor>& in) {
          Tensor h = in[1], c = in[2];
          std::vector<Tensor> outputs(T);
          for (int64_t step = 0; step < T; ++step) {
            const int64_t t = reverse ? T - 1 - step : step;
            std::vector<int64_t> valid(B);
            for (int64_t b = 0; b < B; ++b) valid[b] = t < len_list[b] ? 1 : 0;
            Tensor mask = ne(from_vector(valid, {B, 1}), zeros({1}, kInt64));
            Tensor gates_x = add(add(matmul(select(in[0], 0, t), transpose(in[3], 0, 1)), in[5]), in[6]);
            auto [h_new, c_new] = composite_step(gates_x, h, c, in[4]);
            outputs[t] = where(mask, h_new, zeros({1}, o));
            h = where(mask, h_new, h);
            c = where(mask, c_new, c);
          }
          return cat({flatten(stack(outputs, 0)), flatten(h), flatten(c)}, 0);
        };
        Generator projection_gen(3);
        Tensor projection = randn({T * B * H + 2 * B * H}, o, &projection_gen);
        Tensor y_fused = fused(inputs);
        REQUIRE(y_fused.grad_fn()->name() == "CatBackward");
        sum(mul(y_fused, projection)).backward();
        std::vector<Tensor> fused_grads;
        for (const Tensor& t : inputs) {
          fused_grads.push_back(t.grad().clone());
          Tensor(t).set_grad({});
        }
        Tensor y_composed = composed(inputs);
        CHECK(max_abs_diff(y_fused, y_composed) < 1e-13);
        sum(mul(y_composed, projection)).backward();
        for (size_t k = 0; k < inputs.size(); ++k) {
          INFO(options.input_names[k]);
          CHECK(max_abs_diff(fused_grads[k], inputs[k].grad()) < 1e-12);
          Tensor(inputs[k]).set_grad({});
        }
      }
    }
  }
}

TEST_CASE("LSTM batch_first is the time-major LSTM on transposed data", "[lstm][layer]") {
  nn::LSTM time_major(nn::LSTMOptions(3, 4).bidirectional(true));
  nn::LSTM batch_first(nn::LSTMOptions(3, 4).bidirectional(true).batch_first(true));
  batch_first.load_state_dict(time_major.state_dict());
  Generator gen(5);
  Tensor x = randn({2, 6, 3}, {}, &gen);  // [B, T, I]
  Tensor lengths = from_vector(std::vector<int64_t>{6, 4}, {2});
  auto bf = batch_first(x, std::nullopt, lengths);
  auto tm = time_major(transpose(x, 0, 1), std::nullopt, lengths);
  CHECK(bf.output.shape() == Shape{2, 6, 8});
  CHECK(max_abs_diff(bf.output, transpose(tm.output, 0, 1)) < 1e-6);
  CHECK(max_abs_diff(bf.h_n, tm.h_n) < 1e-6);
  CHECK(bf.h_n.shape() == Shape{2, 2, 4});  // states stay [L·D, B, H]
}

TEST_CASE("LSTM initial state: given zeros equal none, a given state is used", "[lstm][layer]") {
  nn::LSTM lstm(nn::LSTMOptions(3, 4).num_layers(2));
  Generator gen(6);
  Tensor x = randn({5, 2, 3}, {}, &gen);
  auto none = lstm(x);
  auto zero = lstm(x, std::pair{zeros({2, 2, 4}), zeros({2, 2, 4})});
  CHECK(max_abs_diff(none.output, zero.output) == 0);
  CHECK(max_abs_diff(none.c_n, zero.c_n) == 0);
  Tensor h0 = randn({2, 2, 4}, {}, &gen), c0 = randn({2, 2, 4}, {}, &gen);
  auto given = lstm(x, std::pair{h0, c0});
  CHECK(max_abs_diff(none.output, given.output) > 1e-3);
  // Continuing from a state = running the concatenated sequence.
  auto first = lstm(narrow(x, 0, 0, 2)), rest = lstm(narrow(x, 0, 2, 3), std::pair{first.h_n, first.c_n});
  CHECK(max_abs_diff(rest.output, narrow(none.output, 0, 2, 3)) < 1e-6);
  CHECK(max_abs_diff(rest.h_n, none.h_n) < 1e-6);
}

TEST_CASE("LSTM dropout acts between layers, in training mode only", "[lstm][layer]") {
  nn::LSTM with_dropout(nn::LSTMOptions(3, 8).num_layers(2).dropout(0.5));
  nn::LSTM without(nn::LSTMOptions(3, 8).num_layers(2));
  without.load_state_dict(with_dropout.state_dict());
  Generator gen(7);
  Tensor x = randn({4, 5, 3}, {}, &gen);
  const Tensor reference = without(x).output;

  with_dropout.train();
  Tensor a = with_dropout(x).output, b = with_dropout(x).output;
  CHECK(max_abs_diff(a, b) > 1e-3);  // fresh masks each call
  CHECK(max_abs_diff(a, reference) > 1e-3);
  // The first layer's state is untouched by dropout (it is applied to its output only).
  CHECK(max_abs_diff(select(with_dropout(x).h_n, 0, 0), select(without(x).h_n, 0, 0)) == 0);

  with_dropout.eval();
  CHECK(max_abs_diff(with_dropout(x).output, reference) == 0);

  // Never after the last layer: a 1-layer LSTM with dropout is deterministic in training.
  nn::LSTM single(nn::LSTMOptions(3, 8).dropout(0.5));
  single.train();
  CHECK(max_abs_diff(single(x).output, single(x).output) == 0);
}

TEST_CASE("LSTM learns to recall the first token after T steps", "[lstm][layer][learning]") {
  // Sequences of T random tokens (one-hot); the target is the first token, read
  // from h_n: the LSTM must carry it through T − 1 distracting steps.
  const int64_t K = 4, T = 6, H = 16, B = 64;
  Generator gen(2024);
  nn::LSTM lstm(nn::LSTMOptions(K, H), &gen);
  Tensor readout_w = uniform({K, H}, -0.25, 0.25, {}, &gen).requires_grad_();
  Tensor readout_b = zeros({K}).requires_grad_();
  std::vector<Tensor> params = lstm.parameters();
  params.push_back(readout_w);
  params.push_back(readout_b);

  auto batch = [&](Generator& g) {
    Tensor tokens = randint(0, K, {T, B}, kInt64, &g);
    Tensor x = zeros({T, B, K});
    for (int64_t t = 0; t < T; ++t)
      for (int64_t b = 0; b < B; ++b) x.set({t, b, static_cast<int64_t>(tokens.at({t, b}))}, 1.0);
    return std::pair{x, select(tokens, 0, 0)};
  };
  auto logits_of = [&](const Tensor& x) {
    Tensor h = select(lstm(x).h_n, 0, 0);
    return add(matmul(h, transpose(readout_w, 0, 1)), readout_b);
  };
  auto loss_of = [&](const Tensor& logits, const Tensor& target) {
    return neg(mean(gather(log_softmax(logits, 1), 1, unsqueeze(target, 1))));
  };

  // SGD with momentum, written out.
  std::vector<Tensor> velocity;
  for (const Tensor& p : params) velocity.push_back(zeros_like(p));
  const double lr = 0.5, momentum = 0.9;
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 400; ++step) {
    auto [x, target] = batch(gen);
    Tensor loss = loss_of(logits_of(x), target);
    for (Tensor& p : params) p.set_grad({});
    loss.backward();
    NoGradGuard no_grad;
    for (size_t k = 0; k < params.size(); ++k) {
      velocity[k].copy_(add(velocity[k] * momentum, params[k].grad()));
      params[k].copy_(sub(params[k], velocity[k] * lr));
    }
    if (step == 0) first_loss = loss.item<double>();
    last_loss = loss.item<double>();
  }
  CHECK(last_loss < 0.25 * first_loss);

  Generator test_gen(77);
  auto [x, target] = batch(test_gen);
  NoGradGuard no_grad;
  Tensor predicted = argmax(logits_of(x), 1);
  double accuracy = mean(eq(predicted, target).to(kFloat32)).item<double>();
  INFO("first loss " << first_loss << ", last loss " << last_loss << ", accuracy " << accuracy);
  CHECK(accuracy >= 0.95);
}

TEST_CASE("LSTM rejects bad shapes, naming the layer and the shapes", "[lstm][layer][errors]") {
  nn::LSTM lstm(nn::LSTMOptions(4, 8).num_layers(2));
  CHECK_THROWS_WITH(lstm(randn({5, 3, 5})),
                    Catch::Contains("LSTM(4, 8, num_layers=2): input of shape [5, 3, 5] has 5 features, expected 4"));
  CHECK_THROWS_WITH(lstm(randn({5, 4})), Catch::Contains("LSTM(4, 8, num_layers=2): expected input of shape "
                                                         "[T, B, features], got [5, 4]"));
  CHECK_THROWS_WITH(lstm(randn({5, 3, 4}), std::pair{randn({1, 3, 8}), randn({2, 3, 8})}),
                    Catch::Contains("LSTM(4, 8, num_layers=2): h0 has shape [1, 3, 8], expected") &&
                        Catch::Contains("[2, 3, 8]"));
  CHECK_THROWS_WITH(lstm(randn({5, 3, 4}), std::pair{randn({2, 3, 8}), randn({2, 4, 8})}),
                    Catch::Contains("c0 has shape [2, 4, 8]"));
  CHECK_THROWS_WITH(lstm(randn({5, 3, 4}), std::nullopt, from_vector(std::vector<int64_t>{5, 7, 2}, {3})),
                    Catch::Contains("LSTM(4, 8, num_layers=2): lengths must be in [1, 5]") && Catch::Contains("got 7"));
  CHECK_THROWS_WITH(lstm(randn({5, 3, 4}), std::nullopt, from_vector(std::vector<int64_t>{5, 0, 2}, {3})),
                    Catch::Contains("got 0"));
  CHECK_THROWS_WITH(lstm(randn({5, 3, 4}), std::nullopt, from_vector(std::vector<int64_t>{5, 5}, {2})),
                    Catch::Contains("lengths") && Catch::Contains("shape [3]"));
  CHECK_THROWS_WITH(nn::LSTM(nn::LSTMOptions(4, 8).dropout(1.5)), Catch::Contains("dropout must be in [0, 1]"));
  nn::LSTM batch_first(nn::LSTMOptions(4, 8).batch_first(true));
  CHECK_THROWS_WITH(batch_first(randn({3, 5})), Catch::Contains("[B, T, features]"));
  CHECK_THROWS_WITH(lstm_layer(randn({5, 3, 6}), randn({3, 4}), randn({3, 4}), randn({16, 5}), randn({16, 4})),
                    Catch::Contains("lstm_layer") && Catch::Contains("weight_ih [16, 6]") &&
                        Catch::Contains("weight_ih [16, 5]") && Catch::Contains("input [5, 3, 6]"));
  CHECK_THROWS_WITH(lstm_layer(randn({5, 3, 6}), randn({3, 4}), randn({3, 4}), randn({16, 6}), randn({16, 4}), {}, {},
                               from_vector(std::vector<int64_t>{1, 6, 2}, {3})),
                    Catch::Contains("lstm_layer: every length must be in [1, 5]") && Catch::Contains("got 6"));
}

TEST_CASE("LSTM float32 matches float64", "[lstm][layer]") {
  nn::LSTM lstm(nn::LSTMOptions(8, 16).bidirectional(true));
  Generator gen(9);
  Tensor x = randn({10, 4, 8}, {}, &gen);
  Tensor lengths = from_vector(std::vector<int64_t>{10, 3, 7, 1}, {4});
  auto out32 = lstm(x, std::nullopt, lengths);
  lstm.to(kFloat64);
  auto out64 = lstm(x.to(kFloat64), std::nullopt, lengths);
  CHECK(out32.output.dtype() == kFloat32);
  CHECK(max_abs_diff(out32.output, out64.output) < 1e-5);
  CHECK(max_abs_diff(out32.c_n, out64.c_n) < 1e-5);
}

// In float32 on x86 with AVX-512 the layer's steps run as one kernel over the whole sequence
// (tensor/cpu/lstm_sequence.cpp: packed W_hh panels, register tiles of up to 6 batch rows, the rows
// split between threads); in float64 they run one kernel call per step. The shapes cover a hidden
// size that fills no panel or vector evenly (20, 70: partial tiles, K not a multiple of 8), batch
// rows that leave partial row tiles (13, 7, 1), odd and even T (the ping-pong of dh and dc), and
// padded rows in both directions.
TEST_CASE("LSTM float32 forward and gradients match float64, with lengths", "[lstm][layer][lengths]") {
  struct Case { int64_t T, B, I, H; };
  for (const Case& shape : {Case{5, 13, 6, 20}, Case{6, 7, 9, 70}, Case{3, 1, 4, 32}}) {
    DYNAMIC_SECTION("T " << shape.T << " B " << shape.B << " H " << shape.H) {
      const int64_t T = shape.T, B = shape.B, I = shape.I, H = shape.H;  // plain names: the lambda captures them
      Generator gen(41);
      nn::LSTM lstm(nn::LSTMOptions(I, H).bidirectional(true), &gen);
      std::vector<int64_t> lengths;
      for (int64_t b = 0; b < B; ++b) lengths.push_back(b % 3 == 0 ? T : 1 + (b * 7) % T);
      Tensor x32 = randn({T, B, I}, kFloat32, &gen), h0_32 = randn({2, B, H}, kFloat32, &gen);
      Tensor c0_32 = randn({2, B, H}, kFloat32, &gen);

      auto run = [&](DType dtype) {
        lstm.to(dtype);
        lstm.zero_grad();
        Tensor x = x32.to(dtype).detach().requires_grad_(), h0 = h0_32.to(dtype).detach().requires_grad_();
        Tensor c0 = c0_32.to(dtype).detach().requires_grad_();
        F::LSTMOutput out = lstm(x, std::pair{h0, c0}, from_vector(lengths, {B}));
        weighted_total(out, 3).backward();
        std::vector<Tensor> results = {out.output, out.h_n, out.c_n, x.grad(), h0.grad(), c0.grad()};
        for (auto& [name, p] : lstm.named_parameters()) results.push_back(p.grad().clone());
        return results;
      };
      const std::vector<Tensor> single = run(kFloat32), reference = run(kFloat64);
      REQUIRE(single.size() == reference.size());
      for (size_t i = 0; i < single.size(); ++i) {
        INFO("result " << i << " (output, h_n, c_n, dx, dh0, dc0, then the parameters' gradients)");
        CHECK(single[i].dtype() == kFloat32);
        // float32 rounding over a few steps and sums of up to 4H·T·B terms, relative to the largest entry
        CHECK(max_abs_diff(single[i], reference[i]) < 2e-5 * std::max(1.0, max_abs(reference[i])));
      }
    }
  }
}

TEST_CASE("The whole-sequence LSTM kernels name a mis-shaped buffer", "[lstm][errors]") {
  // float32 in the AVX-512 kernel build only; elsewhere lstm_layer runs step by step.
  CHECK_FALSE(kernels::lstm_sequence_available(zeros({1}, kFloat64)));
  if (capability_compiled(CpuCapability::AVX512))  // a build that dispatches (without, -march decides)
    CHECK(kernels::lstm_sequence_available(zeros({1})) == (cpu_capability() == CpuCapability::AVX512));
  if (!kernels::lstm_sequence_available(zeros({1}))) return;
  const int64_t T = 3, B = 2, H = 4;
  kernels::LSTMSequence s{zeros({T, B, 4 * H}), zeros({T, B, H}), zeros({T, B, H}), zeros({T, B, H}),
                          zeros({T, B, H}),     zeros({B, H}),     zeros({B, H})};
  CHECK_THROWS_WITH(kernels::lstm_sequence_forward(s, zeros({4 * H, H + 1}), Tensor(), {}, false),
                    Catch::Contains("lstm_sequence_forward") && Catch::Contains("weight_hh") &&
                        Catch::Contains("[16, 4]") && Catch::Contains("[16, 5]"));
  s.c_n = zeros({B, H}, kFloat64);
  CHECK_THROWS_WITH(kernels::lstm_sequence_forward(s, zeros({4 * H, H}), Tensor(), {}, false),
                    Catch::Contains("c_n") && Catch::Contains("float64"));
  CHECK_THROWS_WITH(kernels::lstm_sequence_backward(s, zeros({4 * H, H}), zeros({T, B, H}), zeros({T, B, 4 * H}),
                                                    zeros({B, H}), zeros({B, H + 1}), {}, false),
                    Catch::Contains("lstm_sequence_backward") && Catch::Contains("dc") && Catch::Contains("[2, 5]"));
}
