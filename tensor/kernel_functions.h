// The raw kernels' declarations, included by tensor/kernels.h (read that first) into the
// namespace of each CPU kernel build. No include guard, on purpose: tensor/cpu/variants.h
// includes this list again to declare the AVX2 and AVX-512 builds beside the baseline one, and
// tensor/cuda/kernels.h to declare the CUDA versions.
// The structs these functions take and return are in tensor/kernels.h.

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
// `dims` empty means all dims. Sums of int64/bool give int64, their means float32.
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
/// softmax(x, dim) written into `out` (contiguous, x's shape and dtype; it may be x itself) and
/// returned. CPU only: the per-entry attention path (autograd/ops/scaled_dot_product_attention.cpp),
/// which would otherwise copy each entry's fresh result into the weights it returns.
Tensor softmax_into(const Tensor& x, int64_t dim, const Tensor& out);
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

// ---- LSTM gates (tensor/cpu/lstm.cpp) ------------------------------------------------
// One LSTM step's elementwise work, fused. All tensors contiguous, one floating dtype;
// gates are [B, 4H] rows in PyTorch's order i | f | g | o, the rest [B, H].
/// In place: gates (+ bias [4H], if defined) become σ(i), σ(f), tanh(g), σ(o); writes
/// c_new = f⊙c + i⊙g, tanh_c_new = tanh(c_new) and h_new = o⊙tanh_c_new.
void lstm_gates_forward(const Tensor& gates, const Tensor& bias, const Tensor& c, const Tensor& h_new,
                        const Tensor& c_new, const Tensor& tanh_c_new);
/// From the activated gates, the old c and tanh(c_new): the gradients of the
/// pre-activation gates (d_gates [B, 4H]) and of the old cell (dc), given dh_new and dc_new.
void lstm_gates_backward(const Tensor& gates, const Tensor& c, const Tensor& tanh_c_new, const Tensor& dh_new,
                         const Tensor& dc_new, const Tensor& d_gates, const Tensor& dc);
/// For the rows b where active[b] (Bool [B]) is false, a sequence that has already ended: its
/// state passes through the step unchanged and its output is zero. h_dst[b] = h_src[b],
/// c_dst[b] = c_src[b] ([B, H] each) and zeroed[b] = 0 ([B, Z]); other rows are left alone.
void lstm_carry_padded_rows(const Tensor& active, const Tensor& h_dst, const Tensor& h_src, const Tensor& c_dst,
                            const Tensor& c_src, const Tensor& zeroed);

// ---- an LSTM layer's recurrence over all its steps, fused (tensor/cpu/lstm_sequence.cpp) ----------
/// Whether lstm_sequence_forward and lstm_sequence_backward run for tensors like `like`: float32 in
/// the CPU's AVX-512 kernel build. Elsewhere lstm_layer calls the step kernels above per step.
bool lstm_sequence_available(const Tensor& like);
/// lstm_layer's steps, t = 0..T−1 (T−1..0 when reverse): gates[t] += h_prev[t]·W_hhᵀ, then
/// lstm_gates_forward's math with bias [4H] (if defined), writing the next step's h_prev and c_prev
/// slots (h_n and c_n after the last step), tanh_c_new[t] and output[t]. A row b with t ≥ lengths[b]
/// (when lengths are given) keeps its state and outputs 0, as lstm_carry_padded_rows.
void lstm_sequence_forward(const LSTMSequence& s, const Tensor& weight_hh, const Tensor& bias,
                           const std::vector<int64_t>& lengths, bool reverse);
/// lstm_layer's backward recurrence over the buffers forward filled: writes d_gates [T, B, 4H] whole,
/// and takes dh and dc [B, H] from the gradients of h_n and c_n to those of h0 and c0, in place.
/// d_output [T, B, H] is the output's gradient. Padded rows get zero d_gates and pass dh, dc through.
void lstm_sequence_backward(const LSTMSequence& s, const Tensor& weight_hh, const Tensor& d_output,
                            const Tensor& d_gates, const Tensor& dh, const Tensor& dc,
                            const std::vector<int64_t>& lengths, bool reverse);

// ---- layer norm and softmax cross-entropy, fused (tensor/cpu/layer_norm.cpp, tensor/cpu/cross_entropy.cpp)
/// y = (x − mean) · rstd · weight + bias over rows of `normalized_numel` trailing elements, with the
/// per-row mean and rstd = 1/√(var + eps) (population variance) as [rows]. weight/bias may be undefined.
LayerNormForward layer_norm(const Tensor& x, int64_t normalized_numel, const Tensor& weight, const Tensor& bias,
                            double eps);
/// Gradients of layer_norm for x, weight [D] and bias [D] (only those asked for), from the forward's rstd.
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& rstd, const Tensor& weight,
                                   bool need_input, bool need_weight, bool need_bias);
/// Per-position loss of log_softmax + NLL over dim 1 of logits [N, C, d...] for int64 target [N, d...]
/// (weight [C] optional; ignored positions give 0), and the per-position log-sum-exp (float64) for the backward.
std::pair<Tensor, Tensor> softmax_cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                                int64_t ignore_index, double label_smoothing);
/// dlogits = dloss · (softmax − smoothed, weighted one-hot); zero at ignored positions.
Tensor softmax_cross_entropy_backward(const Tensor& dloss, const Tensor& logits, const Tensor& target,
                                      const Tensor& weight, const Tensor& logsumexp, int64_t ignore_index,
                                      double label_smoothing);

// ---- convolution (tensor/cpu/conv.cpp) --------------------------------------------------
/// y [N, C_out, H_out, W_out] = input [N, C_in, H, W] cross-correlated with weight
/// [C_out, C_in/groups, kH, kW], plus bias [C_out] (may be undefined), where
/// H_out = (H + pad_top + pad_bottom − dilation_h·(kH − 1) − 1) / stride_h + 1 (W likewise).
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& params);
/// Gradients of conv2d; those not asked for are left undefined.
Conv2dGrads conv2d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                            const Conv2dParams& params, bool need_input, bool need_weight, bool need_bias);

// ---- pooling (tensor/cpu/pool.cpp) -------------------------------------------------------
/// Window maxima (padding is −∞, NaN wins) and their int64 positions h·W + w in
/// the input plane (PyTorch's indices): {y [N, C, H_out, W_out], indices, same shape}.
std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2dParams& params);
/// dx [input_shape]: each dy goes to the position its window's maximum came from (overlaps add).
Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape);
/// Window means; count_include_pad divides by the whole window, padding included (PyTorch's
/// default), otherwise by the number of input elements inside it.
Tensor avg_pool2d(const Tensor& input, const Pool2dParams& params, bool count_include_pad);
Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, const Pool2dParams& params,
                           bool count_include_pad);
/// Means over windows [⌊i·H/H_out⌋, ⌈(i+1)·H/H_out⌉) (PyTorch's formula; W likewise): [N, C, H_out, W_out].
Tensor adaptive_avg_pool2d(const Tensor& input, int64_t output_h, int64_t output_w);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape);

// ---- batch normalisation (tensor/cpu/batch_norm.cpp) ---------------------------------------
/// Per-channel {mean, biased variance} of x [N, C, *] over every dim but 1 (two passes).
std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input);
/// y = (x − mean[c]) · invstd[c] · weight[c] + bias[c]; weight and bias may be undefined.
Tensor batch_norm_apply(const Tensor& input, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                        const Tensor& bias);
/// Gradients of batch_norm_apply with x̂ = (x − mean)·invstd: dweight = Σ dy·x̂, dbias = Σ dy,
/// and dx = γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) when mean and invstd are the batch's own
/// statistics (`batch_stats`), else γ·invstd·dy. Those not asked for are left undefined.
BatchNormGrads batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& mean,
                                   const Tensor& invstd, const Tensor& weight, bool batch_stats, bool need_input,
                                   bool need_weight, bool need_bias);

// ---- random (tensor/cpu/random.cpp) ----------------------------------------------
/// Bool mask, true with probability p, drawn on `device`: element i is Philox4x32-10 bits of (one
/// draw of gen, i) (tensor/philox.h), so one seed gives the same mask on the CPU and a GPU.
Tensor bernoulli(const Shape& shape, double p, Generator& gen, Device device = kCPU);

// ---- optimizer updates (tensor/cpu/optim.cpp) ---------------------------------------
// One fused pass per parameter, in place; every operand contiguous, of the parameter's shape and
// floating dtype (optim::check_updatable checks them first).
/// Adam/AdamW on one parameter, as torch.optim.Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
/// θ ← θ − γ/(1−β₁ᵗ) · m/(√v̂/√(1−β₂ᵗ) + ε), v̂ = v, or with max_exp_avg_sq defined (AMSGrad) its
/// running maximum.
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor& max_exp_avg_sq, const AdamStepOptions& options);
/// SGD on one parameter, as torch.optim.SGD: g ← ∇ + λθ; b ← μb + (1−τ)g (b = g on the first
/// step); g ← g + μb (Nesterov) or b; θ ← θ − γg. Without a momentum_buffer: θ ← θ − γg.
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
              const SGDStepOptions& options);
/// Σ|x|^p over all of x accumulated in float64, as a 0-d float64 tensor on x's device; for p = ∞,
/// max|x| (NaN if any element is NaN). The pieces of clip_grad_norm_'s total norm.
Tensor norm_power_sum(const Tensor& x, double p);
