#include "datasets/data_root.h"

#include <cstdlib>
#include <stdexcept>

namespace focus::data {

std::filesystem::path data_root(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  const char* env = std::getenv("FOCUS_DATA");
  if (env != nullptr && *env != '\0') return env;
  throw std::runtime_error(
      "no data directory: pass one (e.g. --data DIR) or set FOCUS_DATA=DIR; "
      "scripts/download-cifar10.sh DIR fetches CIFAR-10 into DIR/cifar-10-batches-bin");
}

bool has_data_root() {
  const char* env = std::getenv("FOCUS_DATA");
  return env != nullptr && *env != '\0';
}

}  // namespace focus::data
