#pragma once
// The vector the float32 convolution tiles (conv_direct.cpp, conv_packed.cpp) compute with in
// this kernel build: a 16-float __m512 in the AVX-512 build (compiled with -march=x86-64-v4),
// else an 8-float __m256, whose functions carry their own AVX2 target so that the baseline
// build holds them too (used only where the CPU has AVX2: packed_available()). One tile source
// then serves both widths; the tiles' shapes follow the width and the register count (16 ymm,
// 32 zmm). Internal to tensor/cpu; include only from x86 builds.
#include <immintrin.h>

#include <cstdint>

namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail {

#ifdef __AVX512F__
#define FOCUS_CONV_TARGET
#define FOCUS_CONV_INLINE __attribute__((always_inline)) inline
using Vector = __m512;
inline constexpr int kVectorLanes = 16;
inline constexpr int kVectorRegisters = 32;
FOCUS_CONV_INLINE Vector load_vector(const float* p) { return _mm512_load_ps(p); }  // 64-byte aligned
FOCUS_CONV_INLINE Vector loadu_vector(const float* p) { return _mm512_loadu_ps(p); }
FOCUS_CONV_INLINE Vector broadcast(const float* p) { return _mm512_set1_ps(*p); }
FOCUS_CONV_INLINE Vector zero_vector() { return _mm512_setzero_ps(); }
FOCUS_CONV_INLINE Vector fmadd(Vector a, Vector b, Vector c) { return _mm512_fmadd_ps(a, b, c); }
FOCUS_CONV_INLINE void store_vector(float* p, Vector v) { _mm512_store_ps(p, v); }  // 64-byte aligned
FOCUS_CONV_INLINE void storeu_vector(float* p, Vector v) { _mm512_storeu_ps(p, v); }
// The first `count` (0..16) lanes; the others are neither read nor written (no fault past an end).
FOCUS_CONV_INLINE Vector load_partial(const float* p, int count) {
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1), p);
}
FOCUS_CONV_INLINE void store_partial(float* p, Vector v, int count) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << count) - 1), v);
}
#else
#define FOCUS_CONV_TARGET __attribute__((target("avx2,fma")))
#define FOCUS_CONV_INLINE __attribute__((always_inline, target("avx2,fma"))) inline
using Vector = __m256;
inline constexpr int kVectorLanes = 8;
inline constexpr int kVectorRegisters = 16;
FOCUS_CONV_INLINE Vector load_vector(const float* p) { return _mm256_load_ps(p); }  // 32-byte aligned
FOCUS_CONV_INLINE Vector loadu_vector(const float* p) { return _mm256_loadu_ps(p); }
FOCUS_CONV_INLINE Vector broadcast(const float* p) { return _mm256_broadcast_ss(p); }
FOCUS_CONV_INLINE Vector zero_vector() { return _mm256_setzero_ps(); }
FOCUS_CONV_INLINE Vector fmadd(Vector a, Vector b, Vector c) { return _mm256_fmadd_ps(a, b, c); }
FOCUS_CONV_INLINE void store_vector(float* p, Vector v) { _mm256_store_ps(p, v); }  // 32-byte aligned
FOCUS_CONV_INLINE void storeu_vector(float* p, Vector v) { _mm256_storeu_ps(p, v); }
// The first `count` (0..8) lanes; the others are neither read nor written (no fault past an end).
FOCUS_CONV_INLINE __m256i lanes_below(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
FOCUS_CONV_INLINE Vector load_partial(const float* p, int count) { return _mm256_maskload_ps(p, lanes_below(count)); }
FOCUS_CONV_INLINE void store_partial(float* p, Vector v, int count) { _mm256_maskstore_ps(p, lanes_below(count), v); }
#endif

// dst[0, count) = src[0, count), and dst[0, count) = 0: the rows these copy are short (7 to 33
// floats), where a call to memmove or memset (which GCC makes of std::copy, std::fill and of
// plain vector-copy loops) costs more than the copy. Whole vectors, then one masked vector; nothing
// past `count` is read or written.
FOCUS_CONV_INLINE void copy_floats(const float* src, int64_t count, float* dst) {
  int64_t i = 0;
  for (; i + kVectorLanes <= count; i += kVectorLanes) storeu_vector(dst + i, loadu_vector(src + i));
  if (i < count) store_partial(dst + i, load_partial(src + i, static_cast<int>(count - i)), static_cast<int>(count - i));
}
// copy_floats whose last store is a whole vector: it may write up to kVectorLanes − 1 floats past
// dst[count) (zeros), where that memory is the caller's and written after. Masked stores cost
// more than plain ones here (a fifth of the weight gradient's column building).
FOCUS_CONV_INLINE void copy_floats_spilling(const float* src, int64_t count, float* dst) {
  int64_t i = 0;
  for (; i + kVectorLanes <= count; i += kVectorLanes) storeu_vector(dst + i, loadu_vector(src + i));
  if (i < count) storeu_vector(dst + i, load_partial(src + i, static_cast<int>(count - i)));
}
FOCUS_CONV_INLINE void zero_floats(float* dst, int64_t count) {
  int64_t i = 0;
  for (; i + kVectorLanes <= count; i += kVectorLanes) storeu_vector(dst + i, zero_vector());
  if (i < count) store_partial(dst + i, zero_vector(), static_cast<int>(count - i));
}

// The 8×8 block of floats in r[0..8) transposed in registers (r[i][j] → r[j][i]): pairs, then
// quads, then 128-bit halves. Both builds use 8-float vectors for it (the blocks are 8 wide).
__attribute__((always_inline, target("avx2"))) inline void transpose_8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 2; ++k) {
    u[4 * k] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
    u[4 * k + 1] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
    u[4 * k + 2] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
    u[4 * k + 3] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
    r[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
  }
}

// dst[j·dst_ld + i] = src[i·src_ld + j] for an 8×8 block, in registers (scalar moves cost about
// a tenth of a small layer's time); rows i >= rows of src are not read and count as zeros. Not
// forced inline: callers without the AVX2 target (the direct path's packing loops) call it.
__attribute__((target("avx2"))) inline void transpose_block(const float* src, int64_t src_ld, float* dst,
                                                            int64_t dst_ld, int64_t rows = 8) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * src_ld) : _mm256_setzero_ps();
  transpose_8x8(r);
  for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + j * dst_ld, r[j]);
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail
