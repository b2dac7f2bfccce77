#pragma once
// What every fuzz target shares. A target is one function,
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
// that hands the bytes to one loader as an untrusted file would reach it. libFuzzer (clang,
// -fsanitize=fuzzer) mutates inputs to reach new code; without it, replay_main.cpp runs the
// target over the files of its corpus, so every build replays the crafted inputs as tests.
//
// What counts as a finding (libFuzzer stops and saves the input):
//   - a sanitizer report (out-of-bounds access, use after free, overflow, undefined behaviour);
//   - any exception other than the loaders' documented errors (std::runtime_error and
//     std::invalid_argument): std::bad_alloc, std::length_error, std::out_of_range from a raw
//     stoi, ... mean a size or a number from the file was trusted;
//   - an error message that does not name the file it is about, or that carries raw control
//     bytes or invalid UTF-8 from the file (messages must escape what they quote).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "datasets/tokenizer.h"  // utf8::is_valid

namespace focus::fuzz {

/// A file of this process's own (in /dev/shm when there is one: no disk writes per input) that
/// each input is written to, for loaders that take a path.
class InputFile {
 public:
  explicit InputFile(const std::string& name) {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                     : std::filesystem::temp_directory_path();
    folder_ = base / ("focus-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(folder_);
    path_ = (folder_ / name).string();
  }
  ~InputFile() {
    std::error_code ignored;
    std::filesystem::remove_all(folder_, ignored);
  }
  /// Replaces the file's content with the input.
  const std::string& write(const uint8_t* data, size_t size) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    return path_;
  }
  const std::string& path() const { return path_; }
  const std::filesystem::path& folder() const { return folder_; }

 private:
  std::filesystem::path folder_;
  std::string path_;
};

[[noreturn]] inline void finding(std::string_view what, std::string_view message) {
  std::fprintf(stderr, "fuzz finding: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(message.size()), message.data());
  std::abort();
}

/// Checks an error message a loader gave for a bad input: it names `file` (when given) and has
/// no control bytes other than newlines and is valid UTF-8 (bytes from the file must be quoted
/// escaped).
inline void check_message(const std::string& message, const std::string& file) {
  if (message.empty()) finding("empty error message", "");
  if (!file.empty() && message.find(file) == std::string::npos) finding("error message does not name the file", message);
  for (unsigned char c : message)
    if ((c < 0x20 && c != '\n') || c == 0x7f) finding("raw control byte in error message", message);
  if (!focus::data::utf8::is_valid(message)) finding("invalid UTF-8 in error message", message);
}

/// Runs `load`; a documented error with a good message is a normal outcome for a bad input,
/// anything else is a finding.
template <typename Load>
void expect_clean(Load&& load, const std::string& file) {
  try {
    load();
  } catch (const std::runtime_error& error) {
    check_message(error.what(), file);
  } catch (const std::invalid_argument& error) {
    check_message(error.what(), file);
  } catch (const std::exception& error) {
    finding("undocumented exception type", error.what());
  }
}

}  // namespace focus::fuzz
