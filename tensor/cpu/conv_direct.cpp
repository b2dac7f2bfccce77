// The direct float32 convolution for layers with many input taps (Cg·KH·KW of 64 or
// more: every layer of a CNN but the first), on x86 CPUs with AVX2.
//
// The packed path (conv_packed.cpp) puts 16 output *pixels* in a vector, so it must first
// copy each tap's 16 input pixels into a panel; a block that wraps an output row (a 7×7
// map has no whole 16-pixel rows) is gathered lane by lane, and a 49-pixel plane fills
// four blocks' 64 lanes. Here the vector runs along 16 output *channels*, as in an NHWC
// convolution: the register tile is 6 output pixels × 16 channels, the weights are packed
// once as [K, 16] panels per channel block, and each tap's input for each of the 6 pixels
// is one broadcast straight from the zero-bordered image. No panel is built, any 6 pixels
// of the batch make a tile (so a 7×7 plane wastes no lanes), and stride, dilation and
// groups are only other offsets. Per tap: 2 weight loads and 6 broadcasts feed 12 FMAs.
//
// The prices: the tile is [pixel][channel] and NCHW wants [channel][pixel], so each tile
// is transposed through a small buffer (96 scalar moves per 96·K multiply-adds, small once
// K is); and the batch is copied once with its zero border (memory: the input's size again).
// dx of a stride-1 convolution runs here too (conv_packed.cpp's packed_input_gradient).
//
// Measured against the packed path, 2 threads, Zen 3, batch 128 (forward GFLOP/s):
// 24→32 at 31×31 132 → 142, 32→32 at 15×15 115 → 145, 128→128 at 7×7 119 → 165; at 32×32,
// whose rows hold whole 16-pixel blocks, the two are level. A direct weight gradient (the same
// tile with the batch's pixels as its depth) measured no better than the packed one and
// was left out.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define FOCUS_CONV_DIRECT 1
#endif

#include "tensor/cpu/conv_internal.h"
#include "tensor/cpu/loops.h"

namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail {

// Below this many taps per output the tile's 96 transposing moves cost more than the panel
// path's copies (the 3-channel first layer: K = 27).
bool direct_preferred(const ConvGeometry& g) { return packed_available() && g.K >= 64; }

#ifdef FOCUS_CONV_DIRECT

namespace {

// Register tiles: 6 pixels × 16 channels (12 accumulators, 2 weight loads and 6 broadcasts
// per 12 FMAs), and 8 pixels × 8 channels for a group's last 8 or fewer channels (8
// accumulators: as many as the two FMA units' 4-cycle latency needs).
constexpr int64_t kWideChannels = 16;
// Pixels per work item, a multiple of both tiles' pixels: a channel block's weights (K·16
// floats, in L2) serve this many pixels before the next block's are read.
constexpr int64_t kItemPixels = 48;

// out[i][j] = start_j + Σ_k w[k·W + j] · in[i][taps[k]] for the tile's Pixels pixels (i) and
// W = 8·Vectors channels (j); start is bias (when given) or 0.
template <int Pixels, int Vectors>
__attribute__((target("avx2,fma"))) void direct_tile(int64_t depth, const int64_t* taps, const float* const* in,
                                                      const float* w, const float* bias, float* out) {
  constexpr int64_t width = 8 * Vectors;
  __m256 start[Vectors], acc[Pixels][Vectors];
  for (int v = 0; v < Vectors; ++v) start[v] = bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
  for (int i = 0; i < Pixels; ++i)
    for (int v = 0; v < Vectors; ++v) acc[i][v] = start[v];
  const float* pixel[Pixels];
  for (int i = 0; i < Pixels; ++i) pixel[i] = in[i];
  for (int64_t k = 0; k < depth; ++k) {
    const int64_t tap = taps[k];
    __m256 weights[Vectors];
    for (int v = 0; v < Vectors; ++v) weights[v] = _mm256_load_ps(w + k * width + 8 * v);
    // One broadcast at a time: with 12 accumulators, 2 weights and 1 input, 15 of the 16
    // registers are busy (all six broadcasts up front spill accumulators to the stack).
    for (int i = 0; i < Pixels; ++i) {
      const __m256 a = _mm256_broadcast_ss(pixel[i] + tap);
      for (int v = 0; v < Vectors; ++v) acc[i][v] = _mm256_fmadd_ps(a, weights[v], acc[i][v]);
    }
  }
  for (int i = 0; i < Pixels; ++i)
    for (int v = 0; v < Vectors; ++v) _mm256_store_ps(out + i * width + 8 * v, acc[i][v]);
}

// A group's output channels in blocks of 16, the last of 8 when 8 or fewer remain.
struct ChannelBlock {
  int64_t first, count, width;  // first channel within the group, channels, and 16 or 8
  int64_t packed;               // where its [K, width] weights start
};

std::vector<ChannelBlock> channel_blocks_of(const ConvGeometry& g) {
  std::vector<ChannelBlock> blocks;
  int64_t packed = 0;
  for (int64_t first = 0; first < g.OCg; first += kWideChannels) {
    const int64_t count = std::min(kWideChannels, g.OCg - first), width = count <= 8 ? 8 : kWideChannels;
    blocks.push_back({first, count, width, packed});
    packed += g.K * width;
  }
  return blocks;
}

// The whole batch with its zero border, [N, C, rows, cols]: every tap of every pixel is then
// an in-bounds read, and the copy costs one pass over the input (im2col would write K). Without
// padding the input itself is read in place.
struct PaddedBatch {
  int64_t rows, cols, plane;
  Scratch<float> copy;  // empty when no padding is needed
  const float* data;
};

PaddedBatch pad_batch(const ConvGeometry& g, const float* x) {
  const Conv2dParams& p = g.p;
  PaddedBatch pad{g.H + p.pad_top + p.pad_bottom, g.W + p.pad_left + p.pad_right, 0, nullptr, x};
  pad.plane = pad.rows * pad.cols;
  if (pad.plane == g.plane) return pad;
  pad.copy = scratch<float>(g.N * g.C * pad.plane);
  pad.data = pad.copy.get();
  parallel_for(0, g.N * g.C, std::max<int64_t>(1, 4096 / pad.plane), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      float* dst = pad.copy.get() + plane * pad.plane;
      std::fill(dst, dst + p.pad_top * pad.cols, 0.0f);
      for (int64_t h = 0; h < g.H; ++h) {
        float* row = dst + (h + p.pad_top) * pad.cols;
        const float* src = x + plane * g.plane + h * g.W;
        std::fill(row, row + p.pad_left, 0.0f);
        std::copy(src, src + g.W, row + p.pad_left);
        std::fill(row + p.pad_left + g.W, row + pad.cols, 0.0f);
      }
      std::fill(dst + (p.pad_top + g.H) * pad.cols, dst + pad.plane, 0.0f);
    }
  });
  return pad;
}

// taps[k]: where tap k = (c·KH + ki)·KW + kj of a group reads, from its pixel's channel-0 corner.
std::vector<int64_t> tap_offsets(const ConvGeometry& g, const PaddedBatch& pad) {
  std::vector<int64_t> taps(static_cast<size_t>(g.K));
  for (int64_t c = 0, k = 0; c < g.Cg; ++c)
    for (int64_t ki = 0; ki < g.KH; ++ki)
      for (int64_t kj = 0; kj < g.KW; ++kj)
        taps[static_cast<size_t>(k++)] = c * pad.plane + ki * g.p.dilation_h * pad.cols + kj * g.p.dilation_w;
  return taps;
}

// The channel-0 corner of batch pixel q = n·OH·OW + oh·OW + ow in the padded batch.
int64_t pixel_offset(const ConvGeometry& g, const PaddedBatch& pad, int64_t q) {
  const int64_t n = q / g.out_plane, pixel = q % g.out_plane, oh = pixel / g.OW, ow = pixel % g.OW;
  return n * g.C * pad.plane + oh * g.p.stride_h * pad.cols + ow * g.p.stride_w;
}

}  // namespace

void direct_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const PaddedBatch pad = pad_batch(g, x);
  const std::vector<int64_t> taps = tap_offsets(g, pad);

  // Weights as [group][channel block][K][width], zero past the group's channels; bias likewise.
  const std::vector<ChannelBlock> blocks = channel_blocks_of(g);
  const int64_t group_size = blocks.back().packed + g.K * blocks.back().width;
  Scratch<float> packed = scratch<float>(g.groups * group_size);
  std::vector<float> bias_padded(static_cast<size_t>(g.groups * blocks.size() * kWideChannels), 0.0f);
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (size_t b = 0; b < blocks.size(); ++b) {
      const ChannelBlock& block = blocks[b];
      float* dst = packed.get() + grp * group_size + block.packed;
      for (int64_t j = 0; j < block.width; ++j) {
        const int64_t o = grp * g.OCg + block.first + j;
        const float* src = j < block.count ? w + o * g.K : nullptr;
        for (int64_t k = 0; k < g.K; ++k) dst[k * block.width + j] = src ? src[k] : 0.0f;
        if (bias && j < block.count) bias_padded[(grp * blocks.size() + b) * kWideChannels + j] = bias[o];
      }
    }

  // Work items: runs of kItemPixels consecutive pixels of the batch (n, oh, ow), across images.
  const int64_t pixels = g.N * g.out_plane, items = ceil_div(pixels, kItemPixels);
  auto run = [&](int64_t begin, int64_t end) {
    alignas(32) float tile_out[6 * 16];
    // A channel block's outputs for the item, channel-major: scattering each tile straight
    // into NCHW would write 16 planes apart, and planes of 4 KiB (32×32) all fall in one
    // L1 set, which holds 8 lines, not 16.
    alignas(32) float block_out[kWideChannels][kItemPixels];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t first = item * kItemPixels, count = std::min(kItemPixels, pixels - first);
      int64_t in_offset[kItemPixels];
      for (int64_t i = 0; i < kItemPixels; ++i)  // a short item repeats its last pixel
        in_offset[i] = pixel_offset(g, pad, first + std::min(i, count - 1));
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const float* in[kItemPixels];
        for (int64_t i = 0; i < kItemPixels; ++i) in[i] = pad.data + in_offset[i] + grp * g.Cg * pad.plane;
        for (size_t b = 0; b < blocks.size(); ++b) {
          const ChannelBlock& block = blocks[b];
          const float* block_weights = packed.get() + grp * group_size + block.packed;
          const float* block_bias = bias ? bias_padded.data() + (grp * blocks.size() + b) * kWideChannels : nullptr;
          const int64_t tile_pixels = block.width == kWideChannels ? 6 : 8;
          for (int64_t t = 0; t < count; t += tile_pixels) {
            if (block.width == kWideChannels)
              direct_tile<6, 2>(g.K, taps.data(), in + t, block_weights, block_bias, tile_out);
            else
              direct_tile<8, 1>(g.K, taps.data(), in + t, block_weights, block_bias, tile_out);
            for (int64_t j = 0; j < block.count; ++j)
              for (int64_t i = 0; i < tile_pixels; ++i) block_out[j][t + i] = tile_out[i * block.width + j];
          }
          // The item's pixels are consecutive in the batch: one run per image they touch.
          const int64_t oc0 = grp * g.OCg + block.first;
          for (int64_t i = 0; i < count;) {
            const int64_t n = (first + i) / g.out_plane, pixel = (first + i) % g.out_plane;
            const int64_t run_length = std::min(count - i, g.out_plane - pixel);
            for (int64_t j = 0; j < block.count; ++j)
              std::copy(block_out[j] + i, block_out[j] + i + run_length, y + (n * g.OC + oc0 + j) * g.out_plane + pixel);
            i += run_length;
          }
        }
      }
    }
  };
  const int64_t macs_per_item = kItemPixels * g.OC * g.K;
  if (items * macs_per_item < kParallelMacs || omp_in_parallel())
    run(0, items);
  else
    parallel_for(0, items, 1, run);
}

#else  // no AVX2 path on this CPU architecture: direct_preferred() is false, so this is never called

void direct_forward(const ConvGeometry&, const float*, const float*, const float*, float*) {
  throw std::logic_error("conv2d: the direct float32 path is not built for this CPU");
}

#endif  // FOCUS_CONV_DIRECT

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail
