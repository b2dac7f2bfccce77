// safetensors files written by other tools load in focus with the values they hold. The headers
// are those that tools really write: the `safetensors` library (compact JSON, raw UTF-8, header
// padded with spaces to 8 bytes, __metadata__ first) and Python's json module (ASCII with \u
// escapes and a surrogate pair, indented over lines, __metadata__ last).
// tests/nn/foreign_safetensors/README.md says how each file was made.
#include <catch2/catch.hpp>

#include "focus.h"
#include "nn/serialize.h"

using namespace focus;

namespace {
std::string data_file(const std::string& name) {
  return std::string(FOCUS_SOURCE_DIR) + "/tests/nn/foreign_safetensors/" + name;
}

const Tensor& find(const nn::StateDict& tensors, const std::string& name) {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return tensor;
  FAIL("no tensor " << name);
  throw std::logic_error("unreachable");
}
}  // namespace

TEST_CASE("a file written by the safetensors library loads with its values and UTF-8 metadata") {
  const nn::SafetensorsContent content = nn::load_safetensors(data_file("written_by_safetensors.safetensors"));
  REQUIRE(content.tensors.size() == 4);
  const Tensor weight = find(content.tensors, "layer.weight");
  REQUIRE(weight.dtype() == kFloat32);
  REQUIRE(weight.shape() == Shape{2, 3});
  for (int64_t i = 0; i < 6; ++i) CHECK(weight.data<float>()[i] == static_cast<float>(i) / 4);
  const Tensor bias = find(content.tensors, "layer.bias");
  REQUIRE(bias.dtype() == kFloat64);
  CHECK(bias.data<double>()[1] == -1.25);
  const Tensor ids = find(content.tensors, "ids");
  REQUIRE(ids.dtype() == kInt64);
  CHECK(ids.data<int64_t>()[1] == -2);
  CHECK(ids.data<int64_t>()[3] == (int64_t{1} << 40));
  const Tensor mask = find(content.tensors, "mask");
  REQUIRE(mask.dtype() == kBool);
  CHECK(mask.data<bool>()[0]);
  CHECK_FALSE(mask.data<bool>()[1]);
  CHECK(content.metadata.at("format") == "pt");
  CHECK(content.metadata.at("note") == "caf\u00e9 \u2615 \U0001D11E");
  CHECK(content.metadata.at("empty").empty());
}

TEST_CASE("a header with unicode escapes, a surrogate pair, indentation and __metadata__ last loads") {
  const nn::SafetensorsContent content = nn::load_safetensors(data_file("python_json_escapes.safetensors"));
  REQUIRE(content.tensors.size() == 2);
  const Tensor weight = find(content.tensors, "poids.\u00e9t\u00e9");
  REQUIRE(weight.shape() == Shape{2, 3});
  CHECK(weight.data<float>()[5] == 1.25f);
  CHECK(find(content.tensors, "bias").data<double>()[2] == 3.0);
  CHECK(content.metadata.at("note") == "caf\u00e9 \u2615 \U0001D11E");
  CHECK(content.metadata.at("quote") == "a \"b\" \\ c\n");
}

TEST_CASE("a dtype focus does not have is refused naming the file, the tensor and the dtype") {
  const std::string path = data_file("float16_tensor.safetensors");
  REQUIRE_THROWS_WITH(nn::load_safetensors(path), Catch::Contains(path) && Catch::Contains("half") &&
                                                      Catch::Contains("F16"));
}
