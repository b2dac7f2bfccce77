// conv2d: 2-D cross-correlation over NCHW, like torch.nn.functional.conv2d.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

class Conv2dBackward : public Node {
 public:
  Conv2dBackward(const Tensor& input, const Tensor& weight, const kernels::Conv2dParams& params)
      : input_(save(input, "input")), weight_(save(weight, "weight")), params_(params) {}
  std::string name() const override { return "Conv2dBackward"; }

  // forward: y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x[n, g·Cg + c, i·s − pad + p·d,
  //                                                                 j·s − pad + q·d]
  //          x [N, C, H, W], w [O, Cg, kH, kW] (Cg = C / groups, g = o's group), y [N, O, OH, OW]
  // Per image and group this is y = W @ col (W [Og, Cg·kH·kW], col = im2col(x) [Cg·kH·kW, OH·OW]), so
  //    dW = Σ_n dy_n @ col_nᵀ        [Og, OH·OW] @ [OH·OW, Cg·kH·kW], summed over the batch
  //    dx = col2im(Wᵀ @ dy_n)       [Cg·kH·kW, Og] @ [Og, OH·OW], each entry added back where im2col read it
  //    db = Σ_{n, i, j} dy[n, o, i, j]
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    kernels::Conv2dGrads grads = kernels::conv2d_backward(grad_outputs[0], input_, weight_, params_,
                                                          needs_input_grad(0), needs_input_grad(1),
                                                          needs_input_grad(2));
    return {grads.input, grads.weight, grads.bias};
  }

 private:
  Tensor input_, weight_;
  kernels::Conv2dParams params_;
};

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, std::pair<int64_t, int64_t> stride,
              std::pair<int64_t, int64_t> padding, std::pair<int64_t, int64_t> dilation, int64_t groups,
              std::pair<int64_t, int64_t> extra_padding) {
  kernels::Conv2dParams params;
  params.stride_h = stride.first;
  params.stride_w = stride.second;
  params.pad_top = padding.first;
  params.pad_left = padding.second;
  params.pad_bottom = padding.first + extra_padding.first;
  params.pad_right = padding.second + extra_padding.second;
  params.dilation_h = dilation.first;
  params.dilation_w = dilation.second;
  params.groups = groups;
  Tensor y = kernels::conv2d(input, weight, bias, params);
  if (any_requires_grad({input, weight, bias}))
    connect(std::make_shared<Conv2dBackward>(input, weight, params), {input, weight, bias}, {y});
  return y;
}

}  // namespace focus
