#pragma once
// Raw kernels: compute on tensors, record nothing for autograd. Each function
// dispatches on the tensor's device in exactly one place (tensor/cpu/*.cpp for
// the CPU; the CUDA backend adds its branch there). Users normally call the
// differentiable versions in autograd/ops.h instead.
#include <optional>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace focus::kernels {

// ---- copy and conversion (tensor/cpu/copy.cpp) ------------------------------
/// dst[...] = src[...] with broadcasting of src to dst's shape and dtype conversion.
void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, double value);
/// A new contiguous tensor with the same values (and dtype unless given).
Tensor contiguous_copy(const Tensor& src, std::optional<DType> dtype = std::nullopt);

// ---- elementwise binary with broadcasting (tensor/cpu/binary.cpp) -------------
// Result dtype: promote_types of the inputs (Bool inputs of arithmetic become int64).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
/// a + alpha * b, one pass (used by gradient accumulation and optimizers).
Tensor add_scaled(const Tensor& a, const Tensor& b, double alpha);
/// a += b in place (b broadcast to a's shape). Used to accumulate gradients.
void add_(const Tensor& a, const Tensor& b);
// Comparisons return Bool.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);

// ---- elementwise unary (tensor/cpu/unary.cpp) ------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);  ///< exact (erf) GELU
Tensor erf(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor square(const Tensor& x);
Tensor pow_scalar(const Tensor& x, double exponent);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor logical_not(const Tensor& x);
/// x * scale + shift in one pass.
Tensor affine(const Tensor& x, double scale, double shift);
/// x > 0 ? x : negative_slope * x
Tensor leaky_relu(const Tensor& x, double negative_slope);
// Fused backward passes of the unary ops (same file): one pass over dy's shape
// and dtype, the saved operands broadcast to it.
/// dy * (1 - y²), y = tanh(x)
Tensor tanh_backward(const Tensor& dy, const Tensor& y);
/// dy * y * (1 - y), y = sigmoid(x)
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y);
/// x > 0 ? dy : negative_slope * dy (relu: slope 0, and x may be relu's output)
Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double negative_slope);
/// dy * (Φ(x) + x φ(x)), the derivative of exact GELU
Tensor gelu_backward(const Tensor& dy, const Tensor& x);
/// dy where min <= x <= max, else 0
Tensor clamp_backward(const Tensor& dy, const Tensor& x, std::optional<double> min, std::optional<double> max);
/// dy * exponent * x^(exponent - 1)
Tensor pow_scalar_backward(const Tensor& dy, const Tensor& x, double exponent);
/// The share of dy that reaches a in maximum(a, b): dy where a > b, dy / 2 on ties, 0 where a < b.
/// (b's share is maximum_backward(dy, b, a); minimum(a, b) gives a the share maximum_backward(dy, b, a).)
Tensor maximum_backward(const Tensor& dy, const Tensor& a, const Tensor& b);

// ---- selection (tensor/cpu/where.cpp) ----------------------------------------
/// cond ? a : b with broadcasting of all three; cond is Bool (or nonzero).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- reductions (tensor/cpu/reduce.cpp) ---------------------------------------
// `dims` empty means all dims. Sums of int64/bool give int64.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
/// Variance with `correction` (1 = unbiased, like torch.var's default).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
/// Values and int64 indices of the max along one dim (first index on ties).
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim);
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim);
/// Broadcast `grad` (reduced shape) back to `shape` and sum it where it was broadcast: sum_to(expand(g), g.shape) == g.
Tensor sum_to(const Tensor& x, const Shape& shape);
/// log(sum(exp(x))) over dims, computed as max + log(sum(exp(x - max))) so it never overflows.
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
/// Which dims of `shape` a reduction over `dims` covers (empty = all; negative dims count from the
/// end). Throws naming `op` and the shape for an out-of-range or repeated dim.
std::vector<bool> reduced_dims_mask(const Shape& shape, const std::vector<int64_t>& dims, const char* op);

// ---- softmax family (tensor/cpu/softmax.cpp) -----------------------------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
/// dx = y * (dy - sum(dy * y, dim))
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim);
/// dx = dy - exp(y) * sum(dy, dim), y = log_softmax(x)
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim);

// ---- linear algebra (tensor/cpu/matmul.cpp) -------------------------------------
/// 1-D/2-D/batched N-D matmul with batch broadcasting, on BLAS. Transposed views
/// are passed to BLAS as transposes (no copy). Float32 and float64.
Tensor matmul(const Tensor& a, const Tensor& b);
/// out (M,N) = alpha * op(a) @ op(b) + beta * out, for 2-D tensors, in place.
void gemm(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b, const Tensor& out,
          double alpha, double beta);

// ---- joining and indexing (tensor/cpu/join.cpp, tensor/cpu/index.cpp) ------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
/// out = x.index_select(dim, index): index is 1-D int64.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// out[i][j] = x[index[i][j]][j] (dim 0) etc., index has x's ndim.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
/// A copy of `x` with src added at the positions index names along dim (gather's adjoint).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
/// A copy of `x` with src's slices added at rows index[i] of dim (index_select's adjoint).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

// ---- random (tensor/cpu/random.cpp) ----------------------------------------------
/// Bool mask, true with probability p.
Tensor bernoulli(const Shape& shape, double p, Generator& gen, Device device = kCPU);

}  // namespace focus::kernels
