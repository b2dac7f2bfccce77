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

TEST_CASE("attention_walkthrough: hand, autograd and finite-difference gradients agree; heat maps decode",
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

  for (const char* name : {"attention_weights.png", "attention_grad.png"}) {
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
