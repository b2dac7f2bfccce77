#include "autograd/gradient_norms.h"

#include <stdexcept>

namespace focus {

namespace {
thread_local GradientNorms* recording = nullptr;
}  // namespace

GradientNorms::GradientNorms() : previous_(recording) {
  if (previous_) throw std::logic_error("GradientNorms: another one is already recording on this thread");
  recording = this;
}

GradientNorms::~GradientNorms() { recording = previous_; }

double GradientNorms::of(const Node* node) const {
  auto it = norms_.find(node);
  return it == norms_.end() ? 0.0 : it->second;
}

GradientNorms* GradientNorms::active() { return recording; }

}  // namespace focus
