#pragma once
#include <filesystem>
#include <string>

namespace focus::data {

/// Where the data sets live: `explicit_path` when given (a --data flag), else
/// the FOCUS_DATA environment variable. Throws, saying how to get the data,
/// when neither is set.
std::filesystem::path data_root(const std::string& explicit_path = "");

/// True when FOCUS_DATA is set to a non-empty value (tests use it to decide
/// whether to run on the real data sets).
bool has_data_root();

}  // namespace focus::data
