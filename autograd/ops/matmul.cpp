// matmul: 1-D/2-D/batched products, like torch.matmul.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

// The last two dims swapped, as a view: BLAS reads it as a transpose, no copy.
Tensor transposed(const Tensor& t) { return views::transpose(t, -2, -1); }

// `t` flattened to [rows, cols] over its leading dims without copying when its
// strides allow it (a copy otherwise).
Tensor as_matrix(const Tensor& t) {
  Shape shape{1, t.shape().back()};
  for (int64_t d = 0; d + 1 < t.dim(); ++d) shape[0] *= t.shape()[d];
  Tensor view = views::reshape_view(t, shape);
  return view.defined() ? view : views::reshape_view(kernels::contiguous_copy(t), shape);
}

class MatmulBackward : public Node {
 public:
  MatmulBackward(Tensor a, Tensor b) : a_(save(a, "a")), b_(save(b, "b")) {}
  std::string name() const override { return "MatmulBackward"; }

  // forward: y = a @ b    a (..., M, K), b (..., K, N), y (broadcast batch..., M, N)
  // so da = dy @ bᵀ      (..., M, N) @ (..., N, K) → (..., M, K), summed over a's broadcast batch dims
  //    db = aᵀ @ dy      (..., K, M) @ (..., M, N) → (..., K, N), summed over b's broadcast batch dims
  // A 1-D a is the row (1, K) and a 1-D b the column (K, 1); y lacks that dim, so
  // dy gets it back as a size-1 dim and da/db drop it again.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    if (a_.dim() == 1 && b_.dim() == 1) {  // y = Σ a_k b_k (0-d): da = dy · b, db = dy · a
      Tensor da = needs_input_grad(0) ? kernels::mul(dy, b_) : Tensor();
      Tensor db = needs_input_grad(1) ? kernels::mul(dy, a_) : Tensor();
      return {da, db};
    }
    const Tensor a = a_.dim() == 1 ? views::unsqueeze(a_, 0) : a_;
    const Tensor b = b_.dim() == 1 ? views::unsqueeze(b_, 1) : b_;
    Tensor g = dy;
    if (a_.dim() == 1) g = views::unsqueeze(g, g.dim() - (b_.dim() == 1 ? 0 : 1));
    if (b_.dim() == 1) g = views::unsqueeze(g, g.dim());

    Tensor da, db;
    if (needs_input_grad(0)) {
      da = kernels::sum_to(kernels::matmul(g, transposed(b)), a.shape());
      if (a_.dim() == 1) da = views::squeeze(da, 0);
    }
    if (needs_input_grad(1)) {
      if (b.dim() == 2 && a.dim() > 2) {
        // b was shared by every batch entry: instead of a batch of (K, N) products
        // summed afterwards, one product over all rows, (K, B·M) @ (B·M, N).
        db = kernels::matmul(transposed(as_matrix(a)), as_matrix(g));
      } else {
        db = kernels::sum_to(kernels::matmul(transposed(a), g), b.shape());
      }
      if (b_.dim() == 1) db = views::squeeze(db, 1);
    }
    return {da, db};
  }

 private:
  Tensor a_, b_;
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::matmul(a, b);
  if (any_requires_grad({a, b})) connect(std::make_shared<MatmulBackward>(a, b), {a, b}, {y});
  return y;
}

}  // namespace focus
