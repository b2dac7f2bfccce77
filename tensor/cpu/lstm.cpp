// The elementwise middle of an LSTM step, fused: one pass forward (bias, four
// gate nonlinearities, the cell update) and one pass backward, over contiguous
// [B, 4H] gate rows in PyTorch's order i | f | g | o. The matrix products
// around them belong to the callers (autograd/ops/lstm_cell.cpp and
// autograd/ops/lstm_layer.cpp), which run them on BLAS.
//
// Speed: a step evaluates five transcendentals per hidden unit, and scalar
// std::exp/std::tanh would cost as much as the step's GEMM. Float rows are
// therefore computed a vector of lanes at a time (GCC/Clang vector extensions:
// plain arithmetic on `FloatLanes`, compiled to AVX-512 or AVX in those kernel builds, SSE
// or NEON elsewhere) with the branch-free exp below. Double rows (gradient
// checks, not speed) use std::exp and std::tanh one element at a time.
//
// The argument checks below are shared with the GPU versions (tensor/cuda/lstm.cu),
// which take over right after them.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

#if defined(__AVX512F__)
constexpr int64_t kFloatLanes = 16;
#elif defined(__AVX__)
constexpr int64_t kFloatLanes = 8;
#else
constexpr int64_t kFloatLanes = 4;  // 16 bytes: every target has them
#endif
using FloatLanes = float __attribute__((vector_size(kFloatLanes * sizeof(float))));
using IntLanes = int32_t __attribute__((vector_size(kFloatLanes * sizeof(int32_t))));

// e^x on float lanes without branches: x = n·ln2 + r with |r| ≤ ln2/2; e^r from
// Cephes' degree-6 polynomial (relative error about 1e-7, float rounding); 2^n
// by writing n + 127 into the exponent bits. x is clamped to [−87, 88], where
// 2^n is still a normal float; sigmoid and tanh have saturated long before.
// NaN stays NaN (it fails both clamps and poisons the polynomial).
inline FloatLanes exp_lanes(FloatLanes x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const FloatLanes n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x/ln2): 1.5·2²³ trick
  const FloatLanes r = (x - n * 0.693359375f) - n * -2.12194440e-4f;            // ln2 in two parts: exact n·ln2_hi
  FloatLanes p = 1.9875691500e-4f * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const IntLanes two_to_n = (__builtin_convertvector(n, IntLanes) + 127) << 23;
  return p * std::bit_cast<FloatLanes>(two_to_n);
}

inline FloatLanes sigmoid_of(FloatLanes x) { return 1.0f / (1.0f + exp_lanes(-x)); }

// tanh x = 2σ(2x) − 1, except near 0 where that difference would lose the
// relative precision: there the Taylor series x − x³/3 + 2x⁵/15 − 17x⁷/315.
inline FloatLanes tanh_of(FloatLanes x) {
  const FloatLanes x2 = x * x;
  const FloatLanes series = x + x * x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315)));
  const FloatLanes via_sigmoid = 2.0f / (1.0f + exp_lanes(-2.0f * x)) - 1.0f;
  return x2 < 0.015625f ? series : via_sigmoid;  // |x| < 1/8: series error < 2e-9
}

inline double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }  // e^-x = inf gives 0, not NaN
inline double tanh_of(double x) { return std::tanh(x); }

// Rows are walked in chunks of V: FloatLanes for float, single doubles for double.
// The last chunk of a row may be partial: it is read into zeroed lanes and only
// its valid lanes are written back.
template <typename T, typename V>
constexpr int64_t lanes_of = static_cast<int64_t>(sizeof(V) / sizeof(T));

// (A fixed-size memcpy is one unaligned vector load or store.)
template <typename V, typename T>
inline V load(const T* p, int64_t count) {
  V v{};
  if (count == lanes_of<T, V>)
    std::memcpy(&v, p, sizeof(V));
  else
    std::memcpy(&v, p, sizeof(T) * static_cast<size_t>(count));
  return v;
}
template <typename V, typename T>
inline void store(T* p, V v, int64_t count) {
  if (count == lanes_of<T, V>)
    std::memcpy(p, &v, sizeof(V));
  else
    std::memcpy(p, &v, sizeof(T) * static_cast<size_t>(count));
}

// One batch row: gates g [4H] (pre-activations in, activated gates out), old cell c [H];
// writes h', c' and tanh(c') [H].
template <typename T, typename V>
void forward_row(int64_t H, T* g, const T* bias, const T* c, T* h_new, T* c_new, T* tanh_c_new) {
  constexpr int64_t W = lanes_of<T, V>;
  T *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;
  for (int64_t j = 0; j < H; j += W) {
    const int64_t n = std::min(W, H - j);
    V pre_i = load<V>(gi + j, n), pre_f = load<V>(gf + j, n), pre_g = load<V>(gg + j, n), pre_o = load<V>(go + j, n);
    if (bias) {
      pre_i += load<V>(bias + j, n);
      pre_f += load<V>(bias + H + j, n);
      pre_g += load<V>(bias + 2 * H + j, n);
      pre_o += load<V>(bias + 3 * H + j, n);
    }
    const V i = sigmoid_of(pre_i), f = sigmoid_of(pre_f), u = tanh_of(pre_g), o = sigmoid_of(pre_o);
    const V cell = f * load<V>(c + j, n) + i * u;
    const V tanh_cell = tanh_of(cell);
    // The activated gates replace the pre-activations: backward needs only them.
    store(gi + j, i, n);
    store(gf + j, f, n);
    store(gg + j, u, n);
    store(go + j, o, n);
    store(c_new + j, cell, n);
    store(tanh_c_new + j, tanh_cell, n);
    store(h_new + j, o * tanh_cell, n);
  }
}

// One batch row backward: from the activated gates g [4H], the old cell c and tanh(c')
// [H], and dh', dc' [H], the pre-activation gradients d_gates [4H] and dc [H].
template <typename T, typename V>
void backward_row(int64_t H, const T* g, const T* c, const T* tanh_c_new, const T* dh_new, const T* dc_new,
                  T* d_gates, T* dc) {
  constexpr int64_t W = lanes_of<T, V>;
  const T *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;
  T *di = d_gates, *df = d_gates + H, *dg = d_gates + 2 * H, *d_o = d_gates + 3 * H;
  for (int64_t j = 0; j < H; j += W) {
    const int64_t n = std::min(W, H - j);
    const V i = load<V>(gi + j, n), f = load<V>(gf + j, n), u = load<V>(gg + j, n), o = load<V>(go + j, n);
    const V t = load<V>(tanh_c_new + j, n), dh = load<V>(dh_new + j, n);
    // h' = o·tanh(c') reaches c' too: the total gradient of c'.
    const V dc_total = load<V>(dc_new + j, n) + dh * o * (T(1) - t * t);
    // c' = f·c + i·u: each factor's gradient is the other one times dc'.
    store(dc + j, dc_total * f, n);
    // Then through the nonlinearities: σ' = σ(1 − σ), tanh' = 1 − tanh².
    store(di + j, dc_total * u * i * (T(1) - i), n);
    store(df + j, dc_total * load<V>(c + j, n) * f * (T(1) - f), n);
    store(dg + j, dc_total * i * (T(1) - u * u), n);
    store(d_o + j, dh * t * o * (T(1) - o), n);
  }
}

// Rows per thread: a row of H units costs about 5 transcendentals per unit, so
// a few thousand units are worth a thread.
int64_t rows_grain(int64_t H) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(H, 1)); }

void check_rows(const Tensor& t, const char* what, int64_t B, int64_t width, DType dtype, const char* op) {
  check_defined(t, op);
  if (t.shape() != Shape{B, width} || !t.is_contiguous() || t.dtype() != dtype)
    throw std::invalid_argument(fmt::format("{}: expected {} to be a contiguous {} tensor of shape {}, got {} {}{}", op,
                                            what, dtype_name(dtype), shape_str({B, width}), dtype_name(t.dtype()),
                                            shape_str(t.shape()), t.is_contiguous() ? "" : " (not contiguous)"));
}

// B and H from gates [B, 4H], checked.
std::pair<int64_t, int64_t> gate_dims(const Tensor& gates, const char* op) {
  check_defined(gates, op);
  if (gates.dim() != 2 || gates.shape()[1] % 4 != 0)
    throw std::invalid_argument(fmt::format("{}: expected gates of shape [B, 4H], got {}", op, shape_str(gates.shape())));
  return {gates.shape()[0], gates.shape()[1] / 4};
}

}  // namespace

void lstm_gates_forward(const Tensor& gates, const Tensor& bias, const Tensor& c, const Tensor& h_new,
                        const Tensor& c_new, const Tensor& tanh_c_new) {
  const char* op = "lstm_gates_forward";
  // Plain variables, not a structured binding: the parallel loops below capture them.
  const std::pair<int64_t, int64_t> dims = gate_dims(gates, op);
  const int64_t B = dims.first, H = dims.second;
  const DType dtype = gates.dtype();
  check_rows(gates, "gates", B, 4 * H, dtype, op);
  if (bias.defined()) check_rows(bias.view({1, 4 * H}), "bias", 1, 4 * H, dtype, op);
  check_rows(c, "c", B, H, dtype, op);
  check_rows(h_new, "h_new", B, H, dtype, op);
  check_rows(c_new, "c_new", B, H, dtype, op);
  check_rows(tanh_c_new, "tanh_c_new", B, H, dtype, op);
  FOCUS_DISPATCH(common_device(op, gates, bias, c, h_new, c_new, tanh_c_new),
                      lstm_gates_forward(gates, bias, c, h_new, c_new, tanh_c_new));

  cpu::dispatch_floating(dtype, op, [&]<typename T>() {
    using V = std::conditional_t<std::is_same_v<T, float>, FloatLanes, double>;
    T* g = gates.data<T>();
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    const T* c_old = c.data<T>();
    T *h_out = h_new.data<T>(), *c_out = c_new.data<T>(), *tanh_out = tanh_c_new.data<T>();
    parallel_for(0, B, rows_grain(H), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row)
        forward_row<T, V>(H, g + row * 4 * H, b, c_old + row * H, h_out + row * H, c_out + row * H,
                          tanh_out + row * H);
    });
  });
}

void lstm_gates_backward(const Tensor& gates, const Tensor& c, const Tensor& tanh_c_new, const Tensor& dh_new,
                         const Tensor& dc_new, const Tensor& d_gates, const Tensor& dc) {
  const char* op = "lstm_gates_backward";
  // Plain variables, not a structured binding: the parallel loops below capture them.
  const std::pair<int64_t, int64_t> dims = gate_dims(gates, op);
  const int64_t B = dims.first, H = dims.second;
  const DType dtype = gates.dtype();
  check_rows(gates, "gates", B, 4 * H, dtype, op);
  check_rows(c, "c", B, H, dtype, op);
  check_rows(tanh_c_new, "tanh_c_new", B, H, dtype, op);
  check_rows(dh_new, "dh_new", B, H, dtype, op);
  check_rows(dc_new, "dc_new", B, H, dtype, op);
  check_rows(d_gates, "d_gates", B, 4 * H, dtype, op);
  check_rows(dc, "dc", B, H, dtype, op);
  FOCUS_DISPATCH(common_device(op, gates, c, tanh_c_new, dh_new, dc_new, d_gates, dc),
                      lstm_gates_backward(gates, c, tanh_c_new, dh_new, dc_new, d_gates, dc));

  cpu::dispatch_floating(dtype, op, [&]<typename T>() {
    using V = std::conditional_t<std::is_same_v<T, float>, FloatLanes, double>;
    const T *g = gates.data<T>(), *c_old = c.data<T>(), *tanh_cell = tanh_c_new.data<T>();
    const T *dh = dh_new.data<T>(), *dc_next = dc_new.data<T>();
    T *d_g = d_gates.data<T>(), *dc_old = dc.data<T>();
    parallel_for(0, B, rows_grain(H), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row)
        backward_row<T, V>(H, g + row * 4 * H, c_old + row * H, tanh_cell + row * H, dh + row * H,
                           dc_next + row * H, d_g + row * 4 * H, dc_old + row * H);
    });
  });
}

void lstm_carry_padded_rows(const Tensor& active, const Tensor& h_dst, const Tensor& h_src, const Tensor& c_dst,
                            const Tensor& c_src, const Tensor& zeroed) {
  const char* op = "lstm_carry_padded_rows";
  check_defined(h_dst, op);
  check_defined(zeroed, op);
  if (h_dst.dim() != 2 || zeroed.dim() != 2)
    throw std::invalid_argument(fmt::format("{}: expected h_dst [B, H] and zeroed [B, Z], got {} and {}", op,
                                            shape_str(h_dst.shape()), shape_str(zeroed.shape())));
  const int64_t B = h_dst.shape()[0], H = h_dst.shape()[1], Z = zeroed.shape()[1];
  const DType dtype = h_dst.dtype();
  check_defined(active, op);
  if (active.shape() != Shape{B} || active.dtype() != kBool || !active.is_contiguous())
    throw std::invalid_argument(fmt::format("{}: expected active to be a contiguous bool tensor of shape [{}], got "
                                            "{} {}",
                                            op, B, dtype_name(active.dtype()), shape_str(active.shape())));
  for (const auto& [t, what] : {std::pair{&h_dst, "h_dst"}, {&h_src, "h_src"}, {&c_dst, "c_dst"}, {&c_src, "c_src"}})
    check_rows(*t, what, B, H, dtype, op);
  check_rows(zeroed, "zeroed", B, Z, dtype, op);
  FOCUS_DISPATCH(common_device(op, active, h_dst, h_src, c_dst, c_src, zeroed),
                      lstm_carry_padded_rows(active, h_dst, h_src, c_dst, c_src, zeroed));

  const bool* real = active.data<bool>();
  const size_t state_bytes = static_cast<size_t>(H) * element_size(dtype);
  const size_t zeroed_bytes = static_cast<size_t>(Z) * element_size(dtype);
  auto row = [](const Tensor& t, int64_t b, size_t bytes) { return static_cast<char*>(t.data_ptr()) + b * bytes; };
  for (int64_t b = 0; b < B; ++b) {
    if (real[b]) continue;
    std::memcpy(row(h_dst, b, state_bytes), row(h_src, b, state_bytes), state_bytes);
    std::memcpy(row(c_dst, b, state_bytes), row(c_src, b, state_bytes), state_bytes);
    std::memset(row(zeroed, b, zeroed_bytes), 0, zeroed_bytes);
  }
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
