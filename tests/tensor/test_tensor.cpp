// The Tensor handle: factories, views sharing storage, element access, printing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "focus.h"

using namespace focus;

TEST_CASE("factories give the requested shape, dtype and values", "[tensor]") {
  Tensor z = zeros({2, 3});
  REQUIRE(z.shape() == Shape{2, 3});
  REQUIRE(z.dtype() == kFloat32);
  REQUIRE(z.is_contiguous());
  REQUIRE(z.strides() == Shape{3, 1});
  REQUIRE(z.at({1, 2}) == 0.0);

  Tensor f = full({2}, 2.5, kFloat64);
  REQUIRE(f.dtype() == kFloat64);
  REQUIRE(f.at({1}) == 2.5);
  REQUIRE(ones({3}).to_vector<float>() == std::vector<float>{1, 1, 1});

  REQUIRE(arange(5).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  REQUIRE(arange(1.0, 2.0, 0.25, kFloat64).to_vector<double>() == std::vector<double>{1.0, 1.25, 1.5, 1.75});
  REQUIRE(linspace(0, 1, 5).to_vector<float>() == std::vector<float>{0.0f, 0.25f, 0.5f, 0.75f, 1.0f});

  Tensor i = eye(3);
  REQUIRE(i.at({0, 0}) == 1.0);
  REQUIRE(i.at({0, 1}) == 0.0);
  REQUIRE(i.at({2, 2}) == 1.0);

  Tensor t = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(t.at({1, 0}) == 4.0);
  REQUIRE(scalar_tensor(7).dim() == 0);
  REQUIRE(scalar_tensor(7).item<double>() == 7.0);
}

TEST_CASE("zeros of several MiB are zero throughout, where the threads share the fill", "[tensor]") {
  // 1 MiB and more is zeroed in 256 KiB chunks across threads; the odd size ends in a short chunk.
  // Freed memory of the same size filled with ones comes first, so reuse would show.
  const int64_t n = (int64_t{5} << 18) + 13;  // 5 MiB + 52 bytes of float32
  for (int pass = 0; pass < 2; ++pass) {
    { Tensor dirty = full({n}, 1.0); }
    Tensor z = zeros({n});
    const std::vector<float> values = z.to_vector<float>();
    REQUIRE(std::count(values.begin(), values.end(), 0.0f) == n);
  }
}

TEST_CASE("random factories are reproducible from a seed", "[tensor]") {
  Generator a(42), b(42);
  REQUIRE(randn({16}, {}, &a).to_vector<float>() == randn({16}, {}, &b).to_vector<float>());
  Tensor u = rand({1000}, kFloat64, &a);
  std::vector<double> values = u.to_vector<double>();
  REQUIRE(*std::min_element(values.begin(), values.end()) >= 0.0);
  REQUIRE(*std::max_element(values.begin(), values.end()) < 1.0);

  Tensor r = randint(3, 7, {500}, kInt64, &a);
  for (int64_t v : r.to_vector<int64_t>()) REQUIRE((v >= 3 && v < 7));

  std::vector<int64_t> perm = randperm(10, &a).to_vector<int64_t>();
  std::sort(perm.begin(), perm.end());
  for (int64_t k = 0; k < 10; ++k) REQUIRE(perm[k] == k);

  // The generator state round-trips through text (checkpoints rely on it).
  Generator c(7);
  c.normal();
  std::string state = c.state();
  double next = c.normal();
  Generator d;
  d.set_state(state);
  REQUIRE(d.normal() == next);
}

TEST_CASE("views share storage and compute the right strides", "[tensor]") {
  Tensor t = arange(24, kFloat32).reshape({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  REQUIRE(p.shape() == Shape{4, 2, 3});
  REQUIRE(p.strides() == Shape{1, 12, 4});
  REQUIRE(p.shares_storage(t));
  REQUIRE(p.at({3, 1, 2}) == t.at({1, 2, 3}));
  REQUIRE_FALSE(p.is_contiguous());

  Tensor tr = t.transpose(0, 2);
  REQUIRE(tr.shape() == Shape{4, 3, 2});
  REQUIRE(tr.at({1, 2, 0}) == t.at({0, 2, 1}));

  Tensor s = t.slice(2, 1, 4, 2);  // columns 1 and 3
  REQUIRE(s.shape() == Shape{2, 3, 2});
  REQUIRE(s.at({1, 1, 1}) == t.at({1, 1, 3}));

  Tensor n = t.narrow(1, 1, 2);
  REQUIRE(n.shape() == Shape{2, 2, 4});
  REQUIRE(n.at({0, 0, 0}) == 4.0);

  Tensor sel = t.select(1, -1);
  REQUIRE(sel.shape() == Shape{2, 4});
  REQUIRE(sel.at({1, 0}) == t.at({1, 2, 0}));

  Tensor u = t.unsqueeze(1);
  REQUIRE(u.shape() == Shape{2, 1, 3, 4});
  REQUIRE(u.squeeze(1).shape() == Shape{2, 3, 4});
  REQUIRE(ones({1, 3, 1}).squeeze().shape() == Shape{3});

  Tensor e = tensor({1, 2, 3}, {3, 1}).expand({3, 4});
  REQUIRE(e.strides()[1] == 0);
  REQUIRE(e.at({2, 3}) == 3.0);
  REQUIRE(t.flatten(1).shape() == Shape{2, 12});
  REQUIRE(t.flatten().shape() == Shape{24});

  // Writing through a view changes the original.
  sel.set({0, 0}, 100.0);
  REQUIRE(t.at({0, 2, 0}) == 100.0);
}

TEST_CASE("reshape views when strides allow, copies otherwise", "[tensor]") {
  Tensor t = arange(12, kFloat32).reshape({3, 4});
  Tensor v = t.view({4, 3});
  REQUIRE(v.shares_storage(t));
  REQUIRE(t.reshape({-1}).shape() == Shape{12});

  // A transposed tensor cannot be flattened without a copy.
  Tensor tt = t.t();
  REQUIRE_THROWS_WITH(tt.view({12}), Catch::Contains("view") && Catch::Contains("reshape"));
  Tensor flat = tt.reshape({12});
  REQUIRE_FALSE(flat.shares_storage(t));
  REQUIRE(flat.at({1}) == 4.0);  // element [0][1] of the transpose = t[1][0]

  // Splitting a dim of a sliced (non-contiguous) tensor is still a view.
  Tensor sliced = arange(24, kFloat32).reshape({4, 6}).slice(1, 0, 4);
  Tensor split = sliced.view({4, 2, 2});
  REQUIRE(split.shares_storage(sliced));
  REQUIRE(split.at({2, 1, 0}) == sliced.at({2, 2}));

  REQUIRE_THROWS_WITH(t.reshape({5, -1}), Catch::Contains("reshape") && Catch::Contains("[5, -1]"));
  REQUIRE_THROWS_WITH(t.reshape({-1, -1}), Catch::Contains("only one dim can be -1"));
}

TEST_CASE("bad indices and dims give errors naming the shape", "[tensor]") {
  Tensor t = zeros({2, 3});
  REQUIRE_THROWS_WITH(t.at({2, 0}), Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(t.at({0}), Catch::Contains("index with 1 entries"));
  REQUIRE_THROWS_WITH(t.permute({0, 0}), Catch::Contains("repeated"));
  REQUIRE_THROWS_WITH(t.transpose(0, 5), Catch::Contains("out of range"));
  REQUIRE_THROWS_WITH(t.expand({4, 3}), Catch::Contains("cannot expand shape [2, 3] to [4, 3]"));
  REQUIRE_THROWS_WITH(t.select(0, 2), Catch::Contains("out of range"));
  REQUIRE_THROWS_WITH(t.narrow(1, 2, 2), Catch::Contains("narrow"));
  REQUIRE_THROWS_WITH(t.item(), Catch::Contains("6 elements"));
  REQUIRE_THROWS_WITH(t.data<double>(), Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(Tensor().shape(), Catch::Contains("undefined"));
  REQUIRE_THROWS_WITH(from_vector(std::vector<float>{1, 2, 3}, {2, 2}), Catch::Contains("[2, 2]"));
}

TEST_CASE("copies and conversions", "[tensor]") {
  Tensor t = tensor({1.5, -2.5, 3.25, 4}, {2, 2});
  Tensor c = t.clone();
  REQUIRE_FALSE(c.shares_storage(t));
  c.set({0, 0}, 9);
  REQUIRE(t.at({0, 0}) == 1.5);

  Tensor d = t.to(kFloat64);
  REQUIRE(d.dtype() == kFloat64);
  REQUIRE(d.at({1, 0}) == 3.25);
  Tensor i = t.to(kInt64);
  REQUIRE(i.to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3, 4});  // truncation toward zero

  Tensor tt = t.t().contiguous();
  REQUIRE(tt.is_contiguous());
  REQUIRE(tt.to_vector<float>() == std::vector<float>{1.5f, 3.25f, -2.5f, 4.0f});

  Tensor dst = zeros({2, 3});
  dst.copy_(tensor({1, 2, 3}));  // broadcast copy
  REQUIRE(dst.at({1, 2}) == 3.0);
  dst.fill_(-1);
  REQUIRE(dst.at({0, 0}) == -1.0);
}

TEST_CASE("printing looks like PyTorch", "[tensor]") {
  REQUIRE(fmt::format("{}", tensor({1, 2, 3, 4}, {2, 2})) ==
          "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]])");
  REQUIRE(fmt::format("{}", arange(3)) == "tensor([0, 1, 2])");
  REQUIRE(fmt::format("{}", scalar_tensor(0.5, kFloat64)) == "tensor(0.5000, dtype=float64)");
  Tensor w = ones({2}).requires_grad_();
  REQUIRE(fmt::format("{}", w) == "tensor([1.0000, 1.0000], requires_grad=True)");
  std::string big = fmt::format("{}", zeros({2000}));
  REQUIRE(big.find("...") != std::string::npos);
  REQUIRE(big.size() < 200);
}

TEST_CASE("devices parse and a CPU-only build refuses CUDA clearly", "[tensor]") {
  REQUIRE(Device::parse("cpu") == kCPU);
  REQUIRE(Device::parse("cuda:1") == Device::cuda(1));
  REQUIRE_THROWS_WITH(Device::parse("gpu"), Catch::Contains("unknown device 'gpu'"));
#ifndef FOCUS_WITH_CUDA
  REQUIRE_FALSE(cuda::is_available());
  REQUIRE_THROWS_WITH(zeros({2}).to(Device::cuda()), Catch::Contains("built without CUDA"));
#endif
}

TEST_CASE("empty_for_overwrite gives a tensor of the shape, poisoned when FOCUS_POISON_UNINITIALIZED is set",
          "[tensor]") {
  Tensor t = empty_for_overwrite({3, 5}, kFloat64);
  REQUIRE(t.shape() == Shape{3, 5});
  REQUIRE(t.dtype() == kFloat64);
  REQUIRE(t.is_contiguous());
  const char* poison = std::getenv("FOCUS_POISON_UNINITIALIZED");
  if (poison && std::string(poison) == "1")
    for (double v : t.to_vector<double>()) REQUIRE(std::isnan(v));
  REQUIRE(empty({4}).to_vector<float>() == std::vector<float>(4, 0.0f));  // empty() still clears
}

TEST_CASE("an element count that overflows int64 is an error, not a wrapped-around small number", "[tensor]") {
  REQUIRE(shape_numel({3, 4, 5}) == 60);
  REQUIRE(shape_numel({}) == 1);
  REQUIRE(shape_numel({0, int64_t{1} << 62, 7}) == 0);
  REQUIRE_THROWS_WITH(shape_numel({3, 6148914691236517206}),
                      Catch::Contains("[3, 6148914691236517206]") && Catch::Contains("more elements than an int64"));
  REQUIRE_THROWS_AS(empty({int64_t{1} << 32, int64_t{1} << 32}), std::overflow_error);
}
