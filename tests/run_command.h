#pragma once
// Runs a program the way a user would, for the tests that check examples and multi-process jobs.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace focus::testing {

/// What a shell command printed on standard output (append " 2>&1" to the command for standard
/// error too), its exit status (-1 when a signal ended it) and how long it took.
struct CommandResult {
  std::string output;
  int status = -1;
  double seconds = 0;
};

inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace focus::testing
