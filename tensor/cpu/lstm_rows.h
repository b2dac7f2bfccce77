#pragma once
// One LSTM step's elementwise math for one batch row, shared by the per-step kernels
// (lstm.cpp) and the whole-sequence one (lstm_sequence.cpp). Internal to tensor/cpu.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT::lstm_detail {

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
// [H], and dh', dc' [H], the pre-activation gradients d_gates [4H] and dc [H]. When
// d_output is given, h' fed the layer's output too and dh' + d_output is its gradient.
template <typename T, typename V>
void backward_row(int64_t H, const T* g, const T* c, const T* tanh_c_new, const T* dh_new, const T* dc_new,
                  T* d_gates, T* dc, const T* d_output = nullptr) {
  constexpr int64_t W = lanes_of<T, V>;
  const T *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;
  T *di = d_gates, *df = d_gates + H, *dg = d_gates + 2 * H, *d_o = d_gates + 3 * H;
  for (int64_t j = 0; j < H; j += W) {
    const int64_t n = std::min(W, H - j);
    const V i = load<V>(gi + j, n), f = load<V>(gf + j, n), u = load<V>(gg + j, n), o = load<V>(go + j, n);
    const V t = load<V>(tanh_c_new + j, n);
    V dh = load<V>(dh_new + j, n);
    if (d_output) dh += load<V>(d_output + j, n);
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

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::lstm_detail
