// safetensors checkpoints: layout readable by an independent reader, atomic saves,
// and a clear error for every kind of corruption.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "focus.h"
#include "nn/json.h"
#include "nn/serialize.h"

using namespace focus;
namespace fs = std::filesystem;

namespace {

struct TinyNet : nn::Module {
  Tensor weight, bias, running;
  TinyNet() {
    weight = register_parameter("weight", arange(6, kFloat32).reshape({2, 3}));
    bias = register_parameter("bias", tensor({0.5, -0.5}));
    running = register_buffer("steps", tensor({7}, {}, kInt64));
  }
  std::string type_name() const override { return "TinyNet"; }
};

struct Outer : nn::Module {
  std::shared_ptr<TinyNet> block = register_module("block", std::make_shared<TinyNet>());
  std::string type_name() const override { return "Outer"; }
};

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("focus-serialize-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file with the given header text and data bytes, in safetensors framing.
std::string framed(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

}  // namespace

TEST_CASE("a saved state_dict parses with a minimal independent reader", "[serialize]") {
  fs::path path = temp_dir() / "outer.safetensors";
  Outer model;
  nn::save(model, path.string(), {{"model", "tiny"}});

  // The independent reader: 8-byte LE length, JSON header, raw data — nothing from focus but the JSON parser.
  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  REQUIRE(n % 8 == 0);
  nn::json::Value header = nn::json::parse(bytes.substr(8, n));
  const auto& entries = header.object();
  REQUIRE(entries.at("__metadata__").object().at("model").string() == "tiny");
  const auto& weight = entries.at("block.weight").object();
  REQUIRE(weight.at("dtype").string() == "F32");
  REQUIRE(weight.at("shape").array().size() == 2);
  int64_t begin = weight.at("data_offsets").array()[0].integer();
  float values[6];
  std::memcpy(values, bytes.data() + 8 + n + begin, sizeof values);
  for (int i = 0; i < 6; ++i) REQUIRE(values[i] == static_cast<float>(i));
  REQUIRE(entries.at("block.steps").object().at("dtype").string() == "I64");

  Outer fresh;
  fresh.block->weight.zero_();
  nn::Metadata meta = nn::load(fresh, path.string());
  REQUIRE(meta.at("model") == "tiny");
  REQUIRE(fresh.block->weight.to_vector<float>() == model.block->weight.to_vector<float>());
  REQUIRE(fresh.block->running.to_vector<int64_t>() == std::vector<int64_t>{7});
}

TEST_CASE("an interrupted save leaves the previous checkpoint intact", "[serialize]") {
  fs::path dir = temp_dir() / "atomic";
  fs::create_directories(dir);
  fs::path path = dir / "model.safetensors";
  Outer model;
  nn::save(model, path.string());
  std::string before = read_bytes(path);

  model.block->weight.fill_(42);
  nn::testing::fail_writes_after(20);  // dies inside the header
  REQUIRE_THROWS_WITH(nn::save(model, path.string()), Catch::Contains("simulated failure"));
  nn::testing::fail_writes_after(-1);
  REQUIRE(read_bytes(path) == before);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  REQUIRE(files == 1);  // no temporary left behind

  Outer loaded;
  nn::load(loaded, path.string());
  REQUIRE(loaded.block->weight.at({0, 1}) == 1.0);
}

TEST_CASE("every kind of corrupt file gives an error naming the file and the problem", "[serialize]") {
  fs::path dir = temp_dir();
  fs::path path = dir / "bad.safetensors";
  const std::string file = path.string();
  auto expect = [&](const std::string& bytes, const std::string& problem) {
    write_bytes(path, bytes);
    INFO(problem);
    REQUIRE_THROWS_WITH(nn::load_safetensors(file), Catch::Contains(file) && Catch::Contains(problem));
  };
  std::string four_floats(16, '\0');
  expect("abc", "truncated");
  expect(framed("{\"a\": 1}", "").substr(0, 8) + "{}", "beyond the file size");
  expect(framed("{\"a\": {\"dtype\": \"F32\", ", four_floats), "malformed JSON");
  expect(framed("{\"a\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 8]}}", four_floats),
         "unknown dtype \"F16\"");
  expect(framed("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 32]}}", four_floats),
         "out of range");
  expect(framed("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 12]}}", four_floats),
         "16 bytes expected");
  expect(framed("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                 " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                 four_floats),
         "overlaps");
  expect(framed("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", four_floats), "hole");
  expect(framed("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", four_floats),
         "follow the last tensor");
  expect(framed("{\"a\": {\"dtype\": \"BOOL\", \"shape\": [1], \"data_offsets\": [0, 1]}}", "\x07"),
         "not a valid bool");
  expect(framed("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", std::string(4, '\0')), "no \"dtype\"");
  // Shapes whose element or byte count overflows int64: 3 × 6148914691236517206 wraps around to 2,
  // and 2 float32 are the 8 bytes present — the wrap must be caught, not loaded as 1.8e19 elements.
  expect(framed("{\"a\": {\"dtype\": \"F32\", \"shape\": [3, 6148914691236517206], \"data_offsets\": [0, 8]}}",
                std::string(8, '\0')),
         "more elements than an int64 can count");
  expect(framed("{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 8]}}",
                std::string(8, '\0')),
         "more bytes than an int64 can count");
  REQUIRE_THROWS_WITH(nn::load_safetensors((dir / "missing.safetensors").string()),
                      Catch::Contains("missing.safetensors") && Catch::Contains("cannot open"));
}

TEST_CASE("loading into a model with other names or shapes lists every mismatch", "[serialize]") {
  fs::path path = temp_dir() / "tiny.safetensors";
  TinyNet tiny;
  nn::save(tiny, path.string());
  Outer outer;  // expects "block.weight" etc.
  try {
    nn::load(outer, path.string());
    FAIL("load should have thrown");
  } catch (const std::invalid_argument& e) {
    std::string message = e.what();
    REQUIRE(message.find(path.string()) != std::string::npos);
    REQUIRE(message.find("missing (3)") != std::string::npos);
    REQUIRE(message.find("block.weight") != std::string::npos);
    REQUIRE(message.find("unexpected (3)") != std::string::npos);
  }
  nn::StateDict wrong{{"weight", zeros({3, 2})}, {"bias", zeros({2})}, {"steps", zeros({1}, kInt64)}};
  nn::save_safetensors(path.string(), wrong);
  TinyNet target;
  REQUIRE_THROWS_WITH(nn::load(target, path.string()),
                      Catch::Contains("wrong shape") && Catch::Contains("weight (checkpoint [3, 2], model [2, 3])"));
  REQUIRE(target.weight.at({1, 2}) == 5.0);  // nothing was changed
}
