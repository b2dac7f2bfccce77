// Runs examples/attention_walkthrough (built only with FOCUS_BUILD_EXAMPLES, hence registered by the
// `if(TARGET attention_walkthrough)` block of tests/CMakeLists.txt rather than by the test_*.cpp glob):
// the three ways of computing the gradients must agree, and both heat maps must be readable PNGs.
#include <catch2/catch.hpp>
#include <stb_image.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "../datasets/temp_directory.h"
#include "../run_command.h"

namespace {

// stdout of a shell command, and its exit status.
std::pair<std::string, int> run(const std::string& command) {
  const focus::testing::CommandResult result = focus::testing::run_command(command);
  return {result.output, result.status};
}

}  // namespace

TEST_CASE("attention_walkthrough: hand, autograd and finite-difference gradients agree, heat maps decode",
          "[examples][attention]") {
  focus::testing::TempDirectory dir("attention-walkthrough");
  const std::string command =
      std::string("\"") + ATTENTION_WALKTHROUGH_EXE + "\" --out \"" + dir.path().string() + "\"";
  auto [output, status] = run(command);
  INFO(output);
  CHECK(status == 0);
  for (const char* shown : {"W = softmax(Z) (attention weights)", "dL/dO", "dL/dW", "dL/dZ", "dL/dQ", "dL/dK", "dL/dV",
                            "by hand", "autograd", "finite diff."})
    CHECK(output.find(shown) != std::string::npos);
  const std::string agreement = "all three agree to 1e-9: max difference ";
  const size_t at = output.find(agreement);
  REQUIRE(at != std::string::npos);
  const double difference = std::stod(output.substr(at + agreement.size()));
  CHECK(difference < 1e-9);
  // One element of dZ worked out aloud agrees with autograd; the masked one is exactly 0 three ways.
  CHECK(output.find("One element, dZ[1,2] = W[1,2] · (dW[1,2] − Σ_k W[1,k]·dW[1,k])") != std::string::npos);
  CHECK(output.find("= -0.591195   (autograd: -0.591195)") != std::string::npos);
  CHECK(output.find("= 0.000000: a key the mask hides") != std::string::npos);
  CHECK(output.find("(autograd: 0.000000, finite differences: 0.000000)") != std::string::npos);
  // The graph backward walks, with the leaves named.
  const std::string graph = focus::testing::read_file(dir / "attention_graph.dot");
  CHECK(graph.rfind("digraph", 0) == 0);
  for (const char* node : {"SoftmaxBackward", "MaskedFillBackward", "MatmulBackward", "Q [3, 2]", "K [4, 2]", "V [4, 2]"})
    CHECK(graph.find(node) != std::string::npos);

  for (const char* name : {"attention_weights.png", "attention_grad.png", "attention_backward.png"}) {
    const std::filesystem::path path = dir / name;
    REQUIRE(std::filesystem::exists(path));
    int width = 0, height = 0, channels = 0;
    unsigned char* pixels = stbi_load(path.string().c_str(), &width, &height, &channels, 3);
    REQUIRE(pixels != nullptr);
    CHECK(width > 100);
    CHECK(height > 100);
    // A heat map, not a blank canvas: some pixel is neither white nor black.
    bool coloured = false;
    for (int i = 0; i < width * height && !coloured; ++i) {
      const unsigned char r = pixels[3 * i], g = pixels[3 * i + 1], b = pixels[3 * i + 2];
      coloured = !(r == g && g == b);
    }
    stbi_image_free(pixels);
    CHECK(coloured);
  }
}
