#pragma once
// gradcheck for layers: checks the gradients of a module's own parameters (by
// their dotted names) and of the inputs, in float64.
//
//   auto layer = std::make_shared<nn::Linear>(3, 2);
//   REQUIRE(nn::gradcheck(*layer, [&](auto& in) { return (*layer)(in[0]); }, {x}));
#include "autograd/gradcheck.h"
#include "nn/module.h"

namespace focus::nn {

/// Checks every trainable parameter of `module` and every input that requires grad, in float64.
/// The module works in float64 during the check and is put back afterwards, also when the check
/// throws: each parameter and buffer gets its original tensor back (dtype, values, layout), and each
/// parameter its gradient. Report names are "weight", "input 0", ...
GradcheckResult gradcheck(Module& module, const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace focus::nn
