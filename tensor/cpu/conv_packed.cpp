// The float32 convolution path for x86 CPUs with AVX2 (see conv.cpp for the
// general im2col + BLAS path and the entry points).
//
// im2col + BLAS writes the whole column matrix to memory, BLAS reads it back to
// pack it into its own panel layout, and the product is then scattered to NCHW.
// Here the columns of 16 output pixels at a time are built straight into that
// panel layout — a [K, 16] panel that stays in L1 — and multiplied by the packed
// weights with a 6×16 register tile: 12 AVX2 accumulators, 12 FMAs per 2 loads and
// 6 broadcasts, so the FMA units, not memory, set the pace. The tile starts from
// the bias and is stored straight into NCHW. Work items are (image, 16-pixel block)
// pairs shared among threads, reading the batch copied once with its zero border.
//
// dx of a stride-1 convolution is itself a convolution, of dy with the kernel
// flipped and its channel dims swapped (packed_input_gradient), so it reuses the
// forward pass. dW (packed_weight_gradient) runs a tile of its own, of the vector width of the
// build (tensor/cpu/conv_vector.h): 6 taps × 16 channels with AVX2, 12 × 32 with AVX-512 (on
// an AVX-512 Xeon, 2 threads, batch 128, GFLOP/s from the AVX2 tile: 24→32 at 31×31 158 →
// 187, 32→32 at 15×15 154 → 168, 32→128 at 15×15 177 → 247, 128→128 at 7×7 170 → 214).
// With AVX-512 that tile reads its im2col rows where they lie in the padded batch instead of
// copying them out first (kDirectWeightGradient).
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define FOCUS_CONV_PACKED 1
#endif

#include "tensor/cpu/conv_internal.h"
#ifdef FOCUS_CONV_PACKED
#include "tensor/cpu/conv_vector.h"
#endif
#include "tensor/cpu/lanes.h"
#include "tensor/cpu/loops.h"

namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail {

bool packed_available() {
#ifdef FOCUS_CONV_PACKED
  return cpu::avx2_fma_usable();
#else
  return false;
#endif
}

#ifdef FOCUS_CONV_PACKED

namespace {

constexpr int64_t kTileRows = 6;      // output channels per register tile
constexpr int64_t kTileCols = 16;     // output pixels per register tile: two 8-float vectors
// Only layers with fewer than 64 taps per output come here (the others take the direct path,
// direct_preferred), so one panel holds a block's whole depth: 64·16 floats = 4 KiB.
constexpr int64_t kMaxDepth = 64;

// The batch is first copied with its zero border (pad_batch, conv_padded.cpp), so that building
// panels needs no bounds tests: the kernel tap (ki, kj) of output pixel (oh, ow) reads
// padded[n, c, oh·sh + ki·dh, ow·sw + kj·dw]. (Masked vector loads at the borders were tried
// first and cost a fifth of the forward time.) The last vector of a block may run up to 7
// elements past the last pixel it needs: kPadSlack zeros follow the batch.
constexpr int64_t kPadSlack = 2 * kTileCols;

// The (up to 16) pixels of a block, as offsets of their kernel tap (0, 0) in a padded
// channel plane. A half (8 lanes) lying along one output row with horizontal stride 1
// reads each tap's inputs as one vector; other halves gather lane by lane.
struct PixelBlock {
  int64_t count;  // valid pixels
  int64_t offset[kTileCols];
  bool run[2];
};

// Every block of the output plane (the same for all images and groups), in order.
std::vector<PixelBlock> describe_blocks(const ConvGeometry& g) {
  const int64_t padded_cols = g.W + g.p.pad_left + g.p.pad_right;
  std::vector<PixelBlock> blocks(static_cast<size_t>(ceil_div(g.out_plane, kTileCols)));
  for (size_t i = 0; i < blocks.size(); ++i) {
    PixelBlock& b = blocks[i];
    const int64_t first = static_cast<int64_t>(i) * kTileCols;
    b.count = std::min(kTileCols, g.out_plane - first);
    int64_t oh[kTileCols];
    int64_t row = first / g.OW, col = first % g.OW;
    for (int64_t j = 0; j < b.count; ++j) {
      oh[j] = row;
      b.offset[j] = row * g.p.stride_h * padded_cols + col * g.p.stride_w;
      if (++col == g.OW) col = 0, ++row;
    }
    for (int h = 0; h < 2; ++h) {
      const int64_t lo = 8 * h, hi = std::min<int64_t>(b.count, lo + 8);
      b.run[h] = g.p.stride_w == 1 && hi > lo && oh[hi - 1] == oh[lo];
    }
  }
  return blocks;
}

// panel[k·16 + j] = im2col row k (k = (c·KH + ki)·KW + kj, within the group) at pixel j of the
// block, for k < K and j < 16, from `image` (image n's channel first_channel in the padded batch).
// Lanes past the block's last pixel hold whatever lies there: the callers never use them.
// `panel` keeps every row 32-byte aligned.
__attribute__((target("avx2,fma"))) void build_panel(const ConvGeometry& g, const PixelBlock& b,
                                                      const PaddedBatch& pad, const float* image, float* panel) {
  for (int64_t k = 0, c = 0, ki = 0, kj = 0; k < g.K; ++k) {
    const float* tap = image + c * pad.plane + ki * g.p.dilation_h * pad.cols + kj * g.p.dilation_w;
    float* row = panel + k * kTileCols;
    for (int h = 0; h < 2; ++h) {
      const int64_t lo = 8 * h;
      if (b.run[h]) {
        _mm256_store_ps(row + lo, _mm256_loadu_ps(tap + b.offset[lo]));
      } else {
        for (int64_t j = lo; j < lo + 8; ++j) row[j] = j < b.count ? tap[b.offset[j]] : 0.0f;
      }
    }
    if (++kj == g.KW) {
      kj = 0;
      if (++ki == g.KH) ki = 0, ++c;
    }
  }
}

// C [R, cols ≤ 16] (row stride ldc) = bias + A [R, depth] @ panel [depth, 16], where A's element
// (i, k) is a[k·kTileRows + i] (the packed weights) and the panel's row k is 16 floats at
// panel + 16·k (32-byte aligned); bias[i] when given, else 0. R ≤ 6 rows: 2R accumulators, 2R
// FMAs per 2 loads and R broadcasts.
template <int R>
__attribute__((target("avx2,fma"))) void tile_kernel(int64_t depth, const float* a, const float* panel, float* c,
                                                      int64_t ldc, int64_t cols, const float* bias) {
  const bool full = cols == kTileCols;
  __m256 acc[R][2];
  for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = _mm256_set1_ps(bias ? bias[i] : 0.0f);
  for (int64_t k = 0; k < depth; ++k) {
    const __m256 b0 = _mm256_load_ps(panel + k * kTileCols), b1 = _mm256_load_ps(panel + k * kTileCols + 8);
    for (int i = 0; i < R; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + k * kTileRows + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  if (full) {
    for (int i = 0; i < R; ++i) {
      _mm256_storeu_ps(c + i * ldc, acc[i][0]);
      _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
    }
    return;
  }
  alignas(32) float tile[R][kTileCols];  // a partial tile goes through here
  for (int i = 0; i < R; ++i) {
    _mm256_store_ps(tile[i], acc[i][0]);
    _mm256_store_ps(tile[i] + 8, acc[i][1]);
  }
  for (int i = 0; i < R; ++i) std::copy(tile[i], tile[i] + cols, c + i * ldc);
}

// `total` rows cut into the fewest blocks of at most 6 (or max_rows), as even as possible (32 rows:
// 6, 6, 5, 5, 5, 5 rather than 6, 6, 6, 6, 6, 2): a block of few rows has few
// accumulators and runs well below the FMA units' pace.
struct RowBlocks {
  int64_t total, count;
  explicit RowBlocks(int64_t rows, int64_t max_rows = kTileRows) : total(rows), count(ceil_div(rows, max_rows)) {}
  int64_t start(int64_t b) const { return b * total / count; }
  int64_t size(int64_t b) const { return start(b + 1) - start(b); }
};

// tile_kernel for `rows` (1..6) rows: a block's leftover rows cost only their own FMAs.
void tile(int64_t rows, int64_t depth, const float* a, const float* panel, float* c, int64_t ldc, int64_t cols,
          const float* bias) {
  switch (rows) {
    case 6: return tile_kernel<6>(depth, a, panel, c, ldc, cols, bias);
    case 5: return tile_kernel<5>(depth, a, panel, c, ldc, cols, bias);
    case 4: return tile_kernel<4>(depth, a, panel, c, ldc, cols, bias);
    case 3: return tile_kernel<3>(depth, a, panel, c, ldc, cols, bias);
    case 2: return tile_kernel<2>(depth, a, panel, c, ldc, cols, bias);
    default: return tile_kernel<1>(depth, a, panel, c, ldc, cols, bias);
  }
}

// 16 channels of a panel of dyᵀ: dst[p·dst_ld + j] = src[j·ld + p] for p < count, j < rows, and
// 0 for rows <= j < 16 (rows may be 0: nothing is read). 8×8 blocks are transposed in registers
// (scalar copies cost as much as the GEMM itself when C_in·kH·kW is small, as in a first layer).
__attribute__((target("avx2"))) void pack_transposed_panel(const float* src, int64_t ld, int64_t rows, int64_t count,
                                                          float* dst, int64_t dst_ld = kTileCols) {
  int64_t p = 0;
  for (; p + 8 <= count; p += 8)
    for (int64_t half = 0; half < 2; ++half)
      transpose_block(src + 8 * half * ld + p, ld, dst + p * dst_ld + 8 * half, dst_ld,
                      std::max<int64_t>(rows - 8 * half, 0));
  for (; p < count; ++p)
    for (int64_t j = 0; j < kTileCols; ++j) dst[p * dst_ld + j] = j < rows ? src[j * ld + p] : 0.0f;
}

// The weight gradient's register tile: Rows rows of dWᵀ (taps) × kGradChannels output channels,
//   c[i·ldc + j] += Σ_{p < depth} a[i·ld + p] · panel[p·kGradChannels + j],
// a = Rows rows of the column matrix (read in place), panel = dyᵀ [depth, kGradChannels]. AVX2:
// 6 × 16 (12 accumulators, 2 loads and 6 broadcasts per 12 FMAs); AVX-512: 12 × 32 (24
// accumulators, 2 loads and 12 broadcasts per 24 FMAs).
constexpr int kGradVectors = 2;
constexpr int64_t kGradChannels = kGradVectors * kVectorLanes;
constexpr int kGradRows = kVectorRegisters == 32 ? 12 : 6;
// Whether the tile reads the column matrix in place in the padded batch (weight_gradient_direct_tile)
// rather than from rows copied out first (build_column_rows, weight_gradient_tile). Measured on an
// AVX-512 Xeon, 2 threads, batch 128, dW + db GFLOP/s (medians of 3 alternating runs), copied rows →
// in place: 32→64 at 16×16 215 → 275, 32→32 at 15×15 207 → 264, 32→128 at 15×15 247 → 255,
// 128→128 at 7×7 249 → 274, 24→32 at 31×31 158 → 214. Copying rows of 15 or 16 pixels, a masked
// move each, cost about as much as the FMAs they fed when only 32 output channels use them. With
// AVX2's 6 × 16 tile the copied rows stay ahead (one thread, 32→64 at 16×16: 77 → 65), as on Zen 3.
constexpr bool kDirectWeightGradient = kVectorRegisters == 32;

// db[j] += Σ_{p < count} panel[p·kGradChannels + j] for the panel's first `channels` channels,
// summed in double lanes (a running float sum over a batch's pixels loses digits).
FOCUS_CONV_TARGET void add_panel_sums(const float* panel, int64_t count, int64_t channels, double* db) {
  double sums[kGradChannels] = {};
  for (int64_t p = 0; p < count; ++p)
    for (int64_t j = 0; j < kGradChannels; ++j) sums[j] += panel[p * kGradChannels + j];
  for (int64_t j = 0; j < channels; ++j) db[j] += sums[j];
}

template <int Rows>
FOCUS_CONV_TARGET void weight_gradient_tile(int64_t depth, const float* a, int64_t ld, const float* panel, float* c,
                                            int64_t ldc) {
  Vector acc[Rows][kGradVectors];
  for (int i = 0; i < Rows; ++i)
    for (int v = 0; v < kGradVectors; ++v) acc[i][v] = loadu_vector(c + i * ldc + v * kVectorLanes);
  for (int64_t p = 0; p < depth; ++p) {
    Vector dy[kGradVectors];
    for (int v = 0; v < kGradVectors; ++v) dy[v] = load_vector(panel + p * kGradChannels + v * kVectorLanes);
    for (int i = 0; i < Rows; ++i) {
      const Vector column = broadcast(a + i * ld + p);
      for (int v = 0; v < kGradVectors; ++v) acc[i][v] = fmadd(column, dy[v], acc[i][v]);
    }
  }
  for (int i = 0; i < Rows; ++i)
    for (int v = 0; v < kGradVectors; ++v) storeu_vector(c + i * ldc + v * kVectorLanes, acc[i][v]);
}

// weight_gradient_tile for `rows` (1..kGradRows) rows: a block's leftover rows cost only their own FMAs.
template <int Rows = kGradRows>
void weight_gradient_rows(int64_t rows, int64_t depth, const float* a, int64_t ld, const float* panel, float* c,
                          int64_t ldc) {
  if constexpr (Rows > 1)
    if (rows < Rows) return weight_gradient_rows<Rows - 1>(rows, depth, a, ld, panel, c, ldc);
  weight_gradient_tile<Rows>(depth, a, ld, panel, c, ldc);
}

// weight_gradient_tile reading the column matrix where it lies, in the zero-bordered batch: row
// i's element at pixel p is tap[i][pixel[p]] (tap[i]: the tap's input for pixel offset 0), so no
// column row is built. The forward tile (conv_direct.cpp) with the roles of taps and pixels
// swapped. Not inlined: inlined into the chunk loop, GCC kept ten of the twelve row pointers on the
// stack, one more load per broadcast, and the tile ran about a fifth slower.
template <int Rows>
__attribute__((noinline)) FOCUS_CONV_TARGET void weight_gradient_direct_tile(int64_t depth, const float* const* tap,
                                                                             const int64_t* pixel, const float* panel,
                                                                             float* c, int64_t ldc) {
  Vector acc[Rows][kGradVectors];
  for (int i = 0; i < Rows; ++i)
    for (int v = 0; v < kGradVectors; ++v) acc[i][v] = loadu_vector(c + i * ldc + v * kVectorLanes);
  const float* row[Rows];
  for (int i = 0; i < Rows; ++i) row[i] = tap[i];
  for (int64_t p = 0; p < depth; ++p) {
    const int64_t offset = pixel[p];
    Vector dy[kGradVectors];
    for (int v = 0; v < kGradVectors; ++v) dy[v] = load_vector(panel + p * kGradChannels + v * kVectorLanes);
    for (int i = 0; i < Rows; ++i) {
      const Vector column = broadcast(row[i] + offset);
      for (int v = 0; v < kGradVectors; ++v) acc[i][v] = fmadd(column, dy[v], acc[i][v]);
    }
  }
  for (int i = 0; i < Rows; ++i)
    for (int v = 0; v < kGradVectors; ++v) storeu_vector(c + i * ldc + v * kVectorLanes, acc[i][v]);
}

template <int Rows = kGradRows>
void weight_gradient_direct_rows(int64_t rows, int64_t depth, const float* const* tap, const int64_t* pixel,
                                 const float* panel, float* c, int64_t ldc) {
  if constexpr (Rows > 1)
    if (rows < Rows) return weight_gradient_direct_rows<Rows - 1>(rows, depth, tap, pixel, panel, c, ldc);
  weight_gradient_direct_tile<Rows>(depth, tap, pixel, panel, c, ldc);
}

}  // namespace

// y = conv(x, w) + bias for float32, as described above.
void packed_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  if (winograd_preferred(g)) return winograd_forward(g, x, w, bias, y);
  if (direct_preferred(g)) return direct_forward(g, x, w, bias, y);
  if (g.K > kMaxDepth) throw std::logic_error("conv2d: the packed path expects fewer taps than the direct path takes");
  // Weights packed per group and block of (up to) 6 output channels, depth-major:
  // a[((grp·R + rb)·K + k)·6 + i] = w[grp·OCg + start(rb) + i, k].
  const RowBlocks channel_rows(g.OCg);
  const int64_t row_blocks = channel_rows.count;
  std::vector<float> packed(static_cast<size_t>(g.groups * row_blocks * g.K * kTileRows), 0.0f);
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t rb = 0; rb < row_blocks; ++rb)
      for (int64_t i = 0; i < channel_rows.size(rb); ++i) {
        float* dst = packed.data() + ((grp * row_blocks + rb) * g.K) * kTileRows + i;
        const float* src = w + (grp * g.OCg + channel_rows.start(rb) + i) * g.K;
        for (int64_t k = 0; k < g.K; ++k) dst[k * kTileRows] = src[k];
      }

  const std::vector<PixelBlock> blocks = describe_blocks(g);
  const int64_t blocks_per_image = static_cast<int64_t>(blocks.size()), items = g.N * blocks_per_image;
  const int64_t macs_per_item = g.OC * g.K * kTileCols;
  const PaddedBatch pad = pad_batch(g, x, kPadSlack);
  auto run = [&](int64_t begin, int64_t end) {
    alignas(64) float panel[kMaxDepth * kTileCols];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / blocks_per_image, first = (item % blocks_per_image) * kTileCols;
      const PixelBlock& block = blocks[item % blocks_per_image];
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        build_panel(g, block, pad, pad.data + (n * g.C + grp * g.Cg) * pad.plane, panel);
        for (int64_t rb = 0; rb < row_blocks; ++rb) {
          const int64_t oc0 = grp * g.OCg + channel_rows.start(rb);
          tile(channel_rows.size(rb), g.K, packed.data() + (grp * row_blocks + rb) * g.K * kTileRows, panel,
               y + (n * g.OC + oc0) * g.out_plane + first, g.out_plane, block.count, bias ? bias + oc0 : nullptr);
        }
      }
    }
  };
  if (items * macs_per_item < kParallelMacs || omp_in_parallel())
    run(0, items);
  else
    parallel_for(0, items, std::max<int64_t>(1, (int64_t{1} << 18) / macs_per_item), run);
}

namespace {

// A run of consecutive output pixels of one image: pixels [first, first + count) of image n,
// at columns [column, column + count) of a chunk's column matrix.
struct ImageRun {
  int64_t n, first, count, column;
};

// The pixels [q0, q0 + count) of the batch (q = n·OH·OW + pixel), cut at image boundaries.
std::vector<ImageRun> runs_of(const ConvGeometry& g, int64_t q0, int64_t count) {
  std::vector<ImageRun> runs;
  for (int64_t column = 0; column < count;) {
    const int64_t q = q0 + column, pixel = q % g.out_plane;
    const int64_t length = std::min(count - column, g.out_plane - pixel);
    runs.push_back({q / g.out_plane, pixel, length, column});
    column += length;
  }
  return runs;
}

// One output row's part of a chunk: `length` pixels, read from `source` (the channel-0 corner of
// their first pixel in the padded batch) into the chunk's columns from `column` on.
struct Segment {
  int64_t source, column, length;
};

std::vector<Segment> segments_of(const ConvGeometry& g, const PaddedBatch& pad, const std::vector<ImageRun>& runs) {
  std::vector<Segment> segments;
  for (const ImageRun& run : runs)
    for (int64_t j = 0; j < run.count;) {
      const int64_t pixel = run.first + j, oh = pixel / g.OW, ow = pixel % g.OW;
      const int64_t length = std::min(run.count - j, g.OW - ow);
      segments.push_back(
          {run.n * g.C * pad.plane + oh * g.p.stride_h * pad.cols + ow * g.p.stride_w, run.column + j, length});
      j += length;
    }
  return segments;
}

// col[(k − k0)·ld + s.column + j] = im2col row k (k = (c·KH + ki)·KW + kj, over all C channels:
// group grp's rows start at grp·K) at the segment's pixel j, for k in [k0, k1); row k reads from
// padded + tap_offset[k] (tap_offsets). With horizontal stride 1 an output row's taps are
// consecutive inputs, copied a vector at a time, the last one by a masked load and a whole store (a
// loop of whole vectors that read past the row became a call to memcpy per segment, 4 % of a
// training step).
FOCUS_CONV_TARGET void build_column_rows(const ConvGeometry& g, const float* padded, const int64_t* tap_offset,
                                         const std::vector<Segment>& segments, int64_t k0, int64_t k1, float* col,
                                         int64_t ld) {
  for (int64_t k = k0; k < k1; ++k) {
    const float* tap = padded + tap_offset[k];
    float* row = col + (k - k0) * ld;
    for (const Segment& s : segments) {
      const float* src = tap + s.source;
      float* dst = row + s.column;
      if (g.p.stride_w == 1)  // its spill lands on the next segment's columns or the spare ones
        copy_floats_spilling(src, s.length, dst);
      else
        for (int64_t e = 0; e < s.length; ++e) dst[e] = src[e * g.p.stride_w];
    }
  }
}

// Images per group for packed_weight_gradient when each thread pads the images it reads itself,
// or 0 when the batch is padded whole (no border: the input is read in place; or a
// batch too small to share out, such as one image). The most images that one chunk of up to
// max_chunk pixels holds (5 of 7×7), at most 1 MiB padded, whose groups share among the threads
// within 1/8 of an even share (parallel_for gives the first thread the most).
int64_t images_per_chunk_group(const ConvGeometry& g, const PaddedBatch& shape, int64_t max_chunk, int threads) {
  if (shape.plane == g.plane) return 0;
  const int64_t image_bytes = g.C * shape.plane * static_cast<int64_t>(sizeof(float));
  const int64_t most =
      std::max<int64_t>(1, std::min({max_chunk / g.out_plane, g.N, (int64_t{1} << 20) / image_bytes}));
  for (int64_t images = most; images >= 1; --images) {
    const int64_t busiest = std::min(g.N, ceil_div(ceil_div(g.N, images), threads) * images);
    if (busiest * threads * 8 <= g.N * 9) return images;
  }
  return 0;
}

}  // namespace

// dW and db on the packed path. Per group, over a chunk of the batch's output pixels:
//   dWᵀ_g [K, OCg] += col [K, pixels] @ dyᵀ [pixels, OCg],   db[o] += Σ_p dy[o, p]
// A chunk is up to 256 consecutive pixels of the batch, across images: a 7×7 plane alone
// would give the tiles a depth of 49, and each tile loads and stores its sums of dWᵀ (which
// for 128→128 channels does not fit in L2) once per depth. dyᵀ is packed into panels of
// kGradChannels output channels [pixels, kGradChannels]. Then, kGradRows taps at a time, those
// rows of col are multiplied by each dy panel, over the chunk's pixels: read in place from the
// zero-bordered batch (AVX-512, kDirectWeightGradient), or built from it first (build_column_rows:
// they stay in L1; the whole col of 128→128 at 3×3, 1.2 MB a chunk, did not stay in L2). Each
// thread sums into its own dWᵀ; the copies are added (and transposed) at the end.
void packed_weight_gradient(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* db) {
  constexpr int64_t kMaxChunk = 256;  // pixels: kGradRows rows of col (12 KiB with AVX-512) stay in L1
  const int64_t pixels = g.N * g.out_plane;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const PaddedBatch shape = padded_shape(g);
  // With a training batch each thread pads a group of images at a time (as direct_forward does)
  // and takes the group's chunks while the images are in its L2.
  const int64_t images = dw ? images_per_chunk_group(g, shape, kMaxChunk, threads) : 0;
  const int64_t image_groups = images > 0 ? ceil_div(g.N, images) : 0;
  // Otherwise as many chunks as needed over the whole batch, rounded up to a multiple of the
  // threads so they share evenly. A group's pixels are cut into chunks of the same size.
  const int64_t items = images > 0 ? ceil_div(images * g.out_plane, kMaxChunk)
                                   : ceil_div(ceil_div(pixels, kMaxChunk), threads) * threads;
  const int64_t chunk =
      std::min(kMaxChunk, ceil_div(ceil_div(images > 0 ? images * g.out_plane : pixels, items), 8) * 8);
  const int64_t chunks = images > 0 ? image_groups : ceil_div(pixels, chunk);  // the work items shared out
  const int64_t ld = chunk + 16;  // spare columns for copy_floats_spilling; rows stay 64-byte aligned
  const int64_t channel_panels = ceil_div(g.OCg, kGradChannels), padded_oc = channel_panels * kGradChannels;
  const int64_t partial_size = g.groups * g.K * padded_oc;
  const RowBlocks k_blocks(g.K, kGradRows);
  const bool parallel = threads > 1 && chunks >= 2 && pixels * g.OC * g.K >= kParallelMacs;
  const int slots = parallel ? threads : 1;
  std::vector<std::vector<float>> dw_partial(slots);
  std::vector<std::vector<double>> db_partial(slots);
  const PaddedBatch pad = dw && images == 0 ? pad_batch(g, x) : padded_shape(g);
  // Where im2col row k = tap k over all C channels reads (group grp's rows start at grp·K): the
  // direct tile's rows, or build_column_rows'.
  const std::vector<int64_t> tap_offset = dw ? tap_offsets(g, pad, g.C) : std::vector<int64_t>();

  auto run = [&](int64_t begin, int64_t end) {
    const int slot = parallel ? omp_get_thread_num() : 0;
    std::vector<float>& dwt = dw_partial[slot];
    std::vector<double>& dbt = db_partial[slot];
    if (dw) dwt.assign(static_cast<size_t>(partial_size), 0.0f);
    if (db) dbt.assign(static_cast<size_t>(g.OC), 0.0);
    Scratch<float> col = dw && !kDirectWeightGradient ? scratch<float>(kGradRows * ld) : nullptr;
    std::vector<int64_t> pixel_offset(kDirectWeightGradient ? static_cast<size_t>(chunk) : 0);
    Scratch<float> dy_panels = dw ? scratch<float>(channel_panels * chunk * kGradChannels) : nullptr;
    Scratch<float> group_padded = images > 0 ? scratch<float>(images * g.C * pad.plane) : nullptr;

    // The sums over the batch's pixels [q0, q0 + count), whose zero-bordered images are at
    // `padded` from batch image first_image on.
    auto add_chunk = [&](int64_t q0, int64_t count, const float* padded, int64_t first_image) {
      const std::vector<ImageRun> runs = runs_of(g, q0, count);
      // db alone (with dW it is summed from dy's panels below): lanes of double, since a single
      // running float sum is both slow (latency-bound) and lossy.
      if (db && !dw)
        for (const ImageRun& r : runs)
          for (int64_t o = 0; o < g.OC; ++o)
            dbt[o] += cpu::lane_sum<double>(dy + (r.n * g.OC + o) * g.out_plane + r.first, r.count,
                                            [](float v) { return static_cast<double>(v); });
      if (!dw) return;
      std::vector<Segment> segments = segments_of(g, pad, runs);
      for (Segment& segment : segments) segment.source -= first_image * g.C * pad.plane;  // from `padded`
      if (kDirectWeightGradient)  // pixel_offset[p]: the chunk's pixel p's channel-0 corner in `padded`
        for (const Segment& segment : segments)
          for (int64_t j = 0; j < segment.length; ++j)
            pixel_offset[segment.column + j] = segment.source + j * g.p.stride_w;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        // dy_panels[cp][p][j] = dy[grp·OCg + cp·kGradChannels + j] at the chunk's pixel p, zero past
        // the group's channels; packed 16 channels at a time.
        for (int64_t cp = 0; cp < channel_panels; ++cp)
          for (int64_t j0 = cp * kGradChannels; j0 < (cp + 1) * kGradChannels; j0 += kTileCols)
            for (const ImageRun& r : runs)
              pack_transposed_panel(dy + (r.n * g.OC + grp * g.OCg + j0) * g.out_plane + r.first, g.out_plane,
                                    std::clamp<int64_t>(g.OCg - j0, 0, kTileCols), r.count,
                                    dy_panels.get() + (cp * chunk + r.column) * kGradChannels + j0 % kGradChannels,
                                    kGradChannels);
        // db from the panels just packed, while they are in L1: dy is read from memory once.
        if (db)
          for (int64_t cp = 0; cp < channel_panels; ++cp)
            add_panel_sums(dy_panels.get() + cp * chunk * kGradChannels, count,
                           std::min(kGradChannels, g.OCg - cp * kGradChannels),
                           dbt.data() + grp * g.OCg + cp * kGradChannels);
        if (kDirectWeightGradient) {
          for (int64_t kb = 0; kb < k_blocks.count; ++kb) {
            const int64_t k0 = k_blocks.start(kb), rows = k_blocks.size(kb);
            const float* tap[kGradRows];
            for (int64_t i = 0; i < rows; ++i) tap[i] = padded + tap_offset[grp * g.K + k0 + i];
            for (int64_t cp = 0; cp < channel_panels; ++cp)
              weight_gradient_direct_rows(rows, count, tap, pixel_offset.data(),
                                          dy_panels.get() + cp * chunk * kGradChannels,
                                          dwt.data() + (grp * g.K + k0) * padded_oc + cp * kGradChannels, padded_oc);
          }
          continue;
        }
        for (int64_t kb = 0; kb < k_blocks.count; ++kb) {
          const int64_t k0 = k_blocks.start(kb), rows = k_blocks.size(kb);
          build_column_rows(g, padded, tap_offset.data(), segments, grp * g.K + k0, grp * g.K + k0 + rows, col.get(),
                            ld);
          for (int64_t cp = 0; cp < channel_panels; ++cp)
            weight_gradient_rows(rows, count, col.get(), ld, dy_panels.get() + cp * chunk * kGradChannels,
                                 dwt.data() + (grp * g.K + k0) * padded_oc + cp * kGradChannels, padded_oc);
        }
      }
    };

    for (int64_t item = begin; item < end; ++item) {
      if (images == 0) {
        const int64_t q0 = item * chunk;
        add_chunk(q0, std::min(chunk, pixels - q0), pad.data, 0);
        continue;
      }
      const int64_t n0 = item * images, n1 = std::min(g.N, n0 + images);
      pad_images(g, x, n0, n1, group_padded.get());
      for (int64_t q0 = n0 * g.out_plane; q0 < n1 * g.out_plane; q0 += chunk)
        add_chunk(q0, std::min(chunk, n1 * g.out_plane - q0), group_padded.get(), n0);
    }
  };
  if (parallel)
    parallel_for(0, chunks, 1, run);
  else
    run(0, chunks);

  // dw[grp, o, k] += Σ_slots partial[grp, k, o]: one output channel's K sums per item, read a
  // cache line (16 channels) apart but used for 16 channels in a row.
  if (dw)
    parallel_for(0, g.groups * g.OCg, std::max<int64_t>(1, 16384 / g.K), [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t grp = item / g.OCg, o = item % g.OCg;
        float* dst = dw + (grp * g.OCg + o) * g.K;
        for (int s = 0; s < slots; ++s) {
          if (dw_partial[s].empty()) continue;
          const float* src = dw_partial[s].data() + grp * g.K * padded_oc + o;
          for (int64_t k = 0; k < g.K; ++k) dst[k] += src[k * padded_oc];
        }
      }
    });
  if (db)
    for (int s = 0; s < slots; ++s)
      if (!db_partial[s].empty())
        for (int64_t o = 0; o < g.OC; ++o) db[o] += static_cast<float>(db_partial[s][o]);
}

#else  // no AVX2 path on this CPU architecture: packed_available() is false, so these are never called

void packed_forward(const ConvGeometry&, const float*, const float*, const float*, float*) {
  throw std::logic_error("conv2d: the packed float32 path is not built for this CPU");
}
void packed_weight_gradient(const ConvGeometry&, const float*, const float*, float*, float*) {
  throw std::logic_error("conv2d: the packed float32 path is not built for this CPU");
}

#endif  // FOCUS_CONV_PACKED

// dx of a stride-1 convolution as a convolution of dy, on the packed path:
//   dx[c, i, j] = Σ_{o, ki, kj} w[o, c, ki, kj] · dy[o, i + pt − ki·dh, j + pl − kj·dw]
// and with ki' = KH − 1 − ki that is dy correlated with w'[c, o, ki', kj'] = w[o, c, KH−1−ki', KW−1−kj'],
// padded by dh·(KH − 1) − pt above and dh·(KH − 1) − pb below (likewise for columns), per group.
// Needs stride 1 and padding within the kernel's extent; returns false (nothing done) otherwise.
bool packed_input_gradient(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const Conv2dParams& p = g.p;
  const int64_t extent_h = p.dilation_h * (g.KH - 1), extent_w = p.dilation_w * (g.KW - 1);
  if (!packed_available() || p.stride_h != 1 || p.stride_w != 1 || p.pad_top > extent_h ||
      p.pad_bottom > extent_h || p.pad_left > extent_w || p.pad_right > extent_w)
    return false;
  Conv2dParams flipped = p;
  flipped.pad_top = extent_h - p.pad_top;
  flipped.pad_bottom = extent_h - p.pad_bottom;
  flipped.pad_left = extent_w - p.pad_left;
  flipped.pad_right = extent_w - p.pad_right;
  // w' [C, OCg, KH, KW]: group grp's input channels become output channels.
  std::vector<float> w_flipped(static_cast<size_t>(g.C * g.OCg * g.KH * g.KW));
  const int64_t taps = g.KH * g.KW;
  parallel_for(0, g.C, std::max<int64_t>(1, 16384 / (g.OCg * taps)), [&](int64_t begin, int64_t end) {
    for (int64_t channel = begin; channel < end; ++channel) {  // channel = grp·Cg + c: an output channel of w'
      const int64_t grp = channel / g.Cg, c = channel % g.Cg;
      for (int64_t o = 0; o < g.OCg; ++o) {
        const float* src = w + ((grp * g.OCg + o) * g.Cg + c) * taps;
        float* dst = w_flipped.data() + (channel * g.OCg + o) * taps;
        for (int64_t t = 0; t < taps; ++t) dst[taps - 1 - t] = src[t];  // (ki, kj) → (KH−1−ki, KW−1−kj)
      }
    }
  });
  const ConvGeometry t = make_geometry({g.N, g.OC, g.OH, g.OW}, {g.C, g.OCg, g.KH, g.KW}, flipped, sizeof(float));
  packed_forward(t, dy, w_flipped.data(), nullptr, dx);
  return true;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail

