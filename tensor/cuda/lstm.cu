// The elementwise middle of an LSTM step on the GPU (tensor/cpu/lstm.cpp is the CPU
// version, with the same semantics): one thread per (batch row, hidden unit), which reads
// that unit's four gates and its cell and writes everything the step produces for it.
// Neighbouring threads take neighbouring units, so every read and write is coalesced.
// The argument checks live in tensor/cpu/lstm.cpp, shared by both devices: everything
// arriving here is contiguous and of one floating dtype.
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

// Full-precision expf/exp (not __expf): the GPU must agree with the CPU to float rounding.
__device__ inline float sigmoid_of(float x) { return 1.0f / (1.0f + expf(-x)); }  // e^-x = inf gives 0
__device__ inline double sigmoid_of(double x) { return 1.0 / (1.0 + ::exp(-x)); }
__device__ inline float tanh_of(float x) { return tanhf(x); }
__device__ inline double tanh_of(double x) { return ::tanh(x); }

// gates [B, 4H] pre-activations in, activated σ(i) | σ(f) | tanh(g) | σ(o) out; bias [4H] or null;
// c [B, H] old cell; writes h_new, c_new, tanh_c_new [B, H].
template <typename T>
__global__ void lstm_gates_forward_kernel(int64_t B, int64_t H, T* gates, const T* bias, const T* c, T* h_new,
                                          T* c_new, T* tanh_c_new) {
  const int64_t n = B * H;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t row = k / H, j = k - row * H;
    T* g = gates + row * 4 * H + j;  // g[0], g[H], g[2H], g[3H]: this unit's i, f, g, o
    T pre_i = g[0], pre_f = g[H], pre_g = g[2 * H], pre_o = g[3 * H];
    if (bias) {
      pre_i += bias[j];
      pre_f += bias[H + j];
      pre_g += bias[2 * H + j];
      pre_o += bias[3 * H + j];
    }
    const T i = sigmoid_of(pre_i), f = sigmoid_of(pre_f), u = tanh_of(pre_g), o = sigmoid_of(pre_o);
    const T cell = f * c[k] + i * u;
    const T tanh_cell = tanh_of(cell);
    // The activated gates replace the pre-activations: backward needs only them.
    g[0] = i;
    g[H] = f;
    g[2 * H] = u;
    g[3 * H] = o;
    c_new[k] = cell;
    tanh_c_new[k] = tanh_cell;
    h_new[k] = o * tanh_cell;
  }
}

// From the activated gates [B, 4H], the old cell c, tanh(c'), dh' and dc' [B, H]: the
// pre-activation gradients d_gates [B, 4H] and dc [B, H] (derivation in tensor/cpu/lstm.cpp).
template <typename T>
__global__ void lstm_gates_backward_kernel(int64_t B, int64_t H, const T* gates, const T* c, const T* tanh_c_new,
                                           const T* dh_new, const T* dc_new, T* d_gates, T* dc) {
  const int64_t n = B * H;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t row = k / H, j = k - row * H;
    const T* g = gates + row * 4 * H + j;
    T* d = d_gates + row * 4 * H + j;
    const T i = g[0], f = g[H], u = g[2 * H], o = g[3 * H];
    const T t = tanh_c_new[k], dh = dh_new[k];
    // h' = o·tanh(c') reaches c' too: the total gradient of c'.
    const T dc_total = dc_new[k] + dh * o * (T(1) - t * t);
    dc[k] = dc_total * f;
    d[0] = dc_total * u * i * (T(1) - i);
    d[H] = dc_total * c[k] * f * (T(1) - f);
    d[2 * H] = dc_total * i * (T(1) - u * u);
    d[3 * H] = dh * t * o * (T(1) - o);
  }
}

// Rows b with active[b] false: h_dst[b] = h_src[b], c_dst[b] = c_src[b] (width H), zeroed[b] = 0
// (width Z). One thread per element of the wider of the two row layouts.
template <typename T>
__global__ void lstm_carry_padded_rows_kernel(int64_t B, int64_t H, int64_t Z, const bool* active, T* h_dst,
                                              const T* h_src, T* c_dst, const T* c_src, T* zeroed) {
  const int64_t width = H > Z ? H : Z, n = B * width;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t row = k / width, j = k - row * width;
    if (active[row]) continue;
    if (j < H) {
      h_dst[row * H + j] = h_src[row * H + j];
      c_dst[row * H + j] = c_src[row * H + j];
    }
    if (j < Z) zeroed[row * Z + j] = T(0);
  }
}

}  // namespace

void lstm_gates_forward(const Tensor& gates, const Tensor& bias, const Tensor& c, const Tensor& h_new,
                        const Tensor& c_new, const Tensor& tanh_c_new) {
  const int64_t B = gates.shape()[0], H = gates.shape()[1] / 4;
  if (B * H == 0) return;
  dispatch_floating(gates.dtype(), "lstm_gates_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    lstm_gates_forward_kernel<T><<<blocks_for(B * H), kThreads, 0, stream()>>>(
        B, H, gates.data<T>(), bias.defined() ? bias.data<T>() : nullptr, c.data<T>(), h_new.data<T>(),
        c_new.data<T>(), tanh_c_new.data<T>());
    FOCUS_CUDA_CHECK_LAUNCH("lstm_gates_forward_kernel");
  });
}

void lstm_gates_backward(const Tensor& gates, const Tensor& c, const Tensor& tanh_c_new, const Tensor& dh_new,
                         const Tensor& dc_new, const Tensor& d_gates, const Tensor& dc) {
  const int64_t B = gates.shape()[0], H = gates.shape()[1] / 4;
  if (B * H == 0) return;
  dispatch_floating(gates.dtype(), "lstm_gates_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    lstm_gates_backward_kernel<T><<<blocks_for(B * H), kThreads, 0, stream()>>>(
        B, H, gates.data<T>(), c.data<T>(), tanh_c_new.data<T>(), dh_new.data<T>(), dc_new.data<T>(),
        d_gates.data<T>(), dc.data<T>());
    FOCUS_CUDA_CHECK_LAUNCH("lstm_gates_backward_kernel");
  });
}

void lstm_carry_padded_rows(const Tensor& active, const Tensor& h_dst, const Tensor& h_src, const Tensor& c_dst,
                            const Tensor& c_src, const Tensor& zeroed) {
  const int64_t B = h_dst.shape()[0], H = h_dst.shape()[1], Z = zeroed.shape()[1];
  const int64_t n = B * (H > Z ? H : Z);
  if (n == 0) return;
  dispatch_floating(h_dst.dtype(), "lstm_carry_padded_rows", [&](auto tag) {
    using T = typename decltype(tag)::type;
    lstm_carry_padded_rows_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        B, H, Z, active.data<bool>(), h_dst.data<T>(), h_src.data<T>(), c_dst.data<T>(), c_src.data<T>(),
        zeroed.data<T>());
    FOCUS_CUDA_CHECK_LAUNCH("lstm_carry_padded_rows_kernel");
  });
}

}  // namespace focus::cuda
