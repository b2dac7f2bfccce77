#include "tensor/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

namespace focus {

namespace fs = std::filesystem;

namespace {

// Bounded pieces: a huge tensor is never one giant write() call, and the crash tests get kill
// points in the middle of the data.
constexpr size_t kPieceBytes = size_t{1} << 20;

// Thread-safe, unlike strerror.
std::string describe(int error) { return std::error_code(error, std::generic_category()).message(); }

int kill_step_from_environment() {
  const char* value = std::getenv("FOCUS_TEST_KILL_SAVE_AT");
  return value ? std::max(0, std::atoi(value)) : 0;
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(fs::path path) : path_(std::move(path)), kill_at_step_(kill_step_from_environment()) {
  // Unique among threads (the counter) and processes (the pid); O_EXCL makes sure, and a name a
  // killed process left behind is skipped. The target's name is shortened so the temporary one
  // stays within the 255 bytes a file name may have.
  static std::atomic<uint64_t> counter{0};
  const std::string name = path_.filename().string().substr(0, 200);
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temporary_ = path_;
    temporary_.replace_filename(fmt::format(".{}.{}-{}.tmp", name, ::getpid(), counter++));
    fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && (errno != EEXIST || attempt == 100)) {
      const int error = errno;
      temporary_.clear();  // not ours: nothing to remove
      fail("cannot open a temporary file beside it", error);
    }
  }
  reached("created");
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!temporary_.empty()) ::unlink(temporary_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t size) {
  if (fd_ < 0) throw std::logic_error(fmt::format("AtomicFileWriter: {} was already committed", path_.string()));
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    // A short write is not an error by itself: the rest goes in the next call, which reports
    // the reason (ENOSPC, EFBIG) if there is one.
    const ssize_t written = ::write(fd_, bytes, std::min(size, kPieceBytes));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      const int error = written < 0 ? errno : EIO;
      fail(fmt::format("writing failed after {} bytes", bytes_written_), error);
    }
    bytes += written;
    size -= static_cast<size_t>(written);
    bytes_written_ += written;
    reached("wrote");
  }
}

void AtomicFileWriter::commit() {
  if (fd_ < 0) throw std::logic_error(fmt::format("AtomicFileWriter: {} was already committed", path_.string()));
  if (::fsync(fd_) != 0) fail_with_errno("fsync failed");
  reached("synced");
  // Closed exactly once, even when close() fails (Linux releases the descriptor anyway).
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_with_errno("closing it failed");
  reached("closed");
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) fail_with_errno("renaming it over the file failed");
  temporary_.clear();  // it is the target now
  reached("renamed");

  // The rename is done; syncing the folder only makes it survive a power cut. A folder we may
  // not open cannot be synced, and some filesystems cannot sync folders (EINVAL): both are fine.
  const fs::path folder = path_.has_parent_path() ? path_.parent_path() : fs::path(".");
  const int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder_fd >= 0) {
    const int synced = ::fsync(folder_fd);
    const int error = errno;
    ::close(folder_fd);
    if (synced != 0 && error != EINVAL)
      throw std::runtime_error(fmt::format("{} was written, but syncing its folder failed ({}): a power cut may undo it",
                                           path_.string(), describe(error)));
  }
  reached("folder synced");
}

void AtomicFileWriter::fail(const std::string& step, int error) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temporary_.empty()) ::unlink(temporary_.c_str());
  temporary_.clear();
  throw std::runtime_error(
      fmt::format("cannot write {}: {} ({}); the file is unchanged", path_.string(), step, describe(error)));
}

void AtomicFileWriter::fail_with_errno(const char* step) {
  const int error = errno;  // before anything else can change it
  fail(step, error);
}

void AtomicFileWriter::reached(const char* step) {
  if (++steps_ != kill_at_step_) return;
  // The test reads this line to learn which step the kill hit.
  const std::string line = fmt::format("FOCUS_TEST_KILL_SAVE_AT={}: killed after step '{}'\n", steps_, step);
  [[maybe_unused]] const ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  ::kill(::getpid(), SIGKILL);
}

void write_file_atomically(const fs::path& path, std::string_view contents) {
  AtomicFileWriter file(path);
  file.write(contents);
  file.commit();
}

}  // namespace focus
