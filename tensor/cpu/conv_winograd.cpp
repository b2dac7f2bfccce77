// Winograd's minimal filtering for float32 3×3 convolutions of stride 1 with many channels (AVX-512
// builds), forward and, through conv_packed.cpp's packed_input_gradient, dx.
//
// A 3×3 correlation computes each output as 9 multiply-adds per input channel. Winograd's F(4×4, 3×3)
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015) computes a 4×4 tile of
// outputs from the 6×6 input patch under it with 36 multiplications per channel instead of 16·9 =
// 144, by moving patch and filter into a basis where the correlation is an elementwise product:
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        d: 6×6 patch, g: 3×3 filter, Y: 4×4 outputs
//
// Summed over input channels, the elementwise products of each of the 36 positions ξ of the 6×6
// basis become one matrix product per ξ, over every tile t of the batch at once:
//
//   M[ξ] [tiles, OC] = V[ξ] [tiles, C] · U[ξ] [C, OC],   V[ξ][t][c] = (Bᵀ d_{t,c} B)[ξ],
//                                                        U[ξ][c][o] = (G g_{o,c} Gᵀ)[ξ]
//
// so 4× fewer multiply-adds run as 36 ordinary products (panel_gemm.h's kernel), and the transforms
// (additions and multiplications by small constants, Bᵀ, G and Aᵀ below) cost a few operations per
// input and output value. The price is rounding: products move through the basis and back, where
// large terms cancel, so float32's error grows to about 13 times the direct sum's (at 192 channels of
// unit normal values the worst output is off by 6.4e-4·(1 + |y|), against 5e-5): the order of TF32,
// which PyTorch uses for float32 convolutions on NVIDIA GPUs by default. Training does not notice.
// FOCUS_CONV_WINOGRAD=0 turns it off.
//
// Work is shared out by blocks of images: a thread transforms a block's patches into V, runs the 36
// products into M, and transforms M back into the block's outputs, while V and M are in its cache.
// Each step runs along the vector as channels (16 to a vector, as in conv_direct.cpp): the block's
// images are first turned into [row][column][16 channels] with their zero border, one group of 16
// channels at a time.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "tensor/cpu/conv_internal.h"
#include "tensor/cpu/loops.h"
#include "tensor/cpu/panel_gemm.h"

namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail {

#ifdef FOCUS_PANEL_GEMM

namespace {

constexpr int kTile = 4;                 // outputs per tile side
constexpr int kPatch = kTile + 2;        // input patch side: a 3×3 filter over 4 outputs
constexpr int kBasis = kPatch * kPatch;  // 36 positions ξ
constexpr int kLanes = 16;               // channels per vector

using V16 = __m512;
inline V16 splat(float v) { return _mm512_set1_ps(v); }

// The three transforms, each applied to the 6 (or 3) values of one column, then of one row. Each
// vector holds the same position for 16 channels. The matrices are Lavin and Gray's (interpolation
// at 0, 1, −1, 2, −2 and ∞). Points ±1/2 instead measured no better on 192-channel sums here.
//
// Bᵀ (6×6): the patch into the basis.
//   [ 4  0 -5  0  1  0 ]
//   [ 0 -4 -4  1  1  0 ]
//   [ 0  4 -4 -1  1  0 ]
//   [ 0 -2 -1  2  1  0 ]
//   [ 0  2 -1 -2  1  0 ]
//   [ 0  4  0 -5  0  1 ]
inline void input_transform(const V16 d[kPatch], V16 out[kPatch]) {
  const V16 four = splat(4.0f), minus_four = splat(-4.0f), two = splat(2.0f), minus_five = splat(-5.0f);
  out[0] = _mm512_fmadd_ps(four, d[0], _mm512_fmadd_ps(minus_five, d[2], d[4]));
  out[1] = _mm512_fmadd_ps(minus_four, _mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4]));
  out[2] = _mm512_fmadd_ps(four, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
  out[3] = _mm512_fmadd_ps(two, _mm512_sub_ps(d[3], d[1]), _mm512_sub_ps(d[4], d[2]));
  out[4] = _mm512_fnmadd_ps(two, _mm512_sub_ps(d[3], d[1]), _mm512_sub_ps(d[4], d[2]));
  out[5] = _mm512_fmadd_ps(four, d[1], _mm512_fmadd_ps(minus_five, d[3], d[5]));
}

// G (6×3): the filter into the basis.
//   [  1/4     0     0 ]
//   [ -1/6  -1/6  -1/6 ]
//   [ -1/6   1/6  -1/6 ]
//   [ 1/24  1/12   1/6 ]
//   [ 1/24 -1/12   1/6 ]
//   [    0     0     1 ]
inline void filter_transform(const V16 g[3], V16 out[kPatch]) {
  const V16 outer = _mm512_add_ps(g[0], g[2]);  // g0 + g2
  out[0] = _mm512_mul_ps(splat(0.25f), g[0]);
  out[1] = _mm512_mul_ps(splat(-1.0f / 6.0f), _mm512_add_ps(outer, g[1]));
  out[2] = _mm512_mul_ps(splat(-1.0f / 6.0f), _mm512_sub_ps(outer, g[1]));
  const V16 even = _mm512_fmadd_ps(splat(1.0f / 24.0f), g[0], _mm512_mul_ps(splat(1.0f / 6.0f), g[2]));
  const V16 odd = _mm512_mul_ps(splat(1.0f / 12.0f), g[1]);
  out[3] = _mm512_add_ps(even, odd);
  out[4] = _mm512_sub_ps(even, odd);
  out[5] = g[2];
}

// Aᵀ (4×6): the products back into a tile of outputs.
//   [ 1  1  1  1  1  0 ]
//   [ 0  1 -1  2 -2  0 ]
//   [ 0  1  1  4  4  0 ]
//   [ 0  1 -1  8 -8  1 ]
inline void output_transform(const V16 m[kPatch], V16 out[kTile]) {
  const V16 sum12 = _mm512_add_ps(m[1], m[2]), diff12 = _mm512_sub_ps(m[1], m[2]);
  const V16 sum34 = _mm512_add_ps(m[3], m[4]), diff34 = _mm512_sub_ps(m[3], m[4]);
  out[0] = _mm512_add_ps(_mm512_add_ps(m[0], sum12), sum34);
  out[1] = _mm512_fmadd_ps(splat(2.0f), diff34, diff12);
  out[2] = _mm512_fmadd_ps(splat(4.0f), sum34, sum12);
  out[3] = _mm512_add_ps(_mm512_fmadd_ps(splat(8.0f), diff34, diff12), m[5]);
}

// The first `count` (0..8) of 8 lanes, as a mask for _mm256_maskload_ps and _mm256_maskstore_ps.
inline __m256i first_lanes(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The sizes of one convolution in tiles.
struct TileGrid {
  int64_t rows, cols;              // tiles down and across an output plane
  int64_t per_image;               // rows · cols
  int64_t patch_rows, patch_cols;  // the zero-bordered image the patches read: 4·rows + 2, 4·cols + 2
};

TileGrid tile_grid(const ConvGeometry& g) {
  TileGrid grid;
  grid.rows = ceil_div(g.OH, kTile);
  grid.cols = ceil_div(g.OW, kTile);
  grid.per_image = grid.rows * grid.cols;
  grid.patch_rows = kTile * grid.rows + 2;
  grid.patch_cols = kTile * grid.cols + 2;
  return grid;
}

// U[ξ] as panels for the products: U[ξ][c][o] = (G g_{o,c} Gᵀ)[ξ] for w [OC, C, 3, 3], written
// straight into panel_gemm's layout (row c of panel o / 64 holds columns o .. o + 63). 16 output
// channels at a time along the vector, from the weights reordered as [c][tap][o].
std::vector<panel_gemm::Panels> transform_filters(const ConvGeometry& g, const float* w) {
  const int64_t C = g.C, OC = g.OC, width = panel_gemm::kPanelWidth;
  Scratch<float> taps_major = scratch<float>(C * 9 * OC);  // [c][tap][o]
  parallel_for(0, C, std::max<int64_t>(1, 4096 / (9 * OC)), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c)
      for (int64_t o = 0; o < OC; ++o)
        for (int64_t k = 0; k < 9; ++k) taps_major[(c * 9 + k) * OC + o] = w[(o * C + c) * 9 + k];
  });
  std::vector<panel_gemm::Panels> panels;
  panels.reserve(kBasis);
  for (int xi = 0; xi < kBasis; ++xi) panels.push_back(panel_gemm::empty_panels(C, OC));
  const int64_t last_panel = (panels[0].count - 1) * C * width, used = OC - (panels[0].count - 1) * width;
  parallel_for(0, C, std::max<int64_t>(1, 256 / OC), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      for (int64_t o = 0; o < OC; o += kLanes) {
        // Columns first: for each filter column j, G times (g[0][j], g[1][j], g[2][j]) → 6 rows.
        V16 columns[3][kPatch];
        for (int j = 0; j < 3; ++j) {
          V16 column[3];
          for (int i = 0; i < 3; ++i) column[i] = _mm512_loadu_ps(&taps_major[(c * 9 + i * 3 + j) * OC + o]);
          filter_transform(column, columns[j]);
        }
        // Then rows: row a of (G g) times Gᵀ → the 6 values (a, b).
        const int64_t at = o / width * C * width + c * width + o % width;
        for (int a = 0; a < kPatch; ++a) {
          const V16 row[3] = {columns[0][a], columns[1][a], columns[2][a]};
          V16 out[kPatch];
          filter_transform(row, out);
          for (int b = 0; b < kPatch; ++b) _mm512_storeu_ps(panels[a * kPatch + b].data.get() + at, out[b]);
        }
      }
      for (int xi = 0; xi < kBasis; ++xi)  // the last panel's columns past OC
        std::fill_n(panels[static_cast<size_t>(xi)].data.get() + last_panel + c * width + used, width - used, 0.0f);
    }
  });
  return panels;
}

// patches[r][s][l] = x[c0 + l][r − pad_top][s − pad_left] of one image (0 outside it): its 16
// channels from c0 along the vector, [patch_rows][patch_cols][16]. 8×8 blocks transposed in
// registers, the rows' ends by masked loads (nothing past the image is read).
void gather_channels(const ConvGeometry& g, const TileGrid& grid, const float* image, int64_t c0, float* patches) {
  std::memset(patches, 0, sizeof(float) * grid.patch_rows * grid.patch_cols * kLanes);
  for (int64_t h = 0; h < g.H; ++h) {
    const int64_t r = h + g.p.pad_top;  // padding is never negative
    if (r >= grid.patch_rows) continue;
    for (int half = 0; half < 2; ++half)
      for (int64_t w0 = 0; w0 < g.W; w0 += 8) {
        const int count = static_cast<int>(std::min<int64_t>(8, g.W - w0));
        __m256 block[8];
        for (int i = 0; i < 8; ++i)
          block[i] = _mm256_maskload_ps(image + (c0 + 8 * half + i) * g.plane + h * g.W + w0, first_lanes(count));
        transpose_8x8(block);  // block[j]: pixel w0 + j's 8 channels
        for (int j = 0; j < count; ++j) {
          const int64_t s = w0 + j + g.p.pad_left;
          if (s < grid.patch_cols) _mm256_storeu_ps(patches + (r * grid.patch_cols + s) * kLanes + 8 * half, block[j]);
        }
      }
  }
}

// One block of images [n0, n1): patches → V → (36 products) → M → y.
struct BlockScratch {
  Scratch<float> patches, v, m, tile_out;
};

void convolve_block(const ConvGeometry& g, const TileGrid& grid, const std::vector<panel_gemm::Panels>& filters,
                    const float* x, const float* bias, int64_t n0, int64_t n1, BlockScratch& s, float* y) {
  const int64_t C = g.C, OC = g.OC, tiles = (n1 - n0) * grid.per_image;
  // V[ξ][t][c]: each tile's patch in the basis.
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
      gather_channels(g, grid, x + n * C * g.plane, c0, s.patches.get());
      for (int64_t th = 0; th < grid.rows; ++th)
        for (int64_t tw = 0; tw < grid.cols; ++tw) {
          const int64_t t = (n - n0) * grid.per_image + th * grid.cols + tw;
          const float* corner = s.patches.get() + (kTile * th * grid.patch_cols + kTile * tw) * kLanes;
          V16 columns[kPatch][kPatch];  // columns[j][i]: row i of Bᵀ d, column j
          for (int j = 0; j < kPatch; ++j) {
            V16 column[kPatch];
            for (int i = 0; i < kPatch; ++i) column[i] = _mm512_loadu_ps(corner + (i * grid.patch_cols + j) * kLanes);
            input_transform(column, columns[j]);
          }
          for (int a = 0; a < kPatch; ++a) {
            V16 row[kPatch], out[kPatch];
            for (int j = 0; j < kPatch; ++j) row[j] = columns[j][a];
            input_transform(row, out);
            for (int b = 0; b < kPatch; ++b)
              _mm512_storeu_ps(s.v.get() + ((a * kPatch + b) * tiles + t) * C + c0, out[b]);
          }
        }
    }
  // M[ξ] = V[ξ] · U[ξ].
  for (int xi = 0; xi < kBasis; ++xi)
    panel_gemm::multiply_rows(tiles, s.v.get() + xi * tiles * C, C, filters[static_cast<size_t>(xi)], 1.0f, 0.0f,
                              s.m.get() + xi * tiles * OC, OC);
  // Y = Aᵀ M A per tile and 16 output channels, into tile_out [plane rows][plane cols][16], then
  // transposed into y's NCHW rows.
  const int64_t out_cols = kTile * grid.cols;
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t o0 = 0; o0 < OC; o0 += kLanes) {
      const V16 start = bias ? _mm512_loadu_ps(bias + o0) : _mm512_setzero_ps();
      for (int64_t th = 0; th < grid.rows; ++th)
        for (int64_t tw = 0; tw < grid.cols; ++tw) {
          const int64_t t = (n - n0) * grid.per_image + th * grid.cols + tw;
          V16 columns[kPatch][kTile];  // columns[j][i]: row i of Aᵀ M, column j
          for (int j = 0; j < kPatch; ++j) {
            V16 column[kPatch];
            for (int i = 0; i < kPatch; ++i)
              column[i] = _mm512_loadu_ps(s.m.get() + ((i * kPatch + j) * tiles + t) * OC + o0);
            output_transform(column, columns[j]);
          }
          for (int a = 0; a < kTile; ++a) {
            V16 row[kPatch], out[kTile];
            for (int j = 0; j < kPatch; ++j) row[j] = columns[j][a];
            output_transform(row, out);
            float* dst = s.tile_out.get() + ((kTile * th + a) * out_cols + kTile * tw) * kLanes;
            for (int b = 0; b < kTile; ++b) _mm512_storeu_ps(dst + b * kLanes, _mm512_add_ps(out[b], start));
          }
        }
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int half = 0; half < 2; ++half)
          for (int64_t w0 = 0; w0 < g.OW; w0 += 8) {
            const int count = static_cast<int>(std::min<int64_t>(8, g.OW - w0));
            __m256 block[8];
            for (int j = 0; j < 8; ++j)
              block[j] = j < count ? _mm256_loadu_ps(s.tile_out.get() + (oh * out_cols + w0 + j) * kLanes + 8 * half)
                                   : _mm256_setzero_ps();
            transpose_8x8(block);  // block[i]: channel o0 + 8·half + i at pixels w0 …
            for (int i = 0; i < 8; ++i)
              _mm256_maskstore_ps(y + ((n * OC + o0 + 8 * half + i) * g.OH + oh) * g.OW + w0, first_lanes(count),
                                  block[i]);
          }
    }
}

// Images per block. Each block reads all of U (36·C·OC floats) once, for its V·U products: where U
// fits in L2 beside the block's V and M, blocks of about 1 MiB of V and M keep all three there; where
// it does not (5.3 MB at 192 → 192 channels), each block's V and M reach 8 MiB so that U, read from
// L3, serves more tiles (192 → 192 at 7×7, batch 512, 2 threads: 1 MiB blocks 34 ms, 2 MiB 31, 8 MiB
// 27; 64 → 64 at 16×16, batch 128: 1 MiB 3.5 ms, 8 MiB 5.5). Then the size whose busiest thread has
// the fewest images, with at least 4 blocks a thread.
int64_t images_per_block(const ConvGeometry& g, const TileGrid& grid, int threads) {
  const int64_t filter_bytes = kBasis * g.C * g.OC * static_cast<int64_t>(sizeof(float));
  const int64_t block_bytes = filter_bytes > (int64_t{1} << 20) ? int64_t{8} << 20 : int64_t{1} << 20;
  const int64_t image_bytes = grid.per_image * kBasis * (g.C + g.OC) * static_cast<int64_t>(sizeof(float));
  const int64_t most = std::clamp<int64_t>(
      std::min(block_bytes / image_bytes, ceil_div(g.N, 4 * static_cast<int64_t>(threads))), 1, g.N);
  int64_t best = most, best_busiest = g.N + 1;
  for (int64_t images = most; images >= std::max<int64_t>(1, most / 2); --images) {
    const int64_t busiest = ceil_div(ceil_div(g.N, images), threads) * images;
    if (busiest < best_busiest) best = images, best_busiest = busiest;
  }
  return best;
}

bool winograd_enabled() {
  const char* setting = std::getenv("FOCUS_CONV_WINOGRAD");
  return !(setting && setting[0] == '0');
}

}  // namespace

bool winograd_preferred(const ConvGeometry& g) {
  const Conv2dParams& p = g.p;
  return g.KH == 3 && g.KW == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 &&
         g.groups == 1 && g.C % kLanes == 0 && g.OC % kLanes == 0 && g.C >= 32 && g.OC >= 32 &&
         (g.OC % panel_gemm::kPanelWidth == 0 || g.C <= 2 * g.OC) && winograd_enabled();
}

void winograd_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const TileGrid grid = tile_grid(g);
  const std::vector<panel_gemm::Panels> filters = transform_filters(g, w);
  const bool serial = g.N * g.out_plane * g.OC * g.K < kParallelMacs || omp_in_parallel();
  const int64_t images = images_per_block(g, grid, serial ? 1 : omp_get_max_threads());
  const int64_t blocks = ceil_div(g.N, images);
  auto run = [&](int64_t begin, int64_t end) {
    const int64_t tiles = images * grid.per_image;
    BlockScratch s{scratch<float>(grid.patch_rows * grid.patch_cols * kLanes), scratch<float>(kBasis * tiles * g.C),
                   scratch<float>(kBasis * tiles * g.OC),
                   scratch<float>(grid.rows * grid.cols * kTile * kTile * kLanes)};
    for (int64_t block = begin; block < end; ++block)
      convolve_block(g, grid, filters, x, bias, block * images, std::min(g.N, (block + 1) * images), s, y);
  };
  if (serial)
    run(0, blocks);
  else
    parallel_for(0, blocks, 1, run);
}

#else  // without AVX-512 the direct path runs these convolutions

bool winograd_preferred(const ConvGeometry&) { return false; }
void winograd_forward(const ConvGeometry&, const float*, const float*, const float*, float*) {
  throw std::logic_error("conv2d: the Winograd float32 path is built only for AVX-512");
}

#endif  // FOCUS_PANEL_GEMM

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail
