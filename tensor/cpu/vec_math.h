#pragma once
// Float32 exp, tanh, sigmoid and the normal CDF in a form the compiler vectorises: plain
// arithmetic, bit casts and branch-free selects, no libm calls. glibc's expf
// and tanhf are scalar calls (about 3 and 15 ns an element), which would
// leave the elementwise loops of cpu::map 10-50x slower than memory allows.
// Accuracy, over the whole float range: exp within 2 ulp, tanh and sigmoid
// within 3 ulp, GELU within 8 ulp (16 where Φ(x) nears the subnormal range,
// x < -12.5) of the exact result; tests/tensor/test_elementwise.cpp checks them
// against double-precision std:: math. Float64 keeps std::.
#include <bit>
#include <cstdint>
#include <type_traits>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "tensor/cpu_variant.h"

// Forced: a loop calling one of these vectorises only if it is inlined, and GCC's
// growth limits stop inlining in large kernel files.
// Put FOCUS_LAMBDA_INLINE after the parameter list of a lambda that calls them.
#define FOCUS_VEC_INLINE [[gnu::always_inline]] inline
#define FOCUS_LAMBDA_INLINE __attribute__((always_inline))

namespace focus::cpu::inline FOCUS_CPU_VARIANT {  // one copy per kernel build: see tensor/kernels.h

/// c ? a : b as a bit mask, so both sides count as computed: GCC will not
/// vectorise a ?: whose arm does arithmetic (under the default -ftrapping-math
/// it would have to speculate an operation that might raise a flag) or loads
/// a captured value only on one side, and it turns a ?: clamp in front of
/// arithmetic into branches (one arm constant-folded), but it does vectorise this.
template <typename T>
FOCUS_VEC_INLINE T blend(bool c, T a, T b) {
  using Bits = std::conditional_t<sizeof(T) == 1, uint8_t,
                                  std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;
  static_assert(sizeof(Bits) == sizeof(T), "blend: 1-, 4- or 8-byte types");
  const Bits mask = static_cast<Bits>(Bits(0) - static_cast<Bits>(c));
  return std::bit_cast<T>(static_cast<Bits>((std::bit_cast<Bits>(a) & mask) | (std::bit_cast<Bits>(b) & ~mask)));
}

/// |x| by clearing the sign bit.
FOCUS_VEC_INLINE float abs_f32(float x) { return std::bit_cast<float>(std::bit_cast<uint32_t>(x) & 0x7fffffffu); }

/// e^x for float32 (Cephes expf): x = n ln2 + r with |r| <= ln2 / 2, e^r by a
/// degree-7 polynomial, 2^n written into the exponent bits. 2^n is applied as
/// two factors so that results in the subnormal range and overflow to inf come
/// out right; NaN stays NaN.
FOCUS_VEC_INLINE float exp_f32(float x) {
  const bool is_nan = x != x;
  // Beyond [-104, 89] the result is 0 or inf anyway; the clamp keeps n's bits in range.
  float xc = blend(x < -104.0f, -104.0f, x);
  xc = blend(xc > 89.0f, 89.0f, xc);
  xc = blend(is_nan, 0.0f, xc);
  // Round to nearest by the 1.5 * 2^23 trick: exact for |v| < 2^22, and vectorisable.
  constexpr float round_magic = 12582912.0f;
  const float n = (xc * 1.44269504088896341f + round_magic) - round_magic;
  // r = x - n ln2, with ln2 split so that n * ln2_hi is exact.
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * (r * r) + r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni / 2, n2 = ni - n1;  // each in [-75, 64]: a normal power of two
  const float s1 = std::bit_cast<float>(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = std::bit_cast<float>(static_cast<uint32_t>(n2 + 127) << 23);
  return blend(is_nan, x, (er * s1) * s2);
}

/// tanh for float32: an odd polynomial near 0 (Cephes tanhf, |x| < 0.625), where
/// 1 - 2 / (e^2|x| + 1) would cancel; that form elsewhere, which saturates to ±1
/// cleanly when e^2|x| overflows.
FOCUS_VEC_INLINE float tanh_f32(float x) {
  const float a = abs_f32(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float near_zero = x + x * z * p;
  const float magnitude = 1.0f - 2.0f / (exp_f32(2.0f * a) + 1.0f);
  const float far = blend(x < 0.0f, -magnitude, magnitude);
  return blend(a < 0.625f, near_zero, far);
}

/// σ(x) for float32 from one e^-|x| (never overflows): 1 / (1 + e^-|x|) for x >= 0,
/// e^x / (1 + e^x) for x < 0. The second form keeps full relative precision down to
/// the subnormal results of x < -87, where 1 / (1 + e^-x) would already be 1 / inf = 0.
FOCUS_VEC_INLINE float sigmoid_f32(float x) {
  const float e = exp_f32(-abs_f32(x));
  const float q = 1.0f / (1.0f + e);
  return blend(x >= 0.0f, q, e * q);
}

/// The standard normal distribution at x: cdf Φ(x) and density φ(x) = e^(-x²/2) / √(2π).
struct NormalAt {
  float cdf, pdf;
};

/// Φ(x) and φ(x) for float32 (for GELU and its derivative), with full relative
/// precision in the far tail, where Φ(x) = (1 + erf(x / √2)) / 2 would cancel.
/// With z = |x| / √2: erfc(z) = e^(-z²) erfcx(z), and the scaled erfcx(z) is smooth and
/// slowly varying: as a function of t = 1 / (1 + z / 2), erfcx(z) = t S(t), with S going from
/// 1 at z = 0 to 1 / (2√π) as z → ∞. S here is a degree-11 polynomial fitted to it (weighted
/// least squares in the Chebyshev basis, over z in [0, 30 / √2]): relative error 1.2e-8 with
/// exact coefficients, 1.9e-7 rounded to float32 and evaluated in float32. Then Φ(x) =
/// erfc(z) / 2 for x < 0, 1 - erfc(z) / 2 otherwise, and e^(-z²) is also φ's: one exp and one
/// division in all (Numerical Recipes' erfcc, t e^(-z² + P(t)), which this replaced, needed a
/// second exp). z² = x² / 2 is used exactly, as x·x plus its rounding error (an FMA):
/// rounding it would cost z²·2^-24 of relative precision, 20 ulp at x = -9.
FOCUS_VEC_INLINE NormalAt normal_at_f32(float x) {
  // Beyond ±30, Φ is 0 or 1 and φ is 0 in float32; clamping also keeps x·x finite.
  float xc = blend(x < -30.0f, -30.0f, x);
  xc = blend(xc > 30.0f, 30.0f, xc);
  const float a = abs_f32(xc);
  const float t = 1.0f / (1.0f + 0.5f * 0.70710678118654752f * a);
  float s = -0.018457046f;
  s = s * t + 0.15284903f;
  s = s * t - 0.5197893f;
  s = s * t + 0.91971207f;
  s = s * t - 0.85945493f;
  s = s * t + 0.38671947f;
  s = s * t - 0.16675353f;
  s = s * t + 0.12371187f;
  s = s * t + 0.16981465f;
  s = s * t + 0.24749525f;
  s = s * t + 0.28205675f;
  s = s * t + 0.28209573f;
  const float square = xc * xc;
  const float square_error = __builtin_fmaf(xc, xc, -square);  // x·x - square, exactly
  // e^(-x²/2) = e^(-square/2) e^(-error/2), and |error| <= 2^-24 square is so small that
  // e^(-error/2) = 1 - error/2 to float precision.
  const float gauss = exp_f32(-0.5f * square) * (1.0f - 0.5f * square_error);
  const float half_tail = 0.5f * t * gauss * s;  // erfc(z) / 2
  return {blend(xc < 0.0f, half_tail, 1.0f - half_tail), 0.398942280401432678f * gauss};
}

#ifdef __AVX512F__
/// normal_at_f32 for 16 floats at once (AVX-512 builds), with two instructions GCC does not reach
/// from the scalar form: a 14-bit reciprocal estimate and one Newton step instead of the division
/// (t differs from 1 / d by at most an ulp), and vscalefps for e^r·2^n, which rounds a subnormal
/// result once, as the two-factor scaling does. The same polynomials otherwise, so the same
/// accuracy. Vectorised from the scalar form, GELU was bound by the two vector ALU ports at about
/// 80 instructions a vector (the division, the clamps and NaN selects of a general exp); this takes
/// about 45. Here e^ only ever sees -x²/2 ≤ 0, and a NaN x stays NaN through the arithmetic.
struct NormalAt16 {
  __m512 cdf, pdf;
};

FOCUS_VEC_INLINE NormalAt16 normal_at_f32x16(__m512 x) {
  const auto splat = [](float v) { return _mm512_set1_ps(v); };
  // The zero-masked forms with every lane on: GCC 12 warns that the plain forms' undefined
  // pass-through "may be used uninitialized".
  constexpr __mmask16 all = 0xffff;
  // |x| up to 30 (Φ is 0 or 1 and φ is 0 beyond); min(30, NaN) is NaN.
  const __m512 a = _mm512_maskz_min_ps(all, splat(30.0f), _mm512_abs_ps(x));
  const __m512 d = _mm512_fmadd_ps(splat(0.5f * 0.70710678118654752f), a, splat(1.0f));
  const __m512 r = _mm512_maskz_rcp14_ps(all, d);
  const __m512 t = _mm512_fmadd_ps(_mm512_fnmadd_ps(d, r, splat(1.0f)), r, r);  // r + r(1 - d·r)
  const auto step = [](__m512 acc, __m512 var, float c) { return _mm512_fmadd_ps(acc, var, _mm512_set1_ps(c)); };
  __m512 s = splat(-0.018457046f);  // S(t), normal_at_f32's coefficients
  s = step(s, t, 0.15284903f);
  s = step(s, t, -0.5197893f);
  s = step(s, t, 0.91971207f);
  s = step(s, t, -0.85945493f);
  s = step(s, t, 0.38671947f);
  s = step(s, t, -0.16675353f);
  s = step(s, t, 0.12371187f);
  s = step(s, t, 0.16981465f);
  s = step(s, t, 0.24749525f);
  s = step(s, t, 0.28205675f);
  s = step(s, t, 0.28209573f);
  const __m512 square = _mm512_mul_ps(a, a);
  const __m512 square_error = _mm512_fmsub_ps(a, a, square);  // a·a - square, exactly
  // e^(-square/2): n = round(arg / ln2), r = arg - n ln2 (ln2 in two parts), e^r by the polynomial.
  const __m512 arg = _mm512_maskz_max_ps(all, splat(-104.0f), _mm512_mul_ps(splat(-0.5f), square));
  const __m512 n = _mm512_maskz_roundscale_ps(all, _mm512_mul_ps(arg, splat(1.44269504088896341f)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 rem = _mm512_fnmadd_ps(n, splat(0.693359375f), arg);
  rem = _mm512_fnmadd_ps(n, splat(-2.12194440e-4f), rem);
  __m512 p = splat(1.9875691500e-4f);  // exp_f32's coefficients
  p = step(p, rem, 1.3981999507e-3f);
  p = step(p, rem, 8.3334519073e-3f);
  p = step(p, rem, 4.1665795894e-2f);
  p = step(p, rem, 1.6666665459e-1f);
  p = step(p, rem, 5.0000001201e-1f);
  const __m512 e_rem = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(rem, rem), rem), splat(1.0f));
  const __m512 gauss =
      _mm512_mul_ps(_mm512_maskz_scalef_ps(all, e_rem, n), _mm512_fnmadd_ps(splat(0.5f), square_error, splat(1.0f)));
  const __m512 half_tail = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(splat(0.5f), t), gauss), s);  // erfc(z) / 2
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return {_mm512_mask_blend_ps(negative, _mm512_sub_ps(splat(1.0f), half_tail), half_tail),
          _mm512_mul_ps(splat(0.398942280401432678f), gauss)};
}
#endif

}  // namespace focus::cpu::FOCUS_CPU_VARIANT
