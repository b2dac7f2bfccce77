#pragma once
// The differentiable ops users call. Each is implemented in its own file,
// autograd/ops/<op>.cpp, together with its Node (see design: one op, one file).
// Adding an op: write that file and add its declaration here.
#include <optional>
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
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
/// Float-to-float casts carry gradients (cast back); other casts are not differentiable.
Tensor to_dtype(const Tensor& x, DType dtype);  // to_dtype.cpp

// ---- selection (where.cpp, masked_fill.cpp) ------------------------------------------
/// cond ? a : b, all three broadcast. cond is a Bool tensor (no gradient).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// x with `value` where mask is true (mask broadcast to x).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- comparisons (no gradient; comparison.cpp) -----------------------------------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

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
