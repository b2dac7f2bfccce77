#pragma once
// gradcheck for layers: checks the gradients of a module's own parameters (by
// their dotted names) and of the inputs, in float64.
//
//   auto layer = std::make_shared<nn::Linear>(3, 2);
//   REQUIRE(nn::gradcheck(*layer, [&](auto& in) { return (*layer)(in[0]); }, {x}));
#include "autograd/gradcheck.h"
#include "nn/module.h"

namespace focus::nn {

/// Converts `module` to float64 (in place), then checks every trainable parameter
/// and every input that requires grad. Report names are "weight", "input 0", ...
GradcheckResult gradcheck(Module& module, const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace focus::nn
