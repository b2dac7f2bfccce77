// The elementwise middle of an LSTM step, fused: one pass forward (bias, four
// gate nonlinearities, the cell update) and one pass backward, over contiguous
// [B, 4H] gate rows in PyTorch's order i | f | g | o. The matrix products
// around them belong to the callers (autograd/ops/lstm_cell.cpp and
// autograd/ops/lstm_layer.cpp), which run them on BLAS.
//
// Speed: a step evaluates five transcendentals per hidden unit, and scalar
// std::exp/std::tanh would cost as much as the step's GEMM. Float rows are
// therefore computed a vector of lanes at a time (GCC/Clang vector extensions:
// plain arithmetic on `FloatLanes`, compiled to AVX-512 or AVX in those kernel builds, SSE
// or NEON elsewhere) with a branch-free exp (lstm_rows.h). Double rows (gradient
// checks, not speed) use std::exp and std::tanh one element at a time.
//
// The argument checks below are shared with the GPU versions (tensor/cuda/lstm.cu),
// which take over right after them.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "tensor/cpu/loops.h"
#include "tensor/cpu/lstm_rows.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

using namespace lstm_detail;

// Rows per thread: a row of H units costs about 5 transcendentals per unit, so
// a few thousand units are worth a thread.
int64_t rows_grain(int64_t H) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(H, 1)); }

void check_rows(const Tensor& t, const char* what, int64_t B, int64_t width, DType dtype, const char* op) {
  check_defined(t, op);
  if (t.shape() != Shape{B, width} || !t.is_contiguous() || t.dtype() != dtype)
    throw std::invalid_argument(fmt::format("{}: expected {} to be a contiguous {} tensor of shape {}, got {} {}{}", op,
                                            what, dtype_name(dtype), shape_str({B, width}), dtype_name(t.dtype()),
                                            shape_str(t.shape()), t.is_contiguous() ? "" : " (not contiguous)"));
}

// B and H from gates [B, 4H], checked.
std::pair<int64_t, int64_t> gate_dims(const Tensor& gates, const char* op) {
  check_defined(gates, op);
  if (gates.dim() != 2 || gates.shape()[1] % 4 != 0)
    throw std::invalid_argument(fmt::format("{}: expected gates of shape [B, 4H], got {}", op, shape_str(gates.shape())));
  return {gates.shape()[0], gates.shape()[1] / 4};
}

}  // namespace

void lstm_gates_forward(const Tensor& gates, const Tensor& bias, const Tensor& c, const Tensor& h_new,
                        const Tensor& c_new, const Tensor& tanh_c_new) {
  const char* op = "lstm_gates_forward";
  // Plain variables, not a structured binding: the parallel loops below capture them.
  const std::pair<int64_t, int64_t> dims = gate_dims(gates, op);
  const int64_t B = dims.first, H = dims.second;
  const DType dtype = gates.dtype();
  check_rows(gates, "gates", B, 4 * H, dtype, op);
  if (bias.defined()) check_rows(bias.view({1, 4 * H}), "bias", 1, 4 * H, dtype, op);
  check_rows(c, "c", B, H, dtype, op);
  check_rows(h_new, "h_new", B, H, dtype, op);
  check_rows(c_new, "c_new", B, H, dtype, op);
  check_rows(tanh_c_new, "tanh_c_new", B, H, dtype, op);
  FOCUS_DISPATCH(common_device(op, gates, bias, c, h_new, c_new, tanh_c_new),
                      lstm_gates_forward(gates, bias, c, h_new, c_new, tanh_c_new));

  cpu::dispatch_floating(dtype, op, [&]<typename T>() {
    using V = std::conditional_t<std::is_same_v<T, float>, FloatLanes, double>;
    T* g = gates.data<T>();
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    const T* c_old = c.data<T>();
    T *h_out = h_new.data<T>(), *c_out = c_new.data<T>(), *tanh_out = tanh_c_new.data<T>();
    parallel_for(0, B, rows_grain(H), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row)
        forward_row<T, V>(H, g + row * 4 * H, b, c_old + row * H, h_out + row * H, c_out + row * H,
                          tanh_out + row * H);
    });
  });
}

void lstm_gates_backward(const Tensor& gates, const Tensor& c, const Tensor& tanh_c_new, const Tensor& dh_new,
                         const Tensor& dc_new, const Tensor& d_gates, const Tensor& dc) {
  const char* op = "lstm_gates_backward";
  // Plain variables, not a structured binding: the parallel loops below capture them.
  const std::pair<int64_t, int64_t> dims = gate_dims(gates, op);
  const int64_t B = dims.first, H = dims.second;
  const DType dtype = gates.dtype();
  check_rows(gates, "gates", B, 4 * H, dtype, op);
  check_rows(c, "c", B, H, dtype, op);
  check_rows(tanh_c_new, "tanh_c_new", B, H, dtype, op);
  check_rows(dh_new, "dh_new", B, H, dtype, op);
  check_rows(dc_new, "dc_new", B, H, dtype, op);
  check_rows(d_gates, "d_gates", B, 4 * H, dtype, op);
  check_rows(dc, "dc", B, H, dtype, op);
  FOCUS_DISPATCH(common_device(op, gates, c, tanh_c_new, dh_new, dc_new, d_gates, dc),
                      lstm_gates_backward(gates, c, tanh_c_new, dh_new, dc_new, d_gates, dc));

  cpu::dispatch_floating(dtype, op, [&]<typename T>() {
    using V = std::conditional_t<std::is_same_v<T, float>, FloatLanes, double>;
    const T *g = gates.data<T>(), *c_old = c.data<T>(), *tanh_cell = tanh_c_new.data<T>();
    const T *dh = dh_new.data<T>(), *dc_next = dc_new.data<T>();
    T *d_g = d_gates.data<T>(), *dc_old = dc.data<T>();
    parallel_for(0, B, rows_grain(H), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row)
        backward_row<T, V>(H, g + row * 4 * H, c_old + row * H, tanh_cell + row * H, dh + row * H,
                           dc_next + row * H, d_g + row * 4 * H, dc_old + row * H);
    });
  });
}

void lstm_carry_padded_rows(const Tensor& active, const Tensor& h_dst, const Tensor& h_src, const Tensor& c_dst,
                            const Tensor& c_src, const Tensor& zeroed) {
  const char* op = "lstm_carry_padded_rows";
  check_defined(h_dst, op);
  check_defined(zeroed, op);
  if (h_dst.dim() != 2 || zeroed.dim() != 2)
    throw std::invalid_argument(fmt::format("{}: expected h_dst [B, H] and zeroed [B, Z], got {} and {}", op,
                                            shape_str(h_dst.shape()), shape_str(zeroed.shape())));
  const int64_t B = h_dst.shape()[0], H = h_dst.shape()[1], Z = zeroed.shape()[1];
  const DType dtype = h_dst.dtype();
  check_defined(active, op);
  if (active.shape() != Shape{B} || active.dtype() != kBool || !active.is_contiguous())
    throw std::invalid_argument(fmt::format("{}: expected active to be a contiguous bool tensor of shape [{}], got "
                                            "{} {}",
                                            op, B, dtype_name(active.dtype()), shape_str(active.shape())));
  for (const auto& [t, what] : {std::pair{&h_dst, "h_dst"}, {&h_src, "h_src"}, {&c_dst, "c_dst"}, {&c_src, "c_src"}})
    check_rows(*t, what, B, H, dtype, op);
  check_rows(zeroed, "zeroed", B, Z, dtype, op);
  FOCUS_DISPATCH(common_device(op, active, h_dst, h_src, c_dst, c_src, zeroed),
                      lstm_carry_padded_rows(active, h_dst, h_src, c_dst, c_src, zeroed));

  const bool* real = active.data<bool>();
  const size_t state_bytes = static_cast<size_t>(H) * element_size(dtype);
  const size_t zeroed_bytes = static_cast<size_t>(Z) * element_size(dtype);
  auto row = [](const Tensor& t, int64_t b, size_t bytes) { return static_cast<char*>(t.data_ptr()) + b * bytes; };
  for (int64_t b = 0; b < B; ++b) {
    if (real[b]) continue;
    std::memcpy(row(h_dst, b, state_bytes), row(h_src, b, state_bytes), state_bytes);
    std::memcpy(row(c_dst, b, state_bytes), row(c_src, b, state_bytes), state_bytes);
    std::memset(row(zeroed, b, zeroed_bytes), 0, zeroed_bytes);
  }
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
