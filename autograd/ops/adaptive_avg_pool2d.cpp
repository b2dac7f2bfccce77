// adaptive_avg_pool2d: means over windows chosen to give a fixed output size,
// like torch.nn.functional.adaptive_avg_pool2d.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

class AdaptiveAvgPool2dBackward : public Node {
 public:
  explicit AdaptiveAvgPool2dBackward(Shape input_shape) : input_shape_(std::move(input_shape)) {}
  std::string name() const override { return "AdaptiveAvgPool2dBackward"; }

  // forward: y[n, c, i, j] = mean of x[n, c, rows(i), cols(j)], rows(i) = [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉)
  //          x [N, C, H, W], y [N, C, OH, OW]
  // so dx[n, c, h, w] = Σ_{(i, j) whose window holds (h, w)} dy[n, c, i, j] / |rows(i)|·|cols(j)|
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::adaptive_avg_pool2d_backward(grad_outputs[0], input_shape_)};
  }

 private:
  Shape input_shape_;
};

}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& input, std::pair<int64_t, int64_t> output_size) {
  Tensor y = kernels::adaptive_avg_pool2d(input, output_size.first, output_size.second);
  if (any_requires_grad({input}))
    connect(std::make_shared<AdaptiveAvgPool2dBackward>(input.shape()), {input}, {y});
  return y;
}

}  // namespace focus
