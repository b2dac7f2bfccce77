#pragma once
// summary.json: what a finished run achieved, for people and for scripts.
#include <filesystem>
#include <map>
#include <string>

namespace focus::training {

/// Writes `fields` as one flat JSON object, keys sorted: values that read as numbers
/// ("0.8342", "12") are written as numbers, everything else as strings. Atomic.
void write_summary(const std::filesystem::path& path, const std::map<std::string, std::string>& fields);

}  // namespace focus::training
