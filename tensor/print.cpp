#include "tensor/print.h"

#include <cmath>

#include "tensor/kernels.h"

namespace focus {

namespace {

constexpr int64_t kSummarizeAbove = 1000;  // like PyTorch's print threshold
constexpr int64_t kEdgeItems = 3;

struct Printer {
  const Tensor& t;  // contiguous float64 or int64 copy
  bool summarize;
  bool integral;
  bool scientific = false;
  int width = 1;

  std::string element(double v) const {
    if (integral) return fmt::format("{:>{}}", static_cast<int64_t>(v), width);
    if (scientific) return fmt::format("{:>{}.4e}", v, width);
    return fmt::format("{:>{}.4f}", v, width);
  }

  void rows(std::string& out, int64_t dim, int64_t offset, int indent) const {
    const Shape& shape = t.shape();
    if (dim == static_cast<int64_t>(shape.size())) {
      out += element(integral ? static_cast<double>(t.data<int64_t>()[offset]) : t.data<double>()[offset]);
      return;
    }
    out += '[';
    int64_t n = shape[dim], stride = t.strides()[dim];
    bool cut = summarize && n > 2 * kEdgeItems;
    bool last_dim = dim + 1 == static_cast<int64_t>(shape.size());
    for (int64_t i = 0; i < n; ++i) {
      if (cut && i == kEdgeItems) {
        out += last_dim ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
        i = n - kEdgeItems;
      }
      rows(out, dim + 1, offset + i * stride, indent + 1);
      if (i + 1 < n) {
        if (last_dim)
          out += ", ";
        else
          out += std::string(",") + std::string(shape.size() - dim - 1, '\n') + std::string(indent + 1, ' ');
      }
    }
    out += ']';
  }
};

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  Tensor host = t.device().is_cpu() ? t.detach() : t.detach().to(kCPU);
  bool integral = !is_floating(t.dtype());
  Tensor values = kernels::contiguous_copy(host, integral ? kInt64 : kFloat64);
  Printer printer{values, values.numel() > kSummarizeAbove, integral};
  if (!integral) {
    double largest = 0, smallest = INFINITY;
    for (int64_t i = 0; i < values.numel(); ++i) {
      double v = std::abs(values.data<double>()[i]);
      if (std::isfinite(v)) largest = std::max(largest, v);
      if (v > 0 && std::isfinite(v)) smallest = std::min(smallest, v);
    }
    printer.scientific = largest >= 1e8 || (smallest < 1e-4 && smallest > 0);
  }
  for (int64_t i = 0; i < values.numel(); ++i) {
    double v = integral ? static_cast<double>(values.data<int64_t>()[i]) : values.data<double>()[i];
    printer.width = std::max(printer.width, static_cast<int>(printer.element(v).size()));
  }
  std::string out = "tensor(";
  if (t.dim() == 0)
    out += printer.element(integral ? static_cast<double>(values.data<int64_t>()[0]) : values.data<double>()[0]);
  else
    printer.rows(out, 0, 0, 7);
  if (t.dim() > 0 && t.numel() == 0) out += fmt::format(", size={}", shape_str(t.shape()));
  if (t.dtype() != kFloat32 && t.dtype() != kInt64) out += fmt::format(", dtype={}", dtype_name(t.dtype()));
  if (!t.device().is_cpu()) out += fmt::format(", device='{}'", t.device().str());
  if (t.requires_grad()) out += !t.is_leaf() ? ", grad_fn=<" + t.grad_fn_name() + ">" : ", requires_grad=True";
  out += ")";
  return out;
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << to_string(t); }

}  // namespace focus
