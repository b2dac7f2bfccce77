#pragma once
// A small JSON reader and writer for checkpoint headers (safetensors). Parse
// errors say what was expected and at which byte of the text.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace focus::nn::json {

struct Value;
using Object = std::map<std::string, Value>;
using Array = std::vector<Value>;

/// null, bool, integer, floating number, string, array or object.
struct Value {
  std::variant<std::nullptr_t, bool, int64_t, double, std::string, Array, Object> data;

  bool is_object() const { return std::holds_alternative<Object>(data); }
  bool is_array() const { return std::holds_alternative<Array>(data); }
  bool is_string() const { return std::holds_alternative<std::string>(data); }
  bool is_integer() const { return std::holds_alternative<int64_t>(data); }
  const Object& object() const { return std::get<Object>(data); }
  const Array& array() const { return std::get<Array>(data); }
  const std::string& string() const { return std::get<std::string>(data); }
  int64_t integer() const { return std::get<int64_t>(data); }
};

/// Parses one JSON document; throws std::invalid_argument("... at byte N").
Value parse(const std::string& text);
/// Quotes and escapes a string for JSON output.
std::string quote(const std::string& text);

}  // namespace focus::nn::json
