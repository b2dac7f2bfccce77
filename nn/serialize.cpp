#include "nn/serialize.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fmt/ranges.h>

#include "nn/json.h"
#include "tensor/atomic_file.h"
#include "tensor/kernels.h"

namespace focus::nn {

namespace {

int64_t fail_after_bytes = -1;  // testing hook

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

bool parse_dtype(const std::string& name, DType& out) {
  if (name == "F32") out = kFloat32;
  else if (name == "F64") out = kFloat64;
  else if (name == "I64") out = kInt64;
  else if (name == "BOOL") out = kBool;
  else return false;
  return true;
}

// Appends to the file; honours the testing hook by writing only up to its byte count, then throwing
// as a crash mid-write would stop the save.
void write_counted(AtomicFileWriter& file, const void* data, size_t size, int64_t& written) {
  const size_t room = static_cast<size_t>(std::max<int64_t>(0, fail_after_bytes - written));
  const size_t allowed = fail_after_bytes < 0 ? size : std::min(size, room);
  file.write(data, allowed);
  written += static_cast<int64_t>(allowed);
  if (allowed < size) throw std::runtime_error(fmt::format("simulated failure while writing {}", file.path().string()));
}

}  // namespace

namespace testing {
void fail_writes_after(int64_t bytes) { fail_after_bytes = bytes; }
}  // namespace testing

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  // Host copies, contiguous, so the data section is one memcpy per tensor.
  std::vector<Tensor> host;
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      header += fmt::format("{}{}:{}", first ? "" : ",", json::quote(key), json::quote(value));
      first = false;
    }
    header += "}";
  }
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    if (name == "__metadata__") throw std::invalid_argument("save_safetensors: '__metadata__' is reserved");
    Tensor c = t.detach();
    if (!c.device().is_cpu()) c = c.to(kCPU);
    if (!c.is_contiguous()) c = kernels::contiguous_copy(c);
    int64_t bytes = c.numel() * static_cast<int64_t>(element_size(c.dtype()));
    std::string shape = fmt::format("{}", fmt::join(c.shape(), ","));
    header += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                          header.size() > 1 ? "," : "", json::quote(name), safetensors_dtype(c.dtype()), shape,
                          offset, offset + bytes);
    offset += bytes;
    host.push_back(c);
  }
  header += "}";
  // The format pads the header with spaces to a multiple of 8 so data is aligned.
  while (header.size() % 8 != 0) header += ' ';

  // The header and each tensor go straight from memory into the file: no second copy of the model.
  AtomicFileWriter file(path);
  int64_t written = 0;
  uint64_t length = header.size();
  unsigned char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(length >> (8 * i));
  write_counted(file, le, 8, written);
  write_counted(file, header.data(), header.size(), written);
  for (const Tensor& c : host) write_counted(file, c.data_ptr(), c.numel() * element_size(c.dtype()), written);
  file.commit();
}

SafetensorsContent load_safetensors(const std::string& path) {
  auto fail = [&](const std::string& problem) -> std::invalid_argument {
    return std::invalid_argument(fmt::format("{}: {}", path, problem));
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail(fmt::format("cannot open ({})", std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const int64_t file_size = in.tellg();
  in.seekg(0);
  if (file_size < 8) throw fail(fmt::format("truncated: {} bytes, too short for the 8-byte header length", file_size));
  unsigned char le[8];
  in.read(reinterpret_cast<char*>(le), 8);
  uint64_t header_length = 0;
  for (int i = 0; i < 8; ++i) header_length |= static_cast<uint64_t>(le[i]) << (8 * i);
  if (header_length > static_cast<uint64_t>(file_size - 8))
    throw fail(fmt::format("header length {} is beyond the file size {} (truncated or not a safetensors file)",
                           header_length, file_size));
  std::string header(header_length, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_length));
  if (!in) throw fail("cannot read the header");

  json::Value root;
  try {
    root = json::parse(header);
  } catch (const std::invalid_argument& e) {
    throw fail(fmt::format("{} of the header", e.what()));
  }
  if (!root.is_object()) throw fail("the header is not a JSON object");

  const int64_t data_size = file_size - 8 - static_cast<int64_t>(header_length);
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    int64_t begin, end;
  };
  std::vector<Entry> entries;
  SafetensorsContent content;
  for (const auto& item : root.object()) {
    const std::string& name = item.first;  // not a structured binding: the lambda below captures it
    const json::Value& value = item.second;
    if (name == "__metadata__") {
      if (!value.is_object()) throw fail("__metadata__ is not an object");
      for (const auto& [key, v] : value.object()) {
        if (!v.is_string()) throw fail(fmt::format("metadata {:?} is not a string", key));
        content.metadata[key] = v.string();
      }
      continue;
    }
    if (!value.is_object()) throw fail(fmt::format("entry {:?} is not an object", name));
    const json::Object& info = value.object();
    auto field = [&](const char* key) -> const json::Value& {
      auto it = info.find(key);
      if (it == info.end()) throw fail(fmt::format("tensor {:?} has no {:?}", name, key));
      return it->second;
    };
    Entry entry{name, kFloat32, {}, 0, 0};
    const json::Value& dtype = field("dtype");
    if (!dtype.is_string() || !parse_dtype(dtype.string(), entry.dtype))
      throw fail(fmt::format("tensor {:?} has unknown dtype {}", name,
                             dtype.is_string() ? fmt::format("{:?}", dtype.string()) : "(not a string)"));
    const json::Value& shape = field("shape");
    if (!shape.is_array()) throw fail(fmt::format("tensor {:?}: shape is not an array", name));
    for (const json::Value& s : shape.array()) {
      if (!s.is_integer() || s.integer() < 0) throw fail(fmt::format("tensor {:?}: invalid shape entry", name));
      entry.shape.push_back(s.integer());
    }
    const json::Value& offsets = field("data_offsets");
    if (!offsets.is_array() || offsets.array().size() != 2 || !offsets.array()[0].is_integer() ||
        !offsets.array()[1].is_integer())
      throw fail(fmt::format("tensor {:?}: data_offsets must be [begin, end]", name));
    entry.begin = offsets.array()[0].integer();
    entry.end = offsets.array()[1].integer();
    if (entry.begin < 0 || entry.end < entry.begin || entry.end > data_size)
      throw fail(fmt::format("tensor {:?}: data_offsets [{}, {}] are out of range of the {}-byte data section",
                             name, entry.begin, entry.end, data_size));
    // Counted with overflow checks: a shape like [3, 6148914691236517206] must not wrap around to a
    // byte count that fits the data section.
    int64_t elements = 0, expected = 0;
    try {
      elements = shape_numel(entry.shape);
    } catch (const std::overflow_error&) {
      throw fail(fmt::format("tensor {:?}: shape {} has more elements than an int64 can count", name,
                             shape_str(entry.shape)));
    }
    if (__builtin_mul_overflow(elements, static_cast<int64_t>(element_size(entry.dtype)), &expected))
      throw fail(fmt::format("tensor {:?}: shape {} of {} has more bytes than an int64 can count", name,
                             shape_str(entry.shape), dtype.string()));
    if (entry.end - entry.begin != expected)
      throw fail(fmt::format("tensor {:?}: {} bytes of data for shape {} of {} ({} bytes expected)", name,
                             entry.end - entry.begin, shape_str(entry.shape), dtype.string(), expected));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  int64_t covered = 0;
  for (const Entry& e : entries) {
    if (e.begin < covered) throw fail(fmt::format("tensor {:?} overlaps the tensor before it", e.name));
    if (e.begin > covered && e.end > e.begin) throw fail(fmt::format("a hole in the data before tensor {:?}", e.name));
    covered = std::max(covered, e.end);
  }
  if (covered != data_size)
    throw fail(fmt::format("{} bytes of data follow the last tensor (corrupt or not a safetensors file)",
                           data_size - covered));

  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, TensorOptions(e.dtype));
    in.seekg(8 + static_cast<std::streamoff>(header_length) + e.begin);
    in.read(static_cast<char*>(t.data_ptr()), e.end - e.begin);
    if (!in) throw fail(fmt::format("cannot read the data of tensor {:?}", e.name));
    if (e.dtype == kBool)  // only 0 and 1 are valid bools; anything else would be undefined behaviour
      for (int64_t i = 0; i < t.numel(); ++i)
        if (reinterpret_cast<const unsigned char*>(t.data_ptr())[i] > 1)
          throw fail(fmt::format("tensor {:?}: byte {} is not a valid bool", e.name, i));
    content.tensors.emplace_back(e.name, t);
  }
  return content;
}

void save(const Module& module, const std::string& path, const Metadata& metadata) {
  save_safetensors(path, module.state_dict(), metadata);
}

Metadata load(Module& module, const std::string& path, bool strict) {
  SafetensorsContent content = load_safetensors(path);
  try {
    module.load_state_dict(content.tensors, strict);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("{}: {}", path, e.what()));
  }
  return content.metadata;
}

}  // namespace focus::nn
