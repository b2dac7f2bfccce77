#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "tensor/cpu/loops.h"
#include "tensor/kernels.h"
#include "tensor/tensor.h"

namespace focus {

namespace {
void check_shape(const Shape& shape, const char* op) {
  for (int64_t s : shape)
    if (s < 0) throw std::invalid_argument(fmt::format("{}: negative size in shape {}", op, shape_str(shape)));
}

// Fills a CPU tensor from a generator, then moves it to the requested device.
template <typename Draw>
Tensor random_tensor(const Shape& shape, TensorOptions options, const char* op, Draw draw) {
  check_shape(shape, op);
  Tensor host = empty(shape, TensorOptions(options.dtype));
  cpu::dispatch_all(options.dtype, op, [&]<typename T>() {
    T* p = host.data<T>();
    for (int64_t i = 0, n = host.numel(); i < n; ++i) p[i] = static_cast<T>(draw());
  });
  Tensor result = options.device.is_cpu() ? host : host.to(options.device);
  if (options.requires_grad) result.requires_grad_(true);
  return result;
}

Tensor allocate(const Shape& shape, TensorOptions options, bool zero_fill, const char* op) {
  check_shape(shape, op);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(shape_numel(shape) * element_size(options.dtype), options.device,
                                            /*pinned=*/false, zero_fill);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = options.dtype;
  Tensor t(impl);
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) { return allocate(shape, options, true, "empty"); }

Tensor empty_for_overwrite(const Shape& shape, TensorOptions options) {
  return allocate(shape, options, false, "empty_for_overwrite");
}

Tensor zeros(const Shape& shape, TensorOptions options) {
  Tensor t = empty(shape, options);
  if (!options.device.is_cpu()) kernels::fill(t, 0.0);  // CPU storage is already zeroed
  return t;
}

Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor t = empty(shape, options);
  kernels::fill(t, value);
  return t;
}

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions(t.dtype()).with_device(t.device())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), TensorOptions(t.dtype()).with_device(t.device())); }
Tensor full_like(const Tensor& t, double value) {
  return full(t.shape(), value, TensorOptions(t.dtype()).with_device(t.device()));
}
Tensor empty_like(const Tensor& t) { return empty(t.shape(), TensorOptions(t.dtype()).with_device(t.device())); }

Tensor arange(double start, double end, double step, TensorOptions options) {
  if (step == 0) throw std::invalid_argument("arange: step must be nonzero");
  int64_t n = static_cast<int64_t>(std::ceil((end - start) / step));
  n = std::max<int64_t>(n, 0);
  Tensor host = empty({n}, TensorOptions(options.dtype));
  cpu::dispatch_all(options.dtype, "arange", [&]<typename T>() {
    T* p = host.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return options.device.is_cpu() ? host : host.to(options.device);
}

Tensor arange(int64_t end, TensorOptions options) { return arange(0.0, static_cast<double>(end), 1.0, options); }

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  if (steps < 1) throw std::invalid_argument(fmt::format("linspace: steps must be >= 1, got {}", steps));
  Tensor host = empty({steps}, TensorOptions(options.dtype));
  double delta = steps == 1 ? 0.0 : (end - start) / static_cast<double>(steps - 1);
  cpu::dispatch_all(options.dtype, "linspace", [&]<typename T>() {
    T* p = host.data<T>();
    for (int64_t i = 0; i < steps; ++i) p[i] = static_cast<T>(i == steps - 1 ? end : start + delta * i);
  });
  return options.device.is_cpu() ? host : host.to(options.device);
}

Tensor eye(int64_t n, TensorOptions options) {
  Tensor host = zeros({n, n}, TensorOptions(options.dtype));
  for (int64_t i = 0; i < n; ++i) host.set({i, i}, 1.0);
  Tensor result = options.device.is_cpu() ? host : host.to(options.device);
  if (options.requires_grad) result.requires_grad_(true);
  return result;
}

Tensor rand(const Shape& shape, TensorOptions options, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return random_tensor(shape, options, "rand", [&] { return g.uniform(); });
}

Tensor uniform(const Shape& shape, double low, double high, TensorOptions options, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return random_tensor(shape, options, "uniform", [&] { return low + (high - low) * g.uniform(); });
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return random_tensor(shape, options, "randn", [&] { return g.normal(); });
}

Tensor normal(const Shape& shape, double mean, double std, TensorOptions options, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return random_tensor(shape, options, "normal", [&] { return mean + std * g.normal(); });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options, Generator* gen) {
  if (high <= low) throw std::invalid_argument(fmt::format("randint: empty range [{}, {})", low, high));
  Generator& g = gen ? *gen : default_generator();
  return random_tensor(shape, options, "randint", [&] { return g.integer(low, high); });
}

Tensor randperm(int64_t n, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Fisher–Yates with our own draws, so the order is identical on every platform.
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[g.integer(0, i + 1)]);
  return from_vector(order, {n});
}

namespace {
template <typename T>
Tensor from_values(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  if (shape_numel(shape) != static_cast<int64_t>(values.size()))
    throw std::invalid_argument(fmt::format("from_vector: {} values do not fill shape {}", values.size(),
                                            shape_str(shape)));
  Tensor host = empty(shape, TensorOptions(dtype_of<T>::value));
  std::copy(values.begin(), values.end(), host.data<T>());
  Tensor result = host;
  if (options.dtype != host.dtype()) result = kernels::contiguous_copy(host, options.dtype);
  if (!options.device.is_cpu()) result = result.to(options.device);
  if (options.requires_grad) result.requires_grad_(true);
  return result;
}
}  // namespace

Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions options) {
  return from_values(values, shape, options);
}
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options) {
  return from_values(values, shape, options);
}
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape, TensorOptions options) {
  return from_values(values, shape, options);
}

Tensor tensor(std::initializer_list<double> values, const Shape& shape, TensorOptions options) {
  Shape s = shape.empty() ? Shape{static_cast<int64_t>(values.size())} : shape;
  return from_values(std::vector<double>(values), s, options);
}

}  // namespace focus
