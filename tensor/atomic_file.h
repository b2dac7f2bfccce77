#pragma once
// Writing a whole file so that a reader (or a crash) sees the old contents or the new, never half.
#include <filesystem>
#include <string_view>

namespace focus {

/// Writes `contents` into a temporary file beside `path`, then renames it over `path`.
/// Throws naming `path` when the folder is missing or not writable; `path` is then untouched.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace focus
