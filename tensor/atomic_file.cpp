#include "tensor/atomic_file.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace focus {

void write_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  namespace fs = std::filesystem;
  // A name no other writer (thread or process) uses, in the same folder so the rename is atomic.
  static std::atomic<uint64_t> counter{0};
  fs::path temporary = path;
  temporary.replace_filename(fmt::format(".{}.{}-{}.tmp", path.filename().string(), ::getpid(), counter++));
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
  const bool written = std::fwrite(contents.data(), 1, contents.size(), file) == contents.size();
  const bool flushed = std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
  const bool closed = std::fclose(file) == 0;
  std::error_code error;
  if (written && flushed && closed) fs::rename(temporary, path, error);
  if (!written || !flushed || !closed || error) {
    fs::remove(temporary, error);
    throw std::runtime_error(fmt::format("writing {} failed", path.string()));
  }
}

}  // namespace focus
