// nn::Module (nn/module.h) through real layers: registration order and dotted
// names, errors, traversal, modes, zero_grad, dtype conversion, parameter counts,
// state_dict round trips and strict loading, and summary().
#include <catch2/catch.hpp>

#include "focus.h"
#include "nn/layers/activation.h"
#include "nn/layers/dropout.h"
#include "nn/layers/embedding.h"
#include "nn/layers/layer_norm.h"
#include "nn/layers/linear.h"
#include "nn/sequential.h"

using namespace focus;

namespace {

// A small model in the shape users write: submodules and a buffer registered by name.
class Net : public nn::Module {
 public:
  explicit Net(int64_t hidden = 8) {
    embed = register_module("embed", std::make_shared<nn::Embedding>(10, 4));
    encoder = register_module(
        "encoder", std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, hidden),
                                                    std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.1)));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(hidden));
    head = register_module("head", std::make_shared<nn::Linear>(hidden, 3));
    steps = register_buffer("steps", zeros({1}, kInt64));
    scale = register_buffer("scale", ones({1}));
  }
  std::string type_name() const override { return "Net"; }

  Tensor forward(const Tensor& ids) {
    Tensor x = (*embed)(ids);   // [B, T, 4]
    x = (*encoder)(x);          // [B, T, hidden]
    x = mean((*norm)(x), {1});  // [B, hidden]
    Tensor y = mul((*head)(x), scale);
    record_output_shape(y.shape());
    return y;
  }

  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<nn::Sequential> encoder;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> head;
  Tensor steps, scale;
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, _] : named) names.push_back(name);
  return names;
}

Tensor some_ids() { return from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3}); }

}  // namespace

TEST_CASE("parameters keep registration order with dotted names", "[module]") {
  Net net;
  CHECK(names_of(net.named_parameters()) == std::vector<std::string>{"embed.weight", "encoder.0.weight",
                                                                     "encoder.0.bias", "norm.weight", "norm.bias",
                                                                     "head.weight", "head.bias"});
  CHECK(names_of(net.named_parameters(false)).empty());  // Net itself owns no parameters
  CHECK(names_of(net.named_buffers()) == std::vector<std::string>{"steps", "scale"});
  CHECK(net.buffers().size() == 2);
  CHECK(net.parameters().size() == 7);
  CHECK(net.children().size() == 4);
  std::vector<std::string> modules;
  for (const auto& [name, module] : net.named_modules()) modules.push_back(name + ":" + module->type_name());
  CHECK(modules == std::vector<std::string>{":Net", "embed:Embedding", "encoder:Sequential", "encoder.0:Linear",
                                            "encoder.1:ReLU", "encoder.2:Dropout", "norm:LayerNorm", "head:Linear"});
  // The handles the layers hold are the registered tensors.
  CHECK(net.named_parameters()[5].second.shares_storage(net.head->weight));
}

TEST_CASE("registering a name twice or a dotted name fails", "[module]") {
  nn::Linear fc(2, 2);
  REQUIRE_THROWS_WITH(fc.register_parameter("weight", zeros({1})),
                      Catch::Contains("Linear: the name 'weight' is already registered"));
  REQUIRE_THROWS_WITH(fc.register_buffer("bias", zeros({1})), Catch::Contains("'bias' is already registered"));
  REQUIRE_THROWS_WITH(fc.register_module("weight", std::make_shared<nn::ReLU>()),
                      Catch::Contains("'weight' is already registered"));
  REQUIRE_THROWS_WITH(fc.register_parameter("a.b", zeros({1})), Catch::Contains("invalid name 'a.b'"));
}

TEST_CASE("train and eval reach every submodule", "[module]") {
  Net net;
  net.eval();
  for (const auto& [name, module] : net.named_modules()) {
    INFO(name);
    CHECK_FALSE(module->is_training());
  }
  // Dropout is off in eval: two forwards agree exactly.
  CHECK(net.forward(some_ids()).to_vector<float>() == net.forward(some_ids()).to_vector<float>());
  net.train();
  CHECK(net.encoder->at<nn::Dropout>(2)->is_training());
}

TEST_CASE("zero_grad clears or zeroes every gradient", "[module]") {
  Net net;
  net.eval();
  sum(net.forward(some_ids())).backward();
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
  }
  net.zero_grad(false);
  for (const auto& p : net.parameters())
    for (double v : p.grad().to_vector<double>()) REQUIRE(v == 0.0);
  net.zero_grad();
  for (const auto& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("to(kFloat64) converts floating parameters and buffers in place", "[module]") {
  Net net;
  net.eval();
  Tensor before = net.forward(some_ids());
  net.to(kFloat64);
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    CHECK(p.dtype() == kFloat64);
    CHECK(p.requires_grad());
  }
  CHECK(net.head->weight.dtype() == kFloat64);  // the layer's own handle sees it
  CHECK(net.scale.dtype() == kFloat64);
  CHECK(net.steps.dtype() == kInt64);  // integer buffers are left alone
  Tensor after = net.forward(some_ids());
  CHECK(after.dtype() == kFloat64);
  std::vector<double> a = before.to_vector<double>(), b = after.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-5));
}

TEST_CASE("num_parameters counts all or only trainable ones", "[module]") {
  Net net(8);
  const int64_t expected = 10 * 4 + (4 * 8 + 8) + (8 + 8) + (8 * 3 + 3);
  CHECK(net.num_parameters() == expected);
  net.embed->weight.requires_grad_(false);  // frozen embeddings
  CHECK(net.num_parameters(true) == expected - 40);
  CHECK(net.num_parameters() == expected);
}

TEST_CASE("state_dict round trip into a fresh model", "[module]") {
  manual_seed(1);
  Net trained;
  {
    NoGradGuard no_grad;
    trained.scale.fill_(2.0);
    trained.steps.fill_(7);
  }
  nn::StateDict state = trained.state_dict();
  CHECK(names_of(state) == std::vector<std::string>{"steps", "scale", "embed.weight", "encoder.0.weight",
                                                    "encoder.0.bias", "norm.weight", "norm.bias", "head.weight",
                                                    "head.bias"});
  manual_seed(2);
  Net fresh;
  fresh.load_state_dict(state);
  trained.eval();
  fresh.eval();
  CHECK(fresh.forward(some_ids()).to_vector<float>() == trained.forward(some_ids()).to_vector<float>());
  CHECK(fresh.steps.item<int64_t>() == 7);
  CHECK_FALSE(fresh.head->weight.shares_storage(trained.head->weight));  // values copied, not aliased
}

TEST_CASE("strict load_state_dict lists every problem in one message", "[module]") {
  Net net(8), other(16);
  nn::StateDict state = other.state_dict();  // hidden 16: several shapes differ
  state.erase(state.begin() + 2);            // drop embed.weight
  state.emplace_back("decoder.weight", zeros({2}));
  Tensor before = net.head->bias.clone();
  try {
    net.load_state_dict(state);
    FAIL("load_state_dict accepted a mismatched checkpoint");
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("load_state_dict into Net"));
    CHECK_THAT(message, Catch::Contains("missing (1)") && Catch::Contains("embed.weight"));
    CHECK_THAT(message, Catch::Contains("unexpected (1)") && Catch::Contains("decoder.weight"));
    CHECK_THAT(message, Catch::Contains("wrong shape") &&
                            Catch::Contains("encoder.0.weight (checkpoint [16, 4], model [8, 4])"));
    CHECK_THAT(message, Catch::Contains("head.weight (checkpoint [3, 16], model [3, 8])"));
  }
  CHECK(net.head->bias.to_vector<float>() == before.to_vector<float>());  // nothing was changed

  // Non-strict loading skips missing and unexpected names but never wrong shapes.
  Net same;
  nn::StateDict partial = same.state_dict();
  partial.erase(partial.begin());
  partial.emplace_back("extra", zeros({1}));
  Net target;
  REQUIRE_NOTHROW(target.load_state_dict(partial, false));
  CHECK(target.head->weight.to_vector<float>() == same.head->weight.to_vector<float>());
  REQUIRE_THROWS_WITH(target.load_state_dict(other.state_dict(), false), Catch::Contains("wrong shape"));
}

TEST_CASE("summary lists each layer's type, output shape and parameter count", "[module]") {
  Net net;
  net.eval();
  net.forward(some_ids());
  const std::string text = net.summary();
  INFO(text);
  // Each layer's own line holds its type, last output shape and parameter count.
  auto line_of = [&](const std::string& label) {
    size_t at = text.find(label);
    REQUIRE(at != std::string::npos);
    size_t begin = text.rfind('\n', at) + 1, end = text.find('\n', at);
    return text.substr(begin, end - begin);
  };
  CHECK_THAT(line_of("embed (Embedding)"), Catch::Contains("[2, 3, 4]") && Catch::EndsWith(" 40"));
  CHECK_THAT(line_of("encoder (Sequential)"), Catch::Contains("[2, 3, 8]") && Catch::EndsWith(" 0"));
  CHECK_THAT(line_of("encoder.0 (Linear)"), Catch::Contains("[2, 3, 8]") && Catch::EndsWith(" 40"));
  CHECK_THAT(line_of("encoder.1 (ReLU)"), Catch::Contains("[2, 3, 8]") && Catch::EndsWith(" 0"));
  CHECK_THAT(line_of("encoder.2 (Dropout)"), Catch::Contains("[2, 3, 8]") && Catch::EndsWith(" 0"));
  CHECK_THAT(line_of("norm (LayerNorm)"), Catch::Contains("[2, 3, 8]") && Catch::EndsWith(" 16"));
  CHECK_THAT(line_of("head (Linear)"), Catch::Contains("[2, 3] ") && Catch::EndsWith(" 27"));
  CHECK_THAT(text, Catch::Contains("Total params: 123"));
  CHECK_THAT(text, Catch::Contains("Trainable params: 123"));
}
