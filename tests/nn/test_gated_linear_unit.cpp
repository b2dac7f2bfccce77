// GatedLinearUnit, the example layer of docs/new-layer.md (route a): forward against a ⊙ σ(b)
// written out, float64 gradcheck of input and parameters, the error message; and the guide itself:
// every C++ block it quotes must still be in the code it quotes, so the guide cannot rot.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "focus.h"
#include "nn/gradcheck.h"
#include "nn/layers/gated_linear_unit.h"

using namespace focus;

TEST_CASE("gated_linear_unit computes a ⊙ σ(b) from the two halves of one Linear", "[nn]") {
  manual_seed(41);
  nn::GatedLinearUnit glu(4, 3);
  REQUIRE(glu.proj->weight.shape() == Shape{6, 4});
  Tensor x = randn({5, 4});
  Tensor y = glu(x);
  // Reference: rows 0..2 of the projection are a, rows 3..5 are b.
  Tensor a = matmul(x, glu.proj->weight.narrow(0, 0, 3).t()) + glu.proj->bias.narrow(0, 0, 3);
  Tensor b = matmul(x, glu.proj->weight.narrow(0, 3, 3).t()) + glu.proj->bias.narrow(0, 3, 3);
  REQUIRE(y.shape() == Shape{5, 3});
  REQUIRE(max(abs(y - a / (1.0 + exp(-b))).flatten(), 0).first.item<double>() < 1e-6);
  REQUIRE(glu.last_output_shape() == Shape{5, 3});
  REQUIRE(glu(randn({2, 7, 4})).shape() == Shape{2, 7, 3});  // any leading dims
  REQUIRE_THROWS_WITH(glu(randn({5, 2})), Catch::Contains("GatedLinearUnit(in_features=4, out_features=3)") &&
                                              Catch::Contains("[..., 4]") && Catch::Contains("[5, 2]"));
}

TEST_CASE("gated_linear_unit gradcheck of the input and the parameters", "[nn]") {
  // Quoted in docs/new-layer.md (checked below): keep identical.
  nn::GatedLinearUnit glu(4, 3);
  Tensor x = randn({5, 4}, kFloat64).requires_grad_();
  REQUIRE(nn::gradcheck(glu, [&](const std::vector<Tensor>& in) { return glu(in[0]); }, {x}));
}

namespace {
std::string read_source(const std::string& relative_path) {
  std::ifstream file(std::string(FOCUS_SOURCE_DIR) + "/" + relative_path);
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}
}  // namespace

TEST_CASE("docs/new-layer.md quotes the code exactly", "[nn][docs]") {
  std::string code;
  for (const char* path : {"nn/layers/gated_linear_unit.h", "nn/layers/gated_linear_unit.cpp",
                           "nn/layers/additive_attention.cpp", "nn/unary_module.h", "autograd/ops/swish.cpp",
                           "autograd/ops.h", "tests/nn/test_gated_linear_unit.cpp", "tests/autograd/test_swish.cpp"})
    code += read_source(path);
  std::string guide = read_source("docs/new-layer.md");
  const std::string open = "```cpp\n", close = "```";
  int blocks = 0;
  for (size_t start = guide.find(open); start != std::string::npos; start = guide.find(open, start)) {
    start += open.size();
    size_t end = guide.find(close, start);
    REQUIRE(end != std::string::npos);
    std::string block = guide.substr(start, end - start);
    INFO("quoted block not found in the code:\n" << block);
    CHECK(code.find(block) != std::string::npos);
    ++blocks;
    start = end + close.size();
  }
  REQUIRE(blocks >= 8);
}
