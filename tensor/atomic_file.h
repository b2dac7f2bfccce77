#pragma once
// Writing a whole file so that a reader, or a crash, sees the old contents or the new, never half.
// Every file the library saves goes through here: checkpoints, metrics.csv, summary.json,
// vocabularies, pictures. The steps, and why each:
//   1. create a temporary file in the target's folder (so step 4 is a rename, not a copy), named
//      ".<name>.<pid>-<n>.tmp" so no loader or resume ever takes it for the file itself;
//   2. write the contents in pieces of at most 1 MiB, continuing after short writes;
//   3. fsync, then close, checking both: a full disk may be reported only there;
//   4. rename it over the target, which is atomic: the old file until here, the new one after;
//   5. fsync the folder, so the rename itself survives a power cut.
// A failure in steps 1-4 removes the temporary file and throws std::runtime_error naming the
// target and the OS error; the target keeps what it had. A crash (SIGKILL, power cut) can leave a
// temporary file behind, never a damaged target.
//
// For the crash tests (tests/optim/test_crash_safe_save.cpp): with FOCUS_TEST_KILL_SAVE_AT=<n> in
// the environment, a save kills its own process with SIGKILL at its n-th step, after telling
// stderr which step that was: "created", "wrote" (each piece), "synced", "closed", "renamed"
// (the folder not yet synced), "folder synced".
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace focus {

/// One file written atomically, piece by piece (a checkpoint need not be assembled in memory):
///   AtomicFileWriter file(path);  file.write(header);  file.write(data, bytes);  file.commit();
/// Destroyed without commit() (an exception on the way), it removes its temporary file and
/// `path` keeps what it had.
class AtomicFileWriter {
 public:
  /// Creates the temporary file beside `path`. Throws naming `path` when its folder is missing
  /// or not writable.
  explicit AtomicFileWriter(std::filesystem::path path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Appends `size` bytes to the temporary file (not yet visible at `path`).
  void write(const void* data, size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  /// Makes the written bytes the contents of `path`: sync, close, rename over it, sync the folder.
  void commit();

  const std::filesystem::path& path() const { return path_; }

 private:
  // Both remove the temporary file, then throw naming path_ and the OS error.
  [[noreturn]] void fail(const std::string& step, int error);
  [[noreturn]] void fail_with_errno(const char* step);
  void reached(const char* step);  // counts a step; the test-only kill point

  std::filesystem::path path_, temporary_;
  int fd_ = -1;  // the temporary file's, until it is closed
  int64_t bytes_written_ = 0;
  int kill_at_step_ = 0, steps_ = 0;  // FOCUS_TEST_KILL_SAVE_AT; 0: never
};

/// Writes `contents` to `path` atomically (AtomicFileWriter in one call).
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace focus
