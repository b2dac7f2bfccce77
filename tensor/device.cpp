#include "tensor/device.h"

#include <fmt/format.h>

#include <stdexcept>

namespace focus {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    try {
      size_t used = 0;
      int index = std::stoi(text.substr(5), &used);
      if (used == text.size() - 5 && index >= 0) return cuda(index);
    } catch (const std::exception&) {
    }
  }
  throw std::invalid_argument(
      fmt::format("unknown device '{}': expected cpu, cuda or cuda:<index>", text));
}

}  // namespace focus
