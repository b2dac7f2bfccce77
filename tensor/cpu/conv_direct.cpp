// The direct float32 convolution for layers with many input taps (Cg·KH·KW of 64 or
// more: every layer of a CNN but the first), on x86 CPUs with AVX2, and at twice the width
// in the AVX-512 build.
//
// The packed path (conv_packed.cpp) puts 16 output *pixels* in a vector, so it must first
// copy each tap's 16 input pixels into a panel; a block that wraps an output row (a 7×7
// map has no whole 16-pixel rows) is gathered lane by lane, and a 49-pixel plane fills
// four blocks' 64 lanes. Here the vector runs along output *channels*, as in an NHWC
// convolution: the register tile is 6 output pixels × 16 channels (AVX2; 12 × 32 with
// AVX-512), the weights are packed once as [K, width] panels per channel block, and each
// tap's input for each of the tile's pixels is one broadcast straight from the zero-bordered
// image. No panel is built, any pixels of the batch make a tile (so a 7×7 plane wastes no
// lanes), and stride, dilation and groups are only other offsets. Per tap: 2 weight loads
// and 6 (12) broadcasts feed 12 (24) FMAs.
//
// The prices: the tile is [pixel][channel] and NCHW wants [channel][pixel], so an item's tiles
// are transposed in registers, 8×8 at a time, and copied out a run of pixels per image; and
// the input is copied with its zero border: a group of images at a time into each thread's own
// buffer (a training batch), or the whole batch at once (a batch of one or a few images). dx of a
// stride-1 convolution runs here too (conv_packed.cpp's packed_input_gradient).
//
// Measured, 2 threads, batch 128, forward GFLOP/s. Zen 3, against the packed path: 24→32 at
// 31×31 132 → 142, 32→32 at 15×15 115 → 145, 128→128 at 7×7 119 → 165; at 32×32, whose
// rows hold whole 16-pixel blocks, the two are level. An AVX-512 Xeon, the AVX2 tile → the
// AVX-512 one: 24→32 186 → 227, 32→32 198 → 271, 32→128 201 → 265, 128→128 204 → 296. The
// weight gradient's tile reads the padded batch the same way in the AVX-512 build, with the
// batch's pixels as its depth (conv_packed.cpp, kDirectWeightGradient); with AVX2 (and on Zen 3)
// it measured no better than building the column rows first.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define FOCUS_CONV_DIRECT 1
#endif

#include "tensor/cpu/conv_internal.h"
#ifdef FOCUS_CONV_DIRECT
#include "tensor/cpu/conv_vector.h"
#endif
#include "tensor/cpu/loops.h"

namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail {

// Below this many taps per output the tile's 96 transposing moves cost more than the panel
// path's copies (the 3-channel first layer: K = 27).
bool direct_preferred(const ConvGeometry& g) { return packed_available() && g.K >= 64; }

#ifdef FOCUS_CONV_DIRECT

namespace {

// Register tiles, pixels × channels (tensor/cpu/conv_vector.h gives the vector). AVX2 (16
// registers of 8 floats): 6 × 16 (12 accumulators, 2 weight loads and 6 broadcasts per 12
// FMAs), and 8 × 8 for a group's last 8 or fewer channels (8 accumulators: as many as the two
// FMA units' 4-cycle latency needs). AVX-512 (32 registers of 16): 12 × 32 (24 accumulators,
// 2 weight loads and 12 broadcasts per 24 FMAs), and 12 × 16 for a group's last 16 or fewer.
constexpr int kWideVectors = 2, kNarrowVectors = 1;
constexpr int kWidePixels = kVectorRegisters == 32 ? 12 : 6, kNarrowPixels = kVectorRegisters == 32 ? 12 : 8;
constexpr int64_t kWideChannels = kWideVectors * kVectorLanes, kNarrowChannels = kNarrowVectors * kVectorLanes;
// Pixels per work item, a multiple of both tiles' pixels and of the 8×8 transposes: a channel
// block's weights (K·width floats, in L2) serve this many pixels before the next block's are read.
// 48 → 96 gained 2–10 % forward on an AVX-512 Xeon (most at 32→64 on 32×32 maps); 192 no more.
constexpr int64_t kItemPixels = 96;
static_assert(kItemPixels % kWidePixels == 0 && kItemPixels % kNarrowPixels == 0 && kItemPixels % 8 == 0);

// out[i][j] = start_j + Σ_k w[k·W + j] · in[i][taps[k]] for the tile's Pixels pixels (i) and
// W = kVectorLanes·Vectors channels (j); start is bias (when given) or 0.
template <int Pixels, int Vectors>
FOCUS_CONV_TARGET void direct_tile(int64_t depth, const int64_t* taps, const float* const* in, const float* w,
                                   const float* bias, float* out) {
  constexpr int64_t width = kVectorLanes * Vectors;
  Vector start[Vectors], acc[Pixels][Vectors];
  for (int v = 0; v < Vectors; ++v) start[v] = bias ? loadu_vector(bias + kVectorLanes * v) : zero_vector();
  for (int i = 0; i < Pixels; ++i)
    for (int v = 0; v < Vectors; ++v) acc[i][v] = start[v];
  const float* pixel[Pixels];
  for (int i = 0; i < Pixels; ++i) pixel[i] = in[i];
  for (int64_t k = 0; k < depth; ++k) {
    const int64_t tap = taps[k];
    Vector weights[Vectors];
    for (int v = 0; v < Vectors; ++v) weights[v] = load_vector(w + k * width + kVectorLanes * v);
    // One broadcast at a time: with AVX2's 12 accumulators, 2 weights and 1 input, 15 of the
    // 16 registers are busy (all six broadcasts up front spill accumulators to the stack).
    for (int i = 0; i < Pixels; ++i) {
      const Vector a = broadcast(pixel[i] + tap);
      for (int v = 0; v < Vectors; ++v) acc[i][v] = fmadd(a, weights[v], acc[i][v]);
    }
  }
  for (int i = 0; i < Pixels; ++i)
    for (int v = 0; v < Vectors; ++v) store_vector(out + i * width + kVectorLanes * v, acc[i][v]);
}

// A group's output channels in blocks of kWideChannels, the last of kNarrowChannels when no more remain.
struct ChannelBlock {
  int64_t first, count, width;  // first channel within the group, channels, and kWideChannels or kNarrowChannels
  int64_t packed;               // where its [K, width] weights start
};

std::vector<ChannelBlock> channel_blocks_of(const ConvGeometry& g) {
  std::vector<ChannelBlock> blocks;
  int64_t packed = 0;
  for (int64_t first = 0; first < g.OCg; first += kWideChannels) {
    const int64_t count = std::min(kWideChannels, g.OCg - first);
    const int64_t width = count <= kNarrowChannels ? kNarrowChannels : kWideChannels;
    blocks.push_back({first, count, width, packed});
    packed += g.K * width;
  }
  return blocks;
}

// in[i] = the corner, from `base` (the padded batch's first channel of a group), of batch pixel
// first + i (q = n·OH·OW + oh·OW + ow), for i < count, and the last one's again up to kItemPixels:
// a short item's last tile repeats it. Counted along, not divided out per pixel. (Written as
// offsets and then added to the base by a vectorised loop, the vector read of the just-stored
// offsets waited on store forwarding: about 2 % of the forward's profile.)
void item_pixels(const ConvGeometry& g, const PaddedBatch& pad, int64_t first, int64_t count, const float* base,
                 const float** in) {
  const int64_t pixel = first % g.out_plane;
  int64_t n = first / g.out_plane, oh = pixel / g.OW, ow = pixel % g.OW;
  for (int64_t i = 0; i < kItemPixels; ++i) {
    in[i] = base + n * g.C * pad.plane + oh * g.p.stride_h * pad.cols + ow * g.p.stride_w;
    if (i + 1 < count && ++ow == g.OW) {
      ow = 0;
      if (++oh == g.OH) oh = 0, ++n;
    }
  }
}

// One channel block's weights as the tile reads them: dst[k·width + j] = w[first + j, k] (row
// stride K) for j < count, 0 for count <= j < width, over the taps k of [k0, k1). A transpose:
// 8×8 blocks in registers where whole, single floats at the end of K. (One float at a time,
// every store a new cache line, this took a few percent of a training step, on one thread.)
void pack_block_weights(const float* w, int64_t K, int64_t count, int64_t width, int64_t k0, int64_t k1,
                        float* dst) {
  int64_t k = k0;
  for (; k + 8 <= k1; k += 8)
    for (int64_t j = 0; j < width; j += 8)
      transpose_block(w + j * K + k, K, dst + k * width + j, width, std::clamp<int64_t>(count - j, 0, 8));
  for (; k < k1; ++k)
    for (int64_t j = 0; j < width; ++j) dst[k * width + j] = j < count ? w[j * K + k] : 0.0f;
}

// The copy-out of one channel block of an item: out[j][i] (the block's channel j, the item's
// pixel i) to NCHW, one run of pixels per image the item touches.
FOCUS_CONV_TARGET void copy_out(const ConvGeometry& g, const float (*out)[kItemPixels], int64_t channels,
                                int64_t first_channel, int64_t first, int64_t count, float* y) {
  for (int64_t i = 0; i < count;) {
    const int64_t n = (first + i) / g.out_plane, pixel = (first + i) % g.out_plane;
    const int64_t run_length = std::min(count - i, g.out_plane - pixel);
    for (int64_t j = 0; j < channels; ++j)
      copy_floats(out[j] + i, run_length, y + (n * g.OC + first_channel + j) * g.out_plane + pixel);
    i += run_length;
  }
}

// Images per group when each thread pads the images it is about to read itself (direct_forward),
// or 0 when the batch is better padded whole (no border to add: the input is read in place; or a
// batch too small to share out in groups, such as one image). The group size is the one whose
// busiest thread has the least to do, counting the wide tiles a group's pixels fill (a 7×7 plane
// fills 5 tiles of 12 with 49 pixels, 4 images fill 17 with 196) and how evenly the groups
// share among the threads, for groups of at most 1 MiB padded (they stay in L2).
int64_t images_per_group(const ConvGeometry& g, const PaddedBatch& shape, int threads) {
  if (shape.plane == g.plane) return 0;
  const int64_t image_bytes = g.C * shape.plane * static_cast<int64_t>(sizeof(float));
  int64_t best = 0;
  double best_load = 0;
  for (int64_t images = 1; images <= std::min<int64_t>(g.N, 16); ++images) {
    if (images > 1 && images * image_bytes > (int64_t{1} << 20)) break;
    const int64_t groups = ceil_div(g.N, images), tiles = ceil_div(images * g.out_plane, kWidePixels);
    // The busiest thread's tiles, against an even share of the batch's pixels.
    const double load = static_cast<double>(ceil_div(groups, threads) * tiles * kWidePixels * threads) /
                        static_cast<double>(g.N * g.out_plane);
    if (best == 0 || load < best_load) best = images, best_load = load;
  }
  return best_load <= 1.125 ? best : 0;
}

}  // namespace

// Where the zero-bordered input comes from. With many images (training batches), each thread
// pads a group of images at a time into a buffer of its own and computes their outputs right
// away, while they are in its L2: padding the whole batch first wrote it (an input's size again)
// to memory and read it back, 5–7 % of a forward on its own. A batch of one or a few images is
// padded whole, its pixels shared among threads.
void direct_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const PaddedBatch shape = padded_shape(g);
  const std::vector<int64_t> taps = tap_offsets(g, shape, g.Cg);  // a group's taps

  // Weights as [group][channel block][K][width], zero past the group's channels; bias likewise.
  const std::vector<ChannelBlock> blocks = channel_blocks_of(g);
  const int64_t group_size = blocks.back().packed + g.K * blocks.back().width;
  Scratch<float> packed = scratch<float>(g.groups * group_size);
  const int64_t k_steps = ceil_div(g.K, 8), block_count = static_cast<int64_t>(blocks.size());
  parallel_for(0, g.groups * block_count * k_steps, std::max<int64_t>(1, 16384 / (8 * kWideChannels)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t item = begin; item < end; ++item) {
                   const int64_t grp = item / (block_count * k_steps), b = item / k_steps % block_count;
                   const int64_t k0 = item % k_steps * 8, k1 = std::min(g.K, k0 + 8);
                   const ChannelBlock& block = blocks[static_cast<size_t>(b)];
                   pack_block_weights(w + (grp * g.OCg + block.first) * g.K, g.K, block.count, block.width, k0, k1,
                                      packed.get() + grp * group_size + block.packed);
                 }
               });
  std::vector<float> bias_padded(static_cast<size_t>(g.groups * blocks.size() * kWideChannels), 0.0f);
  if (bias)
    for (int64_t grp = 0; grp < g.groups; ++grp)
      for (size_t b = 0; b < blocks.size(); ++b)
        for (int64_t j = 0; j < blocks[b].count; ++j)
          bias_padded[(grp * blocks.size() + b) * kWideChannels + j] = bias[grp * g.OCg + blocks[b].first + j];

  // The outputs of the batch's pixels [q_begin, q_end) (q = n·OH·OW + oh·OW + ow), in work items of
  // kItemPixels consecutive pixels, across images; `padded` holds the zero-bordered images from
  // batch image first_image on.
  auto compute = [&](const float* padded, int64_t first_image, int64_t q_begin, int64_t q_end) {
    // A channel block's outputs for the item, first pixel-major as the tiles leave them, then
    // channel-major: scattering each tile straight into NCHW would write 16 planes apart, and
    // planes of 4 KiB (32×32) all fall in one L1 set, which holds 8 lines, not 16.
    alignas(64) float tile_out[kItemPixels * kWideChannels] = {};  // lanes no tile writes stay 0
    alignas(64) float block_out[kWideChannels][kItemPixels];
    for (int64_t first = q_begin; first < q_end; first += kItemPixels) {
      const int64_t count = std::min(kItemPixels, q_end - first);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const float* in[kItemPixels];
        item_pixels(g, shape, first - first_image * g.out_plane, count, padded + grp * g.Cg * shape.plane, in);
        for (size_t b = 0; b < blocks.size(); ++b) {
          const ChannelBlock& block = blocks[b];
          const float* block_weights = packed.get() + grp * group_size + block.packed;
          const float* block_bias = bias ? bias_padded.data() + (grp * blocks.size() + b) * kWideChannels : nullptr;
          const bool wide = block.width == kWideChannels;
          for (int64_t t = 0; t < count; t += wide ? kWidePixels : kNarrowPixels) {
            float* out = tile_out + t * block.width;
            if (wide)
              direct_tile<kWidePixels, kWideVectors>(g.K, taps.data(), in + t, block_weights, block_bias, out);
            else
              direct_tile<kNarrowPixels, kNarrowVectors>(g.K, taps.data(), in + t, block_weights, block_bias, out);
          }
          // [pixel][width] → [channel][pixel] by 8×8 blocks (the item's pixels rounded up to 8, all
          // lanes: lanes past `count` or the group's channels are never copied out).
          for (int64_t j = 0; j < block.width; j += 8)
            for (int64_t i = 0; i < count; i += 8)
              transpose_block(tile_out + i * block.width + j, block.width, &block_out[j][i], kItemPixels);
          // The item's pixels are consecutive in the batch: one run per image they touch.
          copy_out(g, block_out, block.count, grp * g.OCg + block.first, first, count, y);
        }
      }
    }
  };

  const int64_t pixels = g.N * g.out_plane, items = ceil_div(pixels, kItemPixels);
  const bool serial = items * kItemPixels * g.OC * g.K < kParallelMacs || omp_in_parallel();
  const int threads = serial ? 1 : omp_get_max_threads();
  const int64_t images = images_per_group(g, shape, threads);
  if (images > 0) {
    auto run_groups = [&](int64_t begin, int64_t end) {
      Scratch<float> padded = scratch<float>(images * g.C * shape.plane);
      for (int64_t group = begin; group < end; ++group) {
        const int64_t n0 = group * images, n1 = std::min(g.N, n0 + images);
        pad_images(g, x, n0, n1, padded.get());
        compute(padded.get(), n0, n0 * g.out_plane, n1 * g.out_plane);
      }
    };
    const int64_t groups = ceil_div(g.N, images);
    if (serial)
      run_groups(0, groups);
    else
      parallel_for(0, groups, 1, run_groups);
    return;
  }
  const PaddedBatch pad = pad_batch(g, x);
  auto run_items = [&](int64_t begin, int64_t end) {
    compute(pad.data, 0, begin * kItemPixels, std::min(pixels, end * kItemPixels));
  };
  if (serial)
    run_items(0, items);
  else
    parallel_for(0, items, 1, run_items);
}

#else  // no AVX2 path on this CPU architecture: direct_preferred() is false, so this is never called

void direct_forward(const ConvGeometry&, const float*, const float*, const float*, float*) {
  throw std::logic_error("conv2d: the direct float32 path is not built for this CPU");
}

#endif  // FOCUS_CONV_DIRECT

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail
