#include "squareplus.h"

#include <autograd/node.h>  // Node, connect, any_requires_grad: what an op of your own needs

#include <memory>
#include <stdexcept>

namespace my {

using namespace focus;

namespace {

// The node backward runs for one call of squareplus. It keeps what the derivative needs, through
// save(): autograd then refuses the backward, naming this node, if someone overwrote them in between.
class SquareplusBackward : public Node {
 public:
  SquareplusBackward(Tensor y, Tensor root) : y_(save(y, "y")), root_(save(root, "root")) {}
  std::string name() const override { return "SquareplusBackward"; }

  // forward: r = √(x² + b), y = (x + r) / 2, elementwise, y and x of the same shape.
  // dr/dx = x / r, so dy/dx = (1 + x/r) / 2 = (r + x) / (2r) = y / r: the output over the root,
  // both saved, no x needed. dx = dy ⊙ y / r   (x.shape).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {grad_outputs[0] * y_ / root_};  // gradient recording is off in here: plain arithmetic
  }

 private:
  Tensor y_, root_;
};

}  // namespace

Tensor squareplus(const Tensor& x, double b) {
  if (!(b > 0)) throw std::invalid_argument("squareplus: b must be > 0, got " + std::to_string(b));
  // The forward with kernels:: (no graph is recorded for these), then one node for the whole op.
  Tensor root = kernels::sqrt(kernels::add(kernels::mul(x, x), scalar_tensor(b, TensorOptions(x.dtype()).with_device(x.device()))));
  Tensor y = kernels::mul(kernels::add(x, root), scalar_tensor(0.5, TensorOptions(x.dtype()).with_device(x.device())));
  if (any_requires_grad({x})) connect(std::make_shared<SquareplusBackward>(y, root), {x}, {y});
  return y;
}

}  // namespace my
