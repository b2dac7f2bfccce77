// The batch with its zero border, for the float32 convolution paths (conv_direct.cpp reads its
// taps from it, conv_packed.cpp's weight gradient its columns): the whole batch at once
// (pad_batch), or a group of images into a thread's own buffer (pad_images).
#include <algorithm>
#include <cstdint>
#include <vector>

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
constexpr int64_t kPrefetchFloats = 1024;  // 4 KiB ahead: twenty 7×7 planes, four of 15×15

#if defined(__x86_64__)
FOCUS_CONV_TARGET void copy_row(const float* src, int64_t count, float* dst) { copy_floats(src, count, dst); }
FOCUS_CONV_TARGET void zero_row(float* dst, int64_t count) { zero_floats(dst, count); }
#else
void copy_row(const float* src, int64_t count, float* dst) { std::copy(src, src + count, dst); }
void zero_row(float* dst, int64_t count) { std::fill(dst, dst + count, 0.0f); }
#endif

// Planes [begin, end) of the batch (plane n·C + c) with g's zero border, [end − begin, rows, cols]
// from dst on.
FOCUS_PAD_TARGET void pad_planes(const ConvGeometry& g, const float* x, const PaddedBatch& shape, int64_t begin,
                                 int64_t end, float* dst) {
  const Conv2dParams& p = g.p;
  for (int64_t plane = begin; plane < end; ++plane) {
    float* out = dst + (plane - begin) * shape.plane;
    zero_row(out, p.pad_top * shape.cols);
    for (int64_t h = 0; h < g.H; ++h) {
      const float* src = x + plane * g.plane + h * g.W;
      // The input is read once, from memory, in short rows: the hardware's prefetcher falls behind
      // (an AVX-512 Xeon spent two thirds of this loop waiting on these loads). Asking for the
      // row kPrefetchFloats ahead made 192→192 channels at 7×7, batch 512, about 3 % faster
      // in each pass.
      __builtin_prefetch(src + kPrefetchFloats);
      __builtin_prefetch(src + g.W - 1 + kPrefetchFloats);
      float* row = out + (h + p.pad_top) * shape.cols;
      zero_row(row, p.pad_left);
      copy_row(src, g.W, row + p.pad_left);
      zero_row(row + p.pad_left + g.W, p.pad_right);
    }
    zero_row(out + (p.pad_top + g.H) * shape.cols, p.pad_bottom * shape.cols);
  }
}
}  // namespace

PaddedBatch padded_shape(const ConvGeometry& g) {
  const Conv2dParams& p = g.p;
  PaddedBatch shape{g.H + p.pad_top + p.pad_bottom, g.W + p.pad_left + p.pad_right, 0, nullptr, nullptr};
  shape.plane = shape.rows * shape.cols;
  return shape;
}

PaddedBatch pad_batch(const ConvGeometry& g, const float* x, int64_t slack) {
  PaddedBatch pad = padded_shape(g);
  pad.data = x;
  if (pad.plane == g.plane && slack == 0) return pad;
  pad.copy = scratch<float>(g.N * g.C * pad.plane + slack);
  pad.data = pad.copy.get();
  zero_row(pad.copy.get() + g.N * g.C * pad.plane, slack);
  parallel_for(0, g.N * g.C, std::max<int64_t>(1, 4096 / pad.plane), [&](int64_t begin, int64_t end) {
    pad_planes(g, x, pad, begin, end, pad.copy.get() + begin * pad.plane);
  });
  return pad;
}

void pad_images(const ConvGeometry& g, const float* x, int64_t n0, int64_t n1, float* dst) {
  pad_planes(g, x, padded_shape(g), n0 * g.C, n1 * g.C, dst);
}

std::vector<int64_t> tap_offsets(const ConvGeometry& g, const PaddedBatch& pad, int64_t channels) {
  std::vector<int64_t> taps(static_cast<size_t>(channels * g.KH * g.KW));
  for (int64_t c = 0, k = 0; c < channels; ++c)
    for (int64_t ki = 0; ki < g.KH; ++ki)
      for (int64_t kj = 0; kj < g.KW; ++kj)
        taps[static_cast<size_t>(k++)] = c * pad.plane + ki * g.p.dilation_h * pad.cols + kj * g.p.dilation_w;
  return taps;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail
