#pragma once
// A fresh folder under the system temp directory, removed with everything in
// it when the test ends (also when a REQUIRE fails).
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace focus::testing {

class TempDirectory {
 public:
  explicit TempDirectory(const std::string& tag = "focus-test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace focus::testing
