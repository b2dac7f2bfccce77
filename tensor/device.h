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
  /// Parses like parse() and checks that the device exists on this machine, with an error
  /// that says why not (a build without CUDA, no GPU visible, an index past the last GPU).
  static Device parse_available(const std::string& text);

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  bool operator==(const Device&) const = default;
};

inline const Device kCPU = Device::cpu();

}  // namespace focus
