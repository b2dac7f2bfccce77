// The main of a fuzz target in builds without libFuzzer: runs the target once on every file named
// on the command line or found in a folder named there (its corpus), so the crafted inputs of
// tests/fuzz/corpus are regression tests in every build. A finding aborts, as under libFuzzer.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {
void run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
}
}  // namespace

int main(int argc, char** argv) {
  int64_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path = argv[i];
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(path))
        if (entry.is_regular_file()) run_file(entry.path()), ++inputs;
    } else if (std::filesystem::is_regular_file(path)) {
      run_file(path), ++inputs;
    } else {
      std::fprintf(stderr, "%s: no such file or folder\n", argv[i]);
      return 2;
    }
  }
  if (inputs == 0) {
    std::fprintf(stderr, "no inputs: pass corpus folders or files\n");
    return 2;
  }
  std::printf("%lld inputs ran without a finding\n", static_cast<long long>(inputs));
  return 0;
}
