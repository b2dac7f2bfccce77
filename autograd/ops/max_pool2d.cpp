// max_pool2d: window maxima over NCHW, like torch.nn.functional.max_pool2d.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

class MaxPool2dBackward : public Node {
 public:
  MaxPool2dBackward(Tensor indices, Shape input_shape)
      : indices_(std::move(indices)), input_shape_(std::move(input_shape)) {}
  std::string name() const override { return "MaxPool2dBackward"; }

  // forward: y[n, c, i, j] = x[n, c, argmax over window (i, j)]    x [N, C, H, W], y [N, C, OH, OW]
  // y picks one element per window, so dx[n, c, argmax(i, j)] += dy[n, c, i, j] (overlapping windows add)
  // and every other element of x gets 0. The argmax positions were saved by forward.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::max_pool2d_backward(grad_outputs[0], indices_, input_shape_)};
  }

 private:
  Tensor indices_;
  Shape input_shape_;
};

kernels::Pool2dParams pool_params(std::pair<int64_t, int64_t> kernel_size, std::pair<int64_t, int64_t> stride,
                                  std::pair<int64_t, int64_t> padding) {
  kernels::Pool2dParams p;
  p.kernel_h = kernel_size.first;
  p.kernel_w = kernel_size.second;
  p.stride_h = stride.first;
  p.stride_w = stride.second;
  p.pad_h = padding.first;
  p.pad_w = padding.second;
  return p;
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, std::pair<int64_t, int64_t> kernel_size,
                                                  std::pair<int64_t, int64_t> stride,
                                                  std::pair<int64_t, int64_t> padding) {
  auto [y, indices] = kernels::max_pool2d(input, pool_params(kernel_size, stride, padding));
  if (any_requires_grad({input})) connect(std::make_shared<MaxPool2dBackward>(indices, input.shape()), {input}, {y});
  return {y, indices};
}

Tensor max_pool2d(const Tensor& input, std::pair<int64_t, int64_t> kernel_size, std::pair<int64_t, int64_t> stride,
                  std::pair<int64_t, int64_t> padding) {
  return max_pool2d_with_indices(input, kernel_size, stride, padding).first;
}

}  // namespace focus
