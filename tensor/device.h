#pragma once
#include <string>

namespace focus {

enum class DeviceType : uint8_t { CPU, CUDA };

/// Where a tensor's memory lives: the CPU, or CUDA GPU number `index`.
struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  /// Parses "cpu", "cuda" or "cuda:1".
  static Device parse(const std::string& text);

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  bool operator==(const Device&) const = default;
};

inline const Device kCPU = Device::cpu();

}  // namespace focus
