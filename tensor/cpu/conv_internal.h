#pragma once
// Shared by the two CPU convolution paths: conv.cpp (im2col + OpenBLAS, every
// floating dtype) and conv_packed.cpp (float32 with AVX2: packed panels and a
// register-tiled micro-kernel). Internal to tensor/cpu.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail {

// Multiply-adds below which a convolution runs on one thread (about 0.1 ms of work):
// starting and joining threads would cost a good part of it, and far more on a
// loaded machine, where a parallel region waits for every thread to be scheduled.
inline constexpr int64_t kParallelMacs = int64_t{1} << 22;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Everything about one convolution's shapes, derived once.
struct ConvGeometry {
  int64_t N, C, H, W;       // input
  int64_t OC, KH, KW;       // weight [OC, C / groups, KH, KW]
  int64_t OH, OW;           // output
  int64_t groups, Cg, OCg;  // channels per group, in and out
  int64_t K;                // rows of a group's column matrix: Cg·KH·KW
  int64_t plane, out_plane; // H·W and OH·OW
  Conv2dParams p;
  bool pointwise;           // 1×1, stride 1, no padding: the image is its own column matrix
  // How the im2col + BLAS path divides the batch (see conv.cpp).
  int64_t images_per_chunk = 1;
  int64_t chunks = 1;
  bool parallel_chunks = false;

  int64_t chunk_begin(int64_t chunk) const { return std::min(N, chunk * images_per_chunk); }
  int64_t chunk_end(int64_t chunk) const { return std::min(N, (chunk + 1) * images_per_chunk); }
};

/// The geometry of a convolution of `input` by `weight` (shapes already checked), with
/// the im2col + BLAS path's chunking (element_size: bytes per element).
ConvGeometry make_geometry(const Shape& input, const Shape& weight, const Conv2dParams& p, int64_t element_size);

// Memory for a thread's scratch matrices: 64-byte aligned (whole cache lines, aligned
// vector loads) and not zero-filled (every entry is written before it is read).
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
using Scratch = std::unique_ptr<T[], FreeDeleter>;

template <typename T>
Scratch<T> scratch(int64_t count) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return Scratch<T>(static_cast<T*>(p));
}

// ---- the batch with its zero border (conv_padded.cpp) -----------------------------------
/// The whole batch with its zero border, [N, C, rows, cols]: every tap of every output pixel is
/// then an in-bounds read, and the copy costs one pass over the input (im2col would write K).
struct PaddedBatch {
  int64_t rows, cols, plane;  // padded H, W and H·W
  Scratch<float> copy;        // empty when the input is read in place
  const float* data;          // the padded batch: copy, or the input itself
};
/// x [N, C, H, W] with g's padding, followed by `slack` zeros (room for a vector that runs past
/// the last row). Without padding or slack the input itself is read in place.
PaddedBatch pad_batch(const ConvGeometry& g, const float* x, int64_t slack = 0);
/// The padded batch's rows, cols and plane alone (no copy, data null).
PaddedBatch padded_shape(const ConvGeometry& g);
/// Images [n0, n1) of x [N, C, H, W] with g's padding into dst, [n1 − n0, C, rows, cols], on the
/// calling thread.
void pad_images(const ConvGeometry& g, const float* x, int64_t n0, int64_t n1, float* dst);
/// taps[k]: where tap k = (c·KH + ki)·KW + kj, for channels c < `channels`, reads in a padded batch
/// of pad's shape, from a pixel's channel-0 corner (its tap (0, 0) in channel 0).
std::vector<int64_t> tap_offsets(const ConvGeometry& g, const PaddedBatch& pad, int64_t channels);

// ---- the packed float32 path (conv_packed.cpp) ----------------------------------------
/// True on x86 CPUs with AVX2 and FMA (checked once).
bool packed_available();
/// y = conv(x, w) + bias (bias may be null). All contiguous float32.
void packed_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y);
/// dx (every element written) from dy, when the convolution has stride 1 and padding within
/// the kernel's extent; returns false, doing nothing, otherwise.
bool packed_input_gradient(const ConvGeometry& g, const float* dy, const float* w, float* dx);
/// dw += dW and db += db (either may be null), for any geometry.
void packed_weight_gradient(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* db);

// ---- Winograd F(4×4, 3×3) for float32 (conv_winograd.cpp) -------------------------------
/// True when winograd_forward should run this convolution: an AVX-512 build, a 3×3 kernel of
/// stride 1 and dilation 1 without groups, 32 or more input and output channels in multiples of 16
/// (and, unless the outputs fill 64-wide GEMM panels, no more than twice as many inputs as outputs);
/// FOCUS_CONV_WINOGRAD=0 says no.
bool winograd_preferred(const ConvGeometry& g);
/// y = conv(x, w) + bias (bias may be null), all contiguous float32, where winograd_preferred(g).
void winograd_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y);

// ---- the direct float32 path (conv_direct.cpp) -----------------------------------------
/// True when direct_forward should run this convolution rather than the packed panels:
/// AVX2 and FMA, and 64 or more taps per output (Cg·KH·KW).
bool direct_preferred(const ConvGeometry& g);
/// y = conv(x, w) + bias (bias may be null), 16 output channels to a vector. All contiguous float32.
void direct_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y);

}  // namespace focus::kernels::FOCUS_CPU_VARIANT::conv_detail
