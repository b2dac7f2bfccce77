#pragma once
// Sequential: layers applied one after another, like torch.nn.Sequential.
//
//   auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(8, 32),
//                                                 std::make_shared<nn::ReLU>(),
//                                                 std::make_shared<nn::Linear>(32, 4));
//   Tensor logits = (*model)(x);       // parameters are "0.weight", "0.bias", "2.weight", ...
#include <concepts>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/unary_module.h"

namespace focus::nn {

/// A chain of single-input layers; forward feeds each layer's output to the next.
/// Children are named "0", "1", ... in order (or by the name given to push_back),
/// so checkpoint names match PyTorch's.
class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  /// Sequential(layer0, layer1, ...) with each a std::shared_ptr to a UnaryModule.
  template <typename... Layers>
    requires(sizeof...(Layers) > 0 && (std::derived_from<Layers, UnaryModule> && ...))
  explicit Sequential(std::shared_ptr<Layers>... layers) {
    (push_back(std::move(layers)), ...);
  }

  /// Appends a layer named by its position ("0", "1", ...). Returns it, typed.
  template <typename Layer>
    requires std::derived_from<Layer, UnaryModule>
  std::shared_ptr<Layer> push_back(std::shared_ptr<Layer> layer) {
    return push_back(std::to_string(layers_.size()), std::move(layer));
  }
  /// Appends a layer under an explicit name (its parameters become "<name>.weight").
  template <typename Layer>
    requires std::derived_from<Layer, UnaryModule>
  std::shared_ptr<Layer> push_back(const std::string& name, std::shared_ptr<Layer> layer) {
    register_module(name, std::static_pointer_cast<Module>(layer));
    layers_.push_back(layer);
    return layer;
  }

  /// Runs the layers in order (the input itself when empty).
  Tensor forward(const Tensor& input) override;

  size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  /// The layer at `index` (throws std::out_of_range).
  const std::shared_ptr<UnaryModule>& operator[](size_t index) const;
  /// The layer at `index` as its concrete type; throws when it is another type.
  template <typename Layer>
  std::shared_ptr<Layer> at(size_t index) const {
    auto layer = std::dynamic_pointer_cast<Layer>((*this)[index]);
    if (!layer)
      throw std::invalid_argument("Sequential::at: layer " + std::to_string(index) + " is a " +
                                  (*this)[index]->type_name() + ", not the type asked for");
    return layer;
  }
  auto begin() const { return layers_.begin(); }
  auto end() const { return layers_.end(); }

  std::string type_name() const override { return "Sequential"; }

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

}  // namespace focus::nn
