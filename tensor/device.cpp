#include "tensor/device.h"

#include <fmt/format.h>

#include <stdexcept>

#include "tensor/cuda/backend.h"

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

Device Device::parse_available(const std::string& text) {
  Device device = parse(text);
  if (device.is_cpu()) return device;
#ifndef FOCUS_WITH_CUDA
  throw std::runtime_error(
      fmt::format("device '{}': focus was built without CUDA (reconfigure with -DFOCUS_CUDA=ON)", text));
#else
  int count = cuda::device_count();
  if (count == 0) throw std::runtime_error(fmt::format("device '{}': no CUDA GPU is visible on this machine", text));
  if (device.index >= count)
    throw std::runtime_error(fmt::format("device '{}': this machine has {} CUDA device(s), cuda:0 to cuda:{}", text,
                                         count, count - 1));
  return device;
#endif
}

}  // namespace focus
