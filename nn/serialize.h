#pragma once
// Checkpoints in the safetensors layout, readable by PyTorch users:
//   8 bytes  little-endian u64 N, the header length
//   N bytes  JSON: {"conv1.weight": {"dtype": "F32", "shape": [32, 3, 3, 3],
//                   "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}
//   rest     raw little-endian tensor data; offsets are relative to its start.
// Saving is atomic (tensor/atomic_file.h): a temporary file in the same folder, fsync, then
// rename, so an interrupted save, a crash or a full disk leaves the previous file intact.
#include <map>
#include <string>

#include "nn/module.h"

namespace focus::nn {

using Metadata = std::map<std::string, std::string>;

/// What a safetensors file holds.
struct SafetensorsContent {
  StateDict tensors;  ///< in file order of their data
  Metadata metadata;
};

/// Writes tensors (any device; stored contiguous, little-endian) and metadata atomically.
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {});
/// Reads and validates a whole file. Every problem — missing or truncated file,
/// header length beyond the file, malformed JSON, unknown dtype, offsets out of
/// range, overlapping or leaving holes, sizes not matching shapes — throws an
/// error naming the file and the problem.
SafetensorsContent load_safetensors(const std::string& path);

/// A module's state_dict to a file (names as PyTorch gives them: "conv1.weight").
void save(const Module& module, const std::string& path, const Metadata& metadata = {});
/// Loads a file saved by save() into `module` (strict name/shape checking); returns its metadata.
Metadata load(Module& module, const std::string& path, bool strict = true);

namespace testing {
/// Makes the next saves throw after writing `bytes` bytes (simulates a crash
/// mid-write); negative turns it off.
void fail_writes_after(int64_t bytes);
}  // namespace testing

}  // namespace focus::nn
