#pragma once
// ModuleList: an indexable list of submodules whose parameters are registered,
// like torch.nn.ModuleList. Unlike Sequential it has no forward: the owner
// decides how to call its entries (e.g. a stack of blocks with skip connections).
#include <concepts>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/module.h"

namespace focus::nn {

/// Submodules named "0", "1", ... in the order they were added.
class ModuleList : public Module {
 public:
  ModuleList() = default;
  /// ModuleList(module0, module1, ...).
  template <typename... Modules>
    requires(sizeof...(Modules) > 0 && (std::derived_from<Modules, Module> && ...))
  explicit ModuleList(std::shared_ptr<Modules>... modules) {
    (push_back(std::move(modules)), ...);
  }

  /// Appends a module named by its position. Returns it, typed.
  template <typename M>
    requires std::derived_from<M, Module>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(modules_.size()), std::static_pointer_cast<Module>(module));
    modules_.push_back(module);
    return module;
  }

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  /// The module at `index` (throws std::out_of_range).
  const std::shared_ptr<Module>& operator[](size_t index) const;
  /// The module at `index` as its concrete type; throws when it is another type.
  template <typename M>
  std::shared_ptr<M> at(size_t index) const {
    auto module = std::dynamic_pointer_cast<M>((*this)[index]);
    if (!module)
      throw std::invalid_argument("ModuleList::at: entry " + std::to_string(index) + " is a " +
                                  (*this)[index]->type_name() + ", not the type asked for");
    return module;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

  std::string type_name() const override { return "ModuleList"; }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace focus::nn
