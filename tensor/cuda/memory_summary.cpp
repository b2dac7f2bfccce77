#include <fmt/format.h>

#include "tensor/cuda/backend.h"

namespace focus::cuda {

std::string memory_summary(int device_index) {
  const MemoryStats s = memory_stats(device_index);
  const double mib = 1024.0 * 1024.0;
  const double hit_rate = s.allocations > 0 ? 100.0 * static_cast<double>(s.cache_hits) / s.allocations : 0.0;
  return fmt::format("cuda:{} memory: {:.0f} MiB peak in tensors (now {:.0f} MiB), {:.0f} MiB reserved (peak {:.0f}), "
                     "{:.1f}% of {} requests served from the cache",
                     device_index, s.peak_allocated_bytes / mib, s.allocated_bytes / mib, s.reserved_bytes / mib,
                     s.peak_reserved_bytes / mib, hit_rate, s.allocations);
}

}  // namespace focus::cuda
