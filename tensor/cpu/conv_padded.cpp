// The batch with its zero border, for the float32 convolution paths (conv_direct.cpp reads its
// taps from it, conv_packed.cpp's weight gradient builds its columns from it).
#include <algorithm>
#include <cstdint>

#include "tensor/cpu/conv_internal.h"
#if defined(__x86_64__)
#include "tensor/cpu/conv_vector.h"
#endif
#include "tensor/cpu/loops.h"

namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail {

#if defined(__x86_64__)
// Rows here are short (7 to 33 floats): a call to memmove or memset per row, which the compiler
// makes of std::copy, std::fill and plain loops, costs more than a few vector moves.
FOCUS_CONV_TARGET void copy_row(const float* src, int64_t count, float* dst) {
  int64_t i = 0;
  for (; i + kVectorLanes <= count; i += kVectorLanes) storeu_vector(dst + i, loadu_vector(src + i));
  if (i < count) store_partial(dst + i, load_partial(src + i, static_cast<int>(count - i)), static_cast<int>(count - i));
}

namespace {
FOCUS_CONV_TARGET void zero_row(float* dst, int64_t count) {
  int64_t i = 0;
  for (; i + kVectorLanes <= count; i += kVectorLanes) storeu_vector(dst + i, zero_vector());
  if (i < count) store_partial(dst + i, zero_vector(), static_cast<int>(count - i));
}
}  // namespace
#else
void copy_row(const float* src, int64_t count, float* dst) { std::copy(src, src + count, dst); }
namespace {
void zero_row(float* dst, int64_t count) { std::fill(dst, dst + count, 0.0f); }
}  // namespace
#endif

PaddedBatch pad_batch(const ConvGeometry& g, const float* x, int64_t slack) {
  const Conv2dParams& p = g.p;
  PaddedBatch pad{g.H + p.pad_top + p.pad_bottom, g.W + p.pad_left + p.pad_right, 0, nullptr, x};
  pad.plane = pad.rows * pad.cols;
  if (pad.plane == g.plane && slack == 0) return pad;
  pad.copy = scratch<float>(g.N * g.C * pad.plane + slack);
  pad.data = pad.copy.get();
  zero_row(pad.copy.get() + g.N * g.C * pad.plane, slack);
  parallel_for(0, g.N * g.C, std::max<int64_t>(1, 4096 / pad.plane), [&](int64_t begin, int64_t end) {
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
  });
  return pad;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail
