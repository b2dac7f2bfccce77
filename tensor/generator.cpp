#include "tensor/generator.h"

#include <sstream>
#include <stdexcept>

namespace focus {

std::string Generator::state() const {
  std::ostringstream out;
  out << seed_ << ' ' << engine_;
  return out.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  uint64_t seed = 0;
  std::mt19937_64 engine;
  if (!(in >> seed >> engine)) throw std::invalid_argument("Generator::set_state: malformed state text");
  seed_ = seed;
  engine_ = engine;
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace focus
