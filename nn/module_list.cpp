#include "nn/module_list.h"

#include <fmt/format.h>

namespace focus::nn {

const std::shared_ptr<Module>& ModuleList::operator[](size_t index) const {
  if (index >= modules_.size())
    throw std::out_of_range(fmt::format("ModuleList: index {} is out of range for {} modules", index, modules_.size()));
  return modules_[index];
}

}  // namespace focus::nn
