// avg_pool2d: window means over NCHW, like torch.nn.functional.avg_pool2d.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

class AvgPool2dBackward : public Node {
 public:
  AvgPool2dBackward(Shape input_shape, const kernels::Pool2dParams& params, bool count_include_pad)
      : input_shape_(std::move(input_shape)), params_(params), count_include_pad_(count_include_pad) {}
  std::string name() const override { return "AvgPool2dBackward"; }

  // forward: y[n, c, i, j] = Σ_{(h, w) in window (i, j), inside x} x[n, c, h, w] / divisor(i, j)
  //          x [N, C, H, W], y [N, C, OH, OW]; divisor = kH·kW with count_include_pad, else the inside count
  // so dx[n, c, h, w] = Σ_{windows (i, j) holding (h, w)} dy[n, c, i, j] / divisor(i, j)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::avg_pool2d_backward(grad_outputs[0], input_shape_, params_, count_include_pad_)};
  }

 private:
  Shape input_shape_;
  kernels::Pool2dParams params_;
  bool count_include_pad_;
};

}  // namespace

Tensor avg_pool2d(const Tensor& input, std::pair<int64_t, int64_t> kernel_size, std::pair<int64_t, int64_t> stride,
                  std::pair<int64_t, int64_t> padding, bool count_include_pad) {
  kernels::Pool2dParams p;
  p.kernel_h = kernel_size.first;
  p.kernel_w = kernel_size.second;
  p.stride_h = stride.first;
  p.stride_w = stride.second;
  p.pad_h = padding.first;
  p.pad_w = padding.second;
  Tensor y = kernels::avg_pool2d(input, p, count_include_pad);
  if (any_requires_grad({input}))
    connect(std::make_shared<AvgPool2dBackward>(input.shape(), p, count_include_pad), {input}, {y});
  return y;
}

}  // namespace focus
