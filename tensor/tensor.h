#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/generator.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace focus {

class Node;  // autograd/node.h: tensor/ only keeps the slot, autograd/ gives it meaning.
struct PostAccumulateGradHooks;  // autograd/hooks.h
class HookHandle;                // autograd/hooks.h
class Tensor;

/// What a Tensor handle points at: a view (shape, strides in elements, offset)
/// into shared Storage, plus the autograd slot.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;

  // Autograd slot. tensor/ never reads these; autograd/ owns their meaning.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;          // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;             // the op that produced this tensor
  uint32_t output_nr = 0;                    // which output of grad_fn this is
  std::weak_ptr<Node> grad_accumulator;      // a leaf's AccumulateGrad node, shared by its uses
  bool retains_grad = false;                 // non-leaf that keeps .grad (retain_grad())
  std::shared_ptr<PostAccumulateGradHooks> post_accumulate_grad_hooks;  // a leaf's hooks; null when none
};

/// A cheap handle to an n-d array. Copies share data (like PyTorch): use
/// `clone()` for a deep copy. Operations on tensors that require grad are
/// recorded for `backward()`.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata ------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& sizes() const { return impl().shape; }
  /// Size of `dim` (negative counts from the end).
  int64_t size(int64_t dim) const;
  const Shape& strides() const { return impl().strides; }
  int64_t stride(int64_t dim) const;
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  /// Address of the first element (storage + offset).
  void* data_ptr() const;
  /// Typed address of the first element; throws if T does not match dtype().
  template <typename T> T* data() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  /// True when both handles view the same storage.
  bool shares_storage(const Tensor& other) const { return impl().storage == other.impl().storage; }

  // ---- element access (for tests and small tensors; slow) -------------------
  /// The single value of a one-element tensor.
  template <typename T = double> T item() const;
  /// The element at `index`, converted to double.
  double at(const std::vector<int64_t>& index) const;
  /// Writes one element (no autograd record; counts as an in-place write, see version()).
  void set(const std::vector<int64_t>& index, double value);
  /// All elements in row-major order, converted to T.
  template <typename T> std::vector<T> to_vector() const;

  // ---- views (share storage; differentiable) --------------------------------
  Tensor reshape(const Shape& shape) const;  ///< view when possible, else a copy
  Tensor view(const Shape& shape) const;     ///< view only; throws if strides forbid it
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  ///< transpose of a 2-D tensor
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor expand(const Shape& shape) const;  ///< broadcast view (-1 keeps a size)
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // ---- copies and conversions -----------------------------------------------
  Tensor contiguous() const;  ///< self when already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;
  /// A copy on `device` (differentiable; self when already there). With non_blocking, a copy
  /// from pinned memory to a GPU returns at once and runs in order with the GPU's work.
  Tensor to(Device device, bool non_blocking = false) const;
  /// A copy in page-locked host memory, which the GPU reads asynchronously (DataLoader's pin_memory).
  Tensor pin_memory() const;
  bool is_pinned() const { return impl().storage->pinned(); }
  Tensor detach() const;  ///< same data, cut from the graph

  // ---- in-place (not recorded by autograd; for init and optimizers) ----------
  // Each counts one write in version(), so that a backward that needs the old values throws
  // instead of using the new ones (autograd/saved_versions.h).
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  /// Copies src (broadcast to this shape, any dtype) into this tensor's memory.
  /// From pinned host memory to a GPU the copy is only queued (like PyTorch's non_blocking=True):
  /// leave src unchanged until the GPU has read it (cuda::synchronize()).
  Tensor& copy_(const Tensor& src);
  /// Makes every handle of this tensor see `other`'s data, shape and dtype
  /// (Module::to moves parameters this way, so layers' members stay valid).
  void set_data(const Tensor& other);
  /// How many times this tensor's memory was modified in place, shared with every view of it
  /// (PyTorch's `_version`): fill_, zero_, copy_, set and optimizer steps each add one.
  uint32_t version() const { return storage()->version(); }
  /// Counts an in-place write made some other way (through data_ptr(), or a raw kernel writing
  /// into a tensor the caller holds), so autograd sees it too.
  void bump_version() const { storage()->bump_version(); }

  // ---- autograd ---------------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool enabled = true);
  /// Accumulated gradient (undefined until a backward reaches this tensor).
  Tensor grad() const;
  void set_grad(const Tensor& grad);
  /// The op that produced this tensor; null for leaves.
  std::shared_ptr<Node> grad_fn() const;
  /// The name of that op ("MulBackward"), empty for leaves: what printing shows as grad_fn.
  std::string grad_fn_name() const;
  bool is_leaf() const;
  /// Keep .grad on a non-leaf tensor during backward.
  void retain_grad();
  /// Calls `hook(leaf)` each time a backward has added its gradient into this
  /// leaf's .grad (once per backward that reaches it, after all of that
  /// backward's contributions). Hooks run in registration order; remove one
  /// with the returned handle. Throws for a non-leaf or a tensor that does not
  /// require grad. The hook receives the tensor: capturing this tensor in it
  /// would keep it alive forever. See autograd/hooks.h (include it for HookHandle).
  HookHandle register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook) const;
  /// Backpropagates from this tensor. `gradient` defaults to 1 for a scalar.
  /// Gradients are *added* to leaves' .grad: call zero_grad between steps.
  void backward(const Tensor& gradient = {}, bool retain_graph = false) const;

  // ---- math methods (differentiable; same as the free functions in autograd/ops.h)
  Tensor sum() const;
  Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor pow(double exponent) const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor relu() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// ---- factories (tensor/factories.cpp) ------------------------------------------
/// Options for factories: dtype, device, and whether the result requires grad.
struct TensorOptions {
  DType dtype = kFloat32;
  Device device = kCPU;
  bool requires_grad = false;

  TensorOptions() = default;
  TensorOptions(DType d) : dtype(d) {}  // NOLINT: lets callers write zeros({2}, kFloat64)
  TensorOptions& with_dtype(DType d) { dtype = d; return *this; }
  TensorOptions& with_device(Device d) { device = d; return *this; }
  TensorOptions& with_requires_grad(bool r = true) { requires_grad = r; return *this; }
};

/// Uninitialised-by-contract (actually zeroed) tensor of a shape.
Tensor empty(const Shape& shape, TensorOptions options = {});
/// Really uninitialised (CPU memory is not cleared; GPU memory still is): for kernels that write
/// every element of their output, where clearing it first is wasted time (as
/// std::make_unique_for_overwrite). Reading an element before writing it reads garbage.
Tensor empty_for_overwrite(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
/// 0-d tensor holding one value.
Tensor scalar_tensor(double value, TensorOptions options = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor empty_like(const Tensor& t);
/// [start, end) in steps of `step`; int64 unless options say otherwise.
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {kInt64});
Tensor arange(int64_t end, TensorOptions options = {kInt64});
/// `steps` evenly spaced values from start to end inclusive.
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
/// n×n identity.
Tensor eye(int64_t n, TensorOptions options = {});
/// Uniform in [0, 1).
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
/// Uniform in [low, high).
Tensor uniform(const Shape& shape, double low, double high, TensorOptions options = {},
               Generator* gen = nullptr);
/// Standard normal (times std, plus mean).
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double std, TensorOptions options = {},
              Generator* gen = nullptr);
/// Integers uniform in [low, high), int64 by default.
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options = {kInt64},
               Generator* gen = nullptr);
/// A random permutation of 0..n-1 (int64).
Tensor randperm(int64_t n, Generator* gen = nullptr);
/// Copies values into a new tensor of the given shape (numel must match).
Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions options = {});
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options = {kFloat64});
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape, TensorOptions options = {kInt64});
/// tensor({1, 2, 3, 4}, {2, 2}): float32 by default; shape defaults to 1-D.
Tensor tensor(std::initializer_list<double> values, const Shape& shape = {}, TensorOptions options = {});

// ---- raw views (no autograd; autograd/ops wraps these) -------------------------
namespace views {
Tensor as_strided(const Tensor& t, const Shape& shape, const Shape& strides, int64_t offset);
Tensor reshape_view(const Tensor& t, const Shape& shape);  ///< undefined Tensor if impossible
Tensor permute(const Tensor& t, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor squeeze(const Tensor& t, int64_t dim);
Tensor expand(const Tensor& t, const Shape& shape);
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step);
Tensor select(const Tensor& t, int64_t dim, int64_t index);
}  // namespace views

/// Throws "<op>: expected dtype X, got Y" etc. Helpers shared by kernels and ops.
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_defined(const Tensor& t, const char* op);

}  // namespace focus
