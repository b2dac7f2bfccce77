#pragma once
// The differentiable ops users call. Each is implemented in its own file,
// autograd/ops/<op>.cpp, together with its Node (see design: one op, one file).
// Adding an op: write that file and add its declaration here.
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/tensor.h"

namespace focus {

// ---- arithmetic with broadcasting (add.cpp, sub.cpp, mul.cpp, div.cpp, pow.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& x, double exponent);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor maximum(const Tensor& a, const Tensor& b);  // maximum.cpp: ties send the gradient half to each
Tensor minimum(const Tensor& a, const Tensor& b);  // minimum.cpp

// ---- unary math (one file each: neg.cpp, exp.cpp, ...) -----------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor gelu(const Tensor& x);  ///< exact: x * Φ(x)
Tensor swish(const Tensor& x);  ///< x * σ(x) (SiLU); the worked example of docs/new-layer.md
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
/// Float-to-float casts carry gradients (cast back); other casts are not differentiable.
Tensor to_dtype(const Tensor& x, DType dtype);  // to_dtype.cpp
/// x copied to `device` (x itself when already there); gradients flow back to x's device.
/// non_blocking: a copy from pinned host memory returns before the GPU has it (ordered on the stream).
Tensor to_device(const Tensor& x, Device device, bool non_blocking = false);  // to_device.cpp

// ---- selection (where.cpp, masked_fill.cpp) ------------------------------------------
/// cond ? a : b, all three broadcast. cond is a Bool tensor (no gradient).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// x with `value` where mask is true (mask broadcast to x).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- comparisons and logic (no gradient; comparison.cpp) -------------------------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
/// Logic on truth values, as torch.logical_*: any dtype, nonzero (NaN included) is true; a and b
/// broadcast; the result is Bool. For masks: logical_not(padding) is where attention is allowed.
Tensor logical_not(const Tensor& x);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);

// ---- reductions (sum.cpp, mean.cpp, var.cpp, max.cpp, amax.cpp, logsumexp.cpp) --------------
/// `dims` empty = all dims.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
/// correction 1 = unbiased (torch.var default), 0 = population variance.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);
/// Values (differentiable) and int64 indices of the max along `dim`.
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
/// Max over dims; ties share the gradient equally.
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // no gradient

// ---- softmax (softmax.cpp, log_softmax.cpp) -----------------------------------------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- linear algebra (matmul.cpp) -----------------------------------------------------------
/// 1-D/2-D/batched matmul with broadcasting batch dims, like torch.matmul.
/// Error names both shapes: "matmul: shapes [2, 3] and [4, 5] cannot be multiplied".
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- views and copies (reshape.cpp, permute.cpp, expand.cpp, slice.cpp, select.cpp, contiguous.cpp)
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);

// ---- joining (cat.cpp, stack.cpp, split.cpp) ------------------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
/// Pieces of `split_size` along dim (the last may be smaller); views.
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
/// `chunks` nearly equal pieces along dim; views.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

// ---- indexing (index_select.cpp, gather.cpp, scatter_add.cpp) ----------------------------------
/// Rows `index` (1-D int64) of dim; backward adds gradients back with index_add (repeats accumulate).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

// ---- recurrent (lstm_cell.cpp, lstm_layer.cpp) -----------------------------------------------
/// One fused LSTM step, PyTorch's gate order i, f, g, o: gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh,
/// c' = σ(f)⊙c + σ(i)⊙tanh(g), h' = σ(o)⊙tanh(c'). input [B, I], h and c [B, H], weight_ih
/// [4H, I], weight_hh [4H, H], biases [4H] (either may be undefined). Returns (h', c').
std::pair<Tensor, Tensor> lstm_cell(const Tensor& input, const Tensor& h, const Tensor& c, const Tensor& weight_ih,
                                    const Tensor& weight_hh, const Tensor& bias_ih = {}, const Tensor& bias_hh = {});
/// One LSTM layer in one direction over a whole sequence: input [T, B, I], h0 and c0
/// [B, H], weights and biases as in lstm_cell. The input projection of all T steps is
/// one GEMM; each step then adds h·W_hhᵀ and applies the fused cell. `lengths` (int64
/// [B], each in [1, T], optional): steps past a sequence's length keep its state and
/// output 0, as PyTorch's packed sequences do, so h_n, c_n are the states after each
/// sequence's last real step. `reverse` runs from t = T−1 down to 0 (each sequence
/// starting at its own last step). Returns (output [T, B, H], h_n, c_n).
std::tuple<Tensor, Tensor, Tensor> lstm_layer(const Tensor& input, const Tensor& h0, const Tensor& c0,
                                              const Tensor& weight_ih, const Tensor& weight_hh,
                                              const Tensor& bias_ih = {}, const Tensor& bias_hh = {},
                                              const Tensor& lengths = {}, bool reverse = false);

// ---- convolution, pooling, batch norm (conv2d.cpp, max_pool2d.cpp, avg_pool2d.cpp,
//      adaptive_avg_pool2d.cpp, batch_norm.cpp); all NCHW, pairs are (height, width)
/// Cross-correlation like torch's conv2d: input [N, C_in, H, W], weight [C_out, C_in/groups, kH, kW],
/// bias [C_out] (optional) → [N, C_out, H_out, W_out]. `padding` zeros go on both sides;
/// `extra_padding` adds rows/columns after only (bottom, right), as padding='same' needs for even kernels.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              std::pair<int64_t, int64_t> stride = {1, 1}, std::pair<int64_t, int64_t> padding = {0, 0},
              std::pair<int64_t, int64_t> dilation = {1, 1}, int64_t groups = 1,
              std::pair<int64_t, int64_t> extra_padding = {0, 0});
/// Window maxima (padding −∞, at most half the kernel) and their int64 positions h·W + w in the
/// input plane, like torch's max_pool2d(return_indices=True). The indices carry no gradient.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, std::pair<int64_t, int64_t> kernel_size,
                                                  std::pair<int64_t, int64_t> stride,
                                                  std::pair<int64_t, int64_t> padding = {0, 0});
Tensor max_pool2d(const Tensor& input, std::pair<int64_t, int64_t> kernel_size, std::pair<int64_t, int64_t> stride,
                  std::pair<int64_t, int64_t> padding = {0, 0});
/// Window means; count_include_pad (PyTorch's default) counts the zero padding in the divisor.
Tensor avg_pool2d(const Tensor& input, std::pair<int64_t, int64_t> kernel_size, std::pair<int64_t, int64_t> stride,
                  std::pair<int64_t, int64_t> padding = {0, 0}, bool count_include_pad = true);
/// Means over PyTorch's adaptive windows [⌊i·H/H_out⌋, ⌈(i+1)·H/H_out⌉) → [N, C, H_out, W_out].
Tensor adaptive_avg_pool2d(const Tensor& input, std::pair<int64_t, int64_t> output_size);
/// Batch normalisation over dim 1 of [N, C, *], like torch's batch_norm: in training, normalises with
/// the batch's mean and biased variance and (when running_mean/var are defined) updates them in place,
/// running = (1 − momentum)·running + momentum·batch, with the unbiased variance; otherwise uses the
/// running statistics. weight and bias [C] are optional.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

// ---- fused layers and losses (linear.cpp, embedding.cpp, layer_norm.cpp, cross_entropy.cpp,
//      sigmoid_cross_entropy.cpp); nn::functional wraps them with PyTorch's options and reductions
/// x @ weightᵀ + bias as one GEMM onto the bias: x [..., in], weight [out, in], bias [out] (optional) → [..., out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
/// Rows of weight [V, D] picked by int64 `indices` of any shape → [indices..., D]. Row padding_idx gets no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);
/// (x − mean) / √(var + eps) · weight + bias over the trailing dims `normalized_shape` (weight, bias optional).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
/// Unreduced cross-entropy of logits [N, C, d...] against int64 targets [N, d...] → [N, d...]; 0 where ignored.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = {},
                             int64_t ignore_index = -100, double label_smoothing = 0.0);
/// Unreduced binary cross-entropy of sigmoid(logits) against targets in [0, 1], elementwise, in the
/// stable form; pos_weight (optional, broadcast) weighs the positive term.
Tensor sigmoid_cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& pos_weight = {});

// ---- attention (scaled_dot_product_attention.cpp; derivation: docs/attention-backprop.md) ------
/// Fused softmax(scale·Q·Kᵀ + mask)·V → (output [..., L, Ev], weights [..., L, S]) for query [..., L, E],
/// key [..., S, E], value [..., S, Ev]; batch dims broadcast (also against the mask). Both outputs are
/// differentiable. mask: **bool, true = may attend** (PyTorch's F.scaled_dot_product_attention; the
/// opposite of nn::MultiheadAttention's masks), or float, added to the scaled scores (−∞ forbids; it gets
/// a gradient when it requires one). causal: query i attends to keys j ≤ i (combines with mask). scale
/// defaults to 1/√E. A query that may attend to nothing gets zero weights, zero output and zero gradient
/// (PyTorch gives NaN). dropout_p > 0 zeroes weights with probability p (drawn from gen, or the default
/// generator) and scales the rest by 1/(1−p) before ·V; the returned weights are those before dropout.
std::pair<Tensor, Tensor> scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                                       const Tensor& mask = {}, double dropout_p = 0.0,
                                                       bool causal = false, std::optional<double> scale = {},
                                                       Generator* gen = nullptr);

// ---- operators -----------------------------------------------------------------------------
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
// A double operand becomes a 0-d tensor of the other operand's dtype and device.
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

}  // namespace focus
