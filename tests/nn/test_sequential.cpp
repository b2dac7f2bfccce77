// Sequential and ModuleList: PyTorch's child names ("0", "1", ...), forward as a
// chain, typed access, nesting, and mode propagation.
#include <catch2/catch.hpp>

#include "focus.h"
#include "nn/gradcheck.h"
#include "nn/layers/activation.h"
#include "nn/layers/dropout.h"
#include "nn/layers/linear.h"
#include "nn/module_list.h"
#include "nn/sequential.h"

using namespace focus;

namespace {

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, _] : named) names.push_back(name);
  return names;
}

}  // namespace

TEST_CASE("Sequential names its children 0, 1, ... and chains forward", "[sequential]") {
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::ReLU>(),
                                                std::make_shared<nn::Linear>(5, 2));
  CHECK(model->size() == 3);
  CHECK(names_of(model->named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  std::vector<std::string> child_names;
  for (const auto& [name, _] : model->named_children()) child_names.push_back(name);
  CHECK(child_names == std::vector<std::string>{"0", "1", "2"});

  Generator gen(3);
  Tensor x = randn({4, 3}, {}, &gen);
  auto first = model->at<nn::Linear>(0), last = model->at<nn::Linear>(2);
  Tensor expected = (*last)(relu((*first)(x)));
  Tensor got = (*model)(x);
  REQUIRE(got.shape() == Shape{4, 2});
  CHECK(got.to_vector<float>() == expected.to_vector<float>());
  CHECK(model->last_output_shape() == Shape{4, 2});
  CHECK((*model)[1]->last_output_shape() == Shape{4, 5});
}

TEST_CASE("Sequential push_back with and without names", "[sequential]") {
  nn::Sequential model;
  auto fc = model.push_back(std::make_shared<nn::Linear>(2, 2));
  model.push_back("act", std::make_shared<nn::Tanh>());
  auto head = model.push_back("head", std::make_shared<nn::Linear>(2, 1));
  CHECK(fc->options.in_features() == 2);  // push_back returns the layer, typed
  CHECK(names_of(model.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "head.weight", "head.bias"});
  CHECK(model[2].get() == head.get());
  int count = 0;
  for (const auto& layer : model) count += layer ? 1 : 0;
  CHECK(count == 3);
  REQUIRE_THROWS_WITH(model.push_back("act", std::make_shared<nn::ReLU>()),
                      Catch::Contains("'act' is already registered"));
}

TEST_CASE("Sequential access errors", "[sequential]") {
  nn::Sequential model(std::make_shared<nn::ReLU>());
  REQUIRE_THROWS_WITH(model[3], Catch::Contains("index 3 is out of range for 1 layers"));
  REQUIRE_THROWS_WITH(model.at<nn::Linear>(0), Catch::Contains("layer 0 is a ReLU"));
}

TEST_CASE("an empty Sequential is the identity", "[sequential]") {
  nn::Sequential model;
  Tensor x = tensor({1, 2, 3});
  CHECK(model(x).to_vector<float>() == x.to_vector<float>());
  CHECK(model.empty());
}

TEST_CASE("nested Sequentials give dotted names and propagate train/eval", "[sequential]") {
  auto block = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 4), std::make_shared<nn::Dropout>(0.5));
  auto model = std::make_shared<nn::Sequential>(block, std::make_shared<nn::Linear>(4, 1));
  CHECK(names_of(model->named_parameters()) ==
        std::vector<std::string>{"0.0.weight", "0.0.bias", "1.weight", "1.bias"});
  model->eval();
  CHECK_FALSE(block->at<nn::Dropout>(1)->is_training());
  // In eval mode dropout is the identity, so the output is deterministic.
  Tensor x = randn({2, 4});
  CHECK((*model)(x).to_vector<float>() == (*model)(x).to_vector<float>());
  model->train();
  CHECK(block->at<nn::Dropout>(1)->is_training());
}

TEST_CASE("Sequential gradients reach every layer", "[sequential]") {
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Tanh>(),
                                                std::make_shared<nn::Linear>(4, 2));
  Tensor x = randn({5, 3}, kFloat64).requires_grad_();
  auto result = nn::gradcheck(*model, [&](const std::vector<Tensor>& in) { return (*model)(in[0]); }, {x});
  REQUIRE(result);
  CHECK(result.elements_checked == 15 + 3 * 4 + 4 + 4 * 2 + 2);
}

TEST_CASE("ModuleList holds modules by index with PyTorch names", "[module_list]") {
  nn::ModuleList blocks;
  for (int i = 0; i < 3; ++i) blocks.push_back(std::make_shared<nn::Linear>(2, 2));
  blocks.push_back(std::make_shared<nn::ReLU>());
  CHECK(blocks.size() == 4);
  CHECK(names_of(blocks.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"});
  CHECK(blocks[3]->type_name() == "ReLU");
  CHECK(blocks.at<nn::Linear>(1)->options.out_features() == 2);
  REQUIRE_THROWS_WITH(blocks.at<nn::Linear>(3), Catch::Contains("entry 3 is a ReLU"));
  REQUIRE_THROWS_WITH(blocks[9], Catch::Contains("index 9 is out of range for 4 modules"));

  // Iteration visits the entries in order; a stack applied in a loop.
  Tensor x = randn({1, 2});
  Tensor y = x;
  for (const auto& module : blocks)
    if (auto linear = std::dynamic_pointer_cast<nn::Linear>(module)) y = (*linear)(y);
  CHECK(y.shape() == Shape{1, 2});
  CHECK(blocks.num_parameters() == 3 * 6);

  nn::ModuleList listed(std::make_shared<nn::Linear>(1, 1), std::make_shared<nn::Tanh>());
  CHECK(listed.size() == 2);
  CHECK(listed[1]->type_name() == "Tanh");
}
