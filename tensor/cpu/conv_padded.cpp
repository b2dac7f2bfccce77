// The batch with its zero border, for the float32 convolution paths (conv_direct.cpp reads its
// taps from it, conv_packed.cpp's weight gradient builds its columns from it).
#include <algorithm>
#include <cstdint>

#include "tensor/cpu/conv_internal.h"
#if defined(__x86_64__)
#include "tensor/cpu/conv_vector.h"
#endif
#include "tensor/cpu/loops.h"

#if defined(__x86_64__)
#define FOCUS_PAD_TARGET FOCUS_CONV_TARGET
#else
#define FOCUS_PAD_TARGET
#endif

namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail {

namespace {
#if defined(__x86_64__)
FOCUS_CONV_TARGET void copy_row(const float* src, int64_t count, float* dst) { copy_floats(src, count, dst); }
FOCUS_CONV_TARGET void zero_row(float* dst, int64_t count) { zero_floats(dst, count); }
#else
void copy_row(const float* src, int64_t count, float* dst) { std::copy(src, src + count, dst); }
void zero_row(float* dst, int64_t count) { std::fill(dst, dst + count, 0.0f); }
#endif

// The padded planes [begin, end) of the batch into pad.copy (see pad_batch).
FOCUS_PAD_TARGET void pad_planes(const ConvGeometry& g, const float* x, const PaddedBatch& pad, int64_t begin,
                                 int64_t end) {
  const Conv2dParams& p = g.p;
  for (int64_t plane = begin; plane < end; ++plane) {
    float* dst = pad.copy.get() + plane * pad.plane;
    zero_row(dst, p.pad_top * pad.cols);
    for (int64_t h = 0; h < g.H; ++h) {
      float* row = dst + (h + p.pad_top) * pad.cols;
      zero_row(row, p.pad_left);
      copy_row(x + plane * g.plane + h * g.W, g.W, row + p.pad_left);
      zero_row(row + p.pad_left + g.W, p.pad_right);
    }
    zero_row(dst + (p.pad_top + g.H) * pad.cols, p.pad_bottom * pad.cols);
  }
}
}  // namespace

PaddedBatch pad_batch(const ConvGeometry& g, const float* x, int64_t slack) {
  const Conv2dParams& p = g.p;
  PaddedBatch pad{g.H + p.pad_top + p.pad_bottom, g.W + p.pad_left + p.pad_right, 0, nullptr, x};
  pad.plane = pad.rows * pad.cols;
  if (pad.plane == g.plane && slack == 0) return pad;
  pad.copy = scratch<float>(g.N * g.C * pad.plane + slack);
  pad.data = pad.copy.get();
  zero_row(pad.copy.get() + g.N * g.C * pad.plane, slack);
  parallel_for(0, g.N * g.C, std::max<int64_t>(1, 4096 / pad.plane),
               [&](int64_t begin, int64_t end) { pad_planes(g, x, pad, begin, end); });
  return pad;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail
