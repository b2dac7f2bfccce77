#include "tensor/tensor.h"

#include <fmt/format.h>

#include <stdexcept>

#include "tensor/cpu/loops.h"
#include "tensor/kernels.h"

namespace focus {

TensorImpl& Tensor::impl() const {
  if (!impl_) throw std::logic_error("use of an undefined Tensor (default-constructed or moved-from)");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[normalize_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * element_size(dtype());
}

template <typename T>
T* Tensor::data() const {
  if (dtype_of<T>::value != dtype())
    throw std::invalid_argument(fmt::format("Tensor::data<{}>() called on a {} tensor",
                                            dtype_name(dtype_of<T>::value), dtype_name(dtype())));
  return static_cast<T*>(data_ptr());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int64_t* Tensor::data<int64_t>() const;
template bool* Tensor::data<bool>() const;

namespace {
// Element offset of a multi-index, checked against the shape.
int64_t element_offset(const Tensor& t, const std::vector<int64_t>& index) {
  if (static_cast<int64_t>(index.size()) != t.dim())
    throw std::out_of_range(fmt::format("index with {} entries for a tensor of shape {}", index.size(),
                                        shape_str(t.shape())));
  int64_t off = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    int64_t i = index[d] < 0 ? index[d] + t.shape()[d] : index[d];
    if (i < 0 || i >= t.shape()[d])
      throw std::out_of_range(fmt::format("index {} is out of range for dim {} of shape {}", index[d], d,
                                          shape_str(t.shape())));
    off += i * t.strides()[d];
  }
  return off;
}

void require_cpu(const Tensor& t, const char* what) {
  if (!t.device().is_cpu())
    throw std::invalid_argument(fmt::format("{}: tensor is on {}; call .to(kCPU) first", what, t.device().str()));
}
}  // namespace

double Tensor::at(const std::vector<int64_t>& index) const {
  require_cpu(*this, "Tensor::at");
  int64_t off = element_offset(*this, index);
  return cpu::dispatch_all(dtype(), "at", [&]<typename T>() {
    return static_cast<double>(static_cast<const T*>(data_ptr())[off]);
  });
}

void Tensor::set(const std::vector<int64_t>& index, double value) {
  require_cpu(*this, "Tensor::set");
  int64_t off = element_offset(*this, index);
  cpu::dispatch_all(dtype(), "set", [&]<typename T>() { static_cast<T*>(data_ptr())[off] = static_cast<T>(value); });
  bump_version();
}

template <typename T>
T Tensor::item() const {
  if (numel() != 1)
    throw std::invalid_argument(
        fmt::format("item(): tensor of shape {} has {} elements, expected 1", shape_str(shape()), numel()));
  Tensor host = device().is_cpu() ? *this : detach().to(kCPU);  // a read, not part of the graph
  return cpu::dispatch_all(host.dtype(), "item", [&]<typename S>() {
    return static_cast<T>(*static_cast<const S*>(host.data_ptr()));
  });
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template bool Tensor::item<bool>() const;

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = device().is_cpu() ? *this : detach().to(kCPU);  // a read, not part of the graph
  Tensor c = kernels::contiguous_copy(host, dtype_of<T>::value);
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;

Tensor& Tensor::fill_(double value) {
  kernels::fill(*this, value);
  bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  kernels::copy(*this, src);
  bump_version();
  return *this;
}

void Tensor::set_data(const Tensor& other) {
  TensorImpl& mine = impl();
  const TensorImpl& theirs = other.impl();
  mine.storage = theirs.storage;
  mine.shape = theirs.shape;
  mine.strides = theirs.strides;
  mine.offset = theirs.offset;
  mine.dtype = theirs.dtype;
}

void check_defined(const Tensor& t, const char* op) {
  if (!t.defined()) throw std::invalid_argument(fmt::format("{}: got an undefined tensor", op));
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.device() != b.device())
    throw std::invalid_argument(fmt::format("{}: expected tensors on one device, got {} and {}", op,
                                            a.device().str(), b.device().str()));
}

// ---- raw views ------------------------------------------------------------------
namespace views {

Tensor as_strided(const Tensor& t, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = t.dtype();
  return Tensor(impl);
}

Tensor reshape_view(const Tensor& t, const Shape& requested) {
  Shape shape = infer_shape(requested, t.numel(), "reshape");
  if (t.is_contiguous()) return as_strided(t, shape, contiguous_strides(shape), t.offset());
  // Non-contiguous: a view exists when each new dim fits inside one run of old dims
  // that are contiguous among themselves (the rule PyTorch's view() uses).
  Shape new_strides(shape.size());
  const Shape& old_shape = t.shape();
  const Shape& old_strides = t.strides();
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        new_strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return Tensor();
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return Tensor();
  return as_strided(t, shape, new_strides, t.offset());
}

Tensor permute(const Tensor& t, const std::vector<int64_t>& dims) {
  int64_t n = t.dim();
  if (static_cast<int64_t>(dims.size()) != n)
    throw std::invalid_argument(fmt::format("permute: {} dims given for a tensor of shape {}", dims.size(),
                                            shape_str(t.shape())));
  Shape shape(n), strides(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = normalize_dim(dims[i], n, "permute");
    if (seen[d]) throw std::invalid_argument(fmt::format("permute: dim {} repeated", d));
    seen[d] = true;
    shape[i] = t.shape()[d];
    strides[i] = t.strides()[d];
  }
  return as_strided(t, shape, strides, t.offset());
}

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  int64_t n = t.dim();
  dim0 = normalize_dim(dim0, n, "transpose");
  dim1 = normalize_dim(dim1, n, "transpose");
  Shape shape = t.shape(), strides = t.strides();
  if (n > 0) {
    std::swap(shape[dim0], shape[dim1]);
    std::swap(strides[dim0], strides[dim1]);
  }
  return as_strided(t, shape, strides, t.offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  int64_t n = t.dim();
  dim = normalize_dim(dim, n + 1, "unsqueeze");
  Shape shape = t.shape(), strides = t.strides();
  int64_t stride = dim < n ? shape[dim] * strides[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  return as_strided(t, shape, strides, t.offset());
}

Tensor squeeze(const Tensor& t, int64_t dim) {
  if (t.dim() == 0) return t;
  dim = normalize_dim(dim, t.dim(), "squeeze");
  if (t.shape()[dim] != 1) return as_strided(t, t.shape(), t.strides(), t.offset());
  Shape shape = t.shape(), strides = t.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  return as_strided(t, shape, strides, t.offset());
}

Tensor expand(const Tensor& t, const Shape& requested) {
  int64_t n = static_cast<int64_t>(requested.size());
  if (n < t.dim())
    throw std::invalid_argument(fmt::format("expand: cannot expand shape {} to {}", shape_str(t.shape()),
                                            shape_str(requested)));
  Shape shape(n), strides(n);
  int64_t lead = n - t.dim();
  for (int64_t i = 0; i < n; ++i) {
    if (i < lead) {
      if (requested[i] < 0)
        throw std::invalid_argument(fmt::format("expand: -1 not allowed for new leading dim {}", i));
      shape[i] = requested[i];
      strides[i] = 0;
      continue;
    }
    int64_t old = t.shape()[i - lead];
    int64_t want = requested[i] == -1 ? old : requested[i];
    if (old == want) {
      shape[i] = old;
      strides[i] = t.strides()[i - lead];
    } else if (old == 1) {
      shape[i] = want;
      strides[i] = 0;
    } else {
      throw std::invalid_argument(fmt::format("expand: cannot expand shape {} to {}", shape_str(t.shape()),
                                              shape_str(requested)));
    }
  }
  return as_strided(t, shape, strides, t.offset());
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = normalize_dim(dim, t.dim(), "slice");
  if (step <= 0) throw std::invalid_argument("slice: step must be positive");
  int64_t size = t.shape()[dim];
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  Shape shape = t.shape(), strides = t.strides();
  shape[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  return as_strided(t, shape, strides, t.offset() + start * t.strides()[dim]);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  dim = normalize_dim(dim, t.dim(), "select");
  int64_t size = t.shape()[dim];
  if (index < -size || index >= size)
    throw std::out_of_range(fmt::format("select: index {} is out of range for dim {} of shape {}", index, dim,
                                        shape_str(t.shape())));
  if (index < 0) index += size;
  Shape shape = t.shape(), strides = t.strides();
  int64_t offset = t.offset() + index * strides[dim];
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  return as_strided(t, shape, strides, offset);
}

}  // namespace views
}  // namespace focus
