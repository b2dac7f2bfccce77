// DistributedDataParallel on any number of ranks: CTest runs this file as one process and again
// under `mpirun -np 2`. Each rank trains on its share of a global batch; a reference model in
// every process accumulates all the shares itself, scaled by 1/world (exact for 1, 2 and 4 ranks),
// so the replicas must match it bit for bit.
#include <catch2/catch.hpp>

#include <cstring>

#include "focus.h"
#include "nn/parallel/distributed_data_parallel.h"
#include "tensor/distributed/dist.h"

using namespace focus;
using Catch::Contains;

namespace {

std::shared_ptr<nn::Sequential> make_mlp() {
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(6, 16), std::make_shared<nn::ReLU>(),
                                          std::make_shared<nn::Linear>(16, 3));
}

std::shared_ptr<nn::Sequential> make_cnn() {
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Conv2d>(2, 4, 3), std::make_shared<nn::ReLU>(),
                                          std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 4 * 4, 3));
}

// A hash of every parameter's bytes: equal on all ranks iff the replicas are identical.
int64_t parameter_hash(const nn::Module& module) {
  uint64_t hash = 1469598103934665603ull;
  for (const auto& [name, p] : module.named_parameters()) {
    const std::vector<double> values = p.to(kFloat64).to_vector<double>();
    for (double v : values) {
      uint64_t bits = 0;
      std::memcpy(&bits, &v, sizeof bits);
      hash = (hash ^ bits) * 1099511628211ull;
    }
  }
  return static_cast<int64_t>(hash >> 1);
}

bool same_on_every_rank(int64_t value) {
  return dist::all_reduce(value, dist::ReduceOp::Max) == dist::all_reduce(value, dist::ReduceOp::Min);
}

// Trains `replica` with DDP (this rank's share) and `reference` alone (every share, scaled by
// 1/world) for `steps` steps; returns whether their parameters stayed bitwise equal.
template <typename MakeOptimizer>
bool replica_matches_reference(std::shared_ptr<nn::Sequential> replica, std::shared_ptr<nn::Sequential> reference,
                               const Shape& input_shape, MakeOptimizer make_optimizer, int steps,
                               nn::DistributedDataParallelOptions options = {}) {
  const int world = dist::world_size(), rank = dist::rank();
  nn::DistributedDataParallel ddp(*replica, options);
  reference->load_state_dict(replica->state_dict());  // rank 0's weights, which DDP just broadcast
  auto replica_optimizer = make_optimizer(*replica);
  auto reference_optimizer = make_optimizer(*reference);
  Generator data(2024);
  for (int step = 0; step < steps; ++step) {
    Shape global = input_shape;
    global[0] *= world;
    Tensor x = randn(global, {}, &data), labels = randint(0, 3, {global[0]}, kInt64, &data);
    const int64_t share = input_shape[0];
    replica_optimizer->zero_grad();
    nn::functional::cross_entropy(ddp(x.narrow(0, rank * share, share)), labels.narrow(0, rank * share, share))
        .backward();
    replica_optimizer->step();
    reference_optimizer->zero_grad();
    for (int r = 0; r < world; ++r)
      (nn::functional::cross_entropy((*reference)(x.narrow(0, r * share, share)), labels.narrow(0, r * share, share)) *
       (1.0 / world))
          .backward();
    reference_optimizer->step();
    if (parameter_hash(*replica) != parameter_hash(*reference)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("DDP: replicas match one process that accumulates every share, bit for bit", "[ddp]") {
  dist::init();
  auto sgd = [](nn::Module& m) { return std::make_unique<optim::SGD>(optim::groups_of(m), optim::SGDOptions{0.1, 0.9}); };
  auto adam = [](nn::Module& m) {
    optim::AdamOptions o;
    o.lr = 1e-2;
    return std::make_unique<optim::Adam>(optim::groups_of(m), o);
  };
  manual_seed(1);
  CHECK(replica_matches_reference(make_mlp(), make_mlp(), {8, 6}, sgd, 20));
  CHECK(replica_matches_reference(make_mlp(), make_mlp(), {8, 6}, adam, 20));
  CHECK(replica_matches_reference(make_cnn(), make_cnn(), {8, 2, 6, 6}, sgd, 20));
  CHECK(replica_matches_reference(make_cnn(), make_cnn(), {8, 2, 6, 6}, adam, 20));
}

TEST_CASE("DDP: N ranks x batch 8 train like one process on the whole batch of 8N, within 1e-5 per step", "[ddp]") {
  // The mean loss over 8N examples is the mean of N equal shares' means, so the gradients agree
  // mathematically; only the order of the float sums differs (one GEMM over 8N rows against N over
  // 8, then the all-reduce).
  dist::init();
  const int world = dist::world_size(), rank = dist::rank();
  auto sgd = [](nn::Module& m) { return std::make_unique<optim::SGD>(optim::groups_of(m), optim::SGDOptions{0.1, 0.9}); };
  auto adam = [](nn::Module& m) {
    optim::AdamOptions o;
    o.lr = 1e-2;
    return std::make_unique<optim::Adam>(optim::groups_of(m), o);
  };
  auto run = [&](std::shared_ptr<nn::Sequential> replica, std::shared_ptr<nn::Sequential> whole, const Shape& share_shape,
                 auto make_optimizer) {
    nn::DistributedDataParallel ddp(*replica);
    whole->load_state_dict(replica->state_dict());
    auto replica_optimizer = make_optimizer(*replica);
    auto whole_optimizer = make_optimizer(*whole);
    Generator data(77);
    double worst = 0;
    for (int step = 0; step < 20; ++step) {
      Shape global = share_shape;
      global[0] *= world;
      Tensor x = randn(global, {}, &data), labels = randint(0, 3, {global[0]}, kInt64, &data);
      const int64_t share = share_shape[0];
      replica_optimizer->zero_grad();
      Tensor rank_loss = nn::functional::cross_entropy(ddp(x.narrow(0, rank * share, share)),
                                                       labels.narrow(0, rank * share, share));
      rank_loss.backward();
      replica_optimizer->step();
      whole_optimizer->zero_grad();
      Tensor whole_loss = nn::functional::cross_entropy((*whole)(x), labels);
      whole_loss.backward();
      whole_optimizer->step();
      // The job's loss is the mean of the ranks' (equal shares).
      const double job_loss = dist::all_reduce(rank_loss.item<double>(), dist::ReduceOp::Mean);
      worst = std::max(worst, std::abs(job_loss - whole_loss.item<double>()) / std::abs(whole_loss.item<double>()));
      const auto mine = replica->parameters(), expected = whole->parameters();
      for (size_t i = 0; i < mine.size(); ++i) {
        const std::vector<float> got = mine[i].to_vector<float>(), want = expected[i].to_vector<float>();
        for (size_t k = 0; k < got.size(); ++k)
          worst = std::max(worst, std::abs(static_cast<double>(got[k]) - want[k]) / std::max(1.0, std::abs(double{want[k]})));
      }
    }
    return worst;
  };
  manual_seed(5);
  CHECK(run(make_mlp(), make_mlp(), {8, 6}, sgd) <= 1e-5);
  CHECK(run(make_mlp(), make_mlp(), {8, 6}, adam) <= 1e-5);
  CHECK(run(make_cnn(), make_cnn(), {8, 2, 6, 6}, sgd) <= 1e-5);
  CHECK(run(make_cnn(), make_cnn(), {8, 2, 6, 6}, adam) <= 1e-5);
}

TEST_CASE("DDP: overlapped and synchronous averaging, in one bucket or many, match the reference bit for bit",
          "[ddp]") {
  dist::init();
  auto sgd = [](nn::Module& m) { return std::make_unique<optim::SGD>(optim::groups_of(m), optim::SGDOptions{0.1, 0.9}); };
  using Options = nn::DistributedDataParallelOptions;
  // One bucket per parameter: several all-reduces in flight at once while backward goes on.
  for (bool overlap : {true, false}) {
    INFO("overlap_communication " << overlap);
    manual_seed(11);
    CHECK(replica_matches_reference(make_cnn(), make_cnn(), {8, 2, 6, 6}, sgd, 10, Options().overlap_communication(overlap)));
    CHECK(replica_matches_reference(make_cnn(), make_cnn(), {8, 2, 6, 6}, sgd, 10,
                                    Options().overlap_communication(overlap).first_bucket_bytes(1).bucket_cap_bytes(1)));
    CHECK(replica_matches_reference(make_mlp(), make_mlp(), {8, 6}, sgd, 10,
                                    Options().overlap_communication(overlap).first_bucket_bytes(64).bucket_cap_bytes(200)));
  }
}

TEST_CASE("DDP: with overlap, a bucket's mean reaches its gradients at the end of backward, not before", "[ddp]") {
  dist::init();
  if (dist::world_size() < 2) return;  // one rank averages nothing
  const int rank = dist::rank();
  for (bool overlap : {true, false}) {
    INFO("overlap_communication " << overlap);
    manual_seed(5);
    auto model = make_mlp();  // 0.weight, 0.bias, 2.weight, 2.bias: buckets {3}, {2}, {1}, {0}
    nn::DistributedDataParallel ddp(
        *model, nn::DistributedDataParallelOptions().overlap_communication(overlap).first_bucket_bytes(1).bucket_cap_bytes(1));
    // Registered after DDP's hook: when the first layer's weight is final, the last layer's bias
    // (bucket 0) has long been complete. Rank r's data differs, so its own gradient is not the mean.
    const Tensor last_bias = model->parameters()[3], first_weight = model->parameters()[0];
    std::vector<float> seen_during_backward;
    HookHandle spy = first_weight.register_post_accumulate_grad_hook(
        [&](Tensor&) { seen_during_backward = last_bias.grad().to_vector<float>(); });
    Generator data(70 + static_cast<uint64_t>(rank));
    Tensor x = randn({4, 6}, {}, &data), labels = randint(0, 3, {4}, kInt64, &data);
    Tensor own_gradient;
    {
      auto guard = ddp.no_sync();  // this rank's gradient alone, to compare with
      nn::functional::cross_entropy(ddp(x), labels).backward();
      own_gradient = last_bias.grad().clone();
    }
    model->zero_grad();
    nn::functional::cross_entropy(ddp(x), labels).backward();
    spy.remove();
    const std::vector<float> mean = last_bias.grad().to_vector<float>();
    CHECK(mean != own_gradient.to_vector<float>());
    if (overlap)
      CHECK(seen_during_backward == own_gradient.to_vector<float>());  // still being averaged
    else
      CHECK(seen_during_backward == mean);  // averaged as soon as its bucket was complete
  }
}

TEST_CASE("DDP: every rank starts from rank 0's weights and buffers, whatever its seed", "[ddp]") {
  dist::init();
  manual_seed(100 + static_cast<uint64_t>(dist::rank()));
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Conv2d>(2, 4, 3),
                                                std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::Flatten>());
  nn::DistributedDataParallel ddp(*model);
  CHECK(same_on_every_rank(parameter_hash(*model)));
  // Each rank's own data moves its running statistics; the next forward starts from rank 0's.
  Generator data(7 + static_cast<uint64_t>(dist::rank()));
  ddp(randn({4, 2, 5, 5}, {}, &data));
  ddp.before_forward();
  for (const auto& [name, buffer] : model->named_buffers()) {
    INFO(name);
    const std::vector<double> values = buffer.to(kFloat64).to_vector<double>();
    double checksum = 0;
    for (size_t i = 0; i < values.size(); ++i) checksum += values[i] * static_cast<double>(i + 1);
    CHECK(dist::all_reduce(checksum, dist::ReduceOp::Max) == dist::all_reduce(checksum, dist::ReduceOp::Min));
  }
}

TEST_CASE("DDP: buckets in reverse registration order, cut at the size cap", "[ddp]") {
  dist::init();
  auto model = make_mlp();  // 0.weight, 0.bias, 2.weight, 2.bias
  nn::DistributedDataParallel one_each(*model, nn::DistributedDataParallelOptions().first_bucket_bytes(1).bucket_cap_bytes(1));
  CHECK(one_each.bucket_assignment() == std::vector<std::vector<int64_t>>{{3}, {2}, {1}, {0}});
}

TEST_CASE("DDP: bucket assignment with the default sizes keeps a small model in one bucket", "[ddp]") {
  dist::init();
  auto model = make_mlp();
  nn::DistributedDataParallel ddp(*model);
  CHECK(ddp.bucket_assignment() == std::vector<std::vector<int64_t>>{{3, 2, 1, 0}});
}

// A replica wrapped in DDP and an unwrapped reference with the same weights, which takes every
// rank's share of the batch itself. Members start in order: MPI, then the seed, then the models.
struct ReplicaAndReference {
  int world = (dist::init(), dist::world_size()), rank = dist::rank();
  std::shared_ptr<nn::Sequential> model = (manual_seed(3), make_mlp()), reference = make_mlp();
  nn::DistributedDataParallel ddp{*model};
  ReplicaAndReference() { reference->load_state_dict(model->state_dict()); }
};

TEST_CASE_METHOD(ReplicaAndReference, "DDP: no_sync accumulates locally, the next backward averages the sum",
                 "[ddp]") {
  Generator data(5);
  std::vector<Tensor> xs, ys;
  for (int micro = 0; micro < 3; ++micro) xs.push_back(randn({4 * world, 6}, {}, &data)), ys.push_back(randint(0, 3, {4 * world}, kInt64, &data));
  auto loss_of = [&](nn::Module& m, const Tensor& x, const Tensor& y) {
    return nn::functional::cross_entropy(dynamic_cast<nn::Sequential&>(m)(x), y);
  };
  {
    auto guard = ddp.no_sync();
    for (int micro = 0; micro < 2; ++micro) loss_of(*model, xs[micro].narrow(0, 4 * rank, 4), ys[micro].narrow(0, 4 * rank, 4)).backward();
    // Local gradients only: with two ranks and different data they differ.
    if (world > 1) CHECK_FALSE(same_on_every_rank(static_cast<int64_t>(model->parameters()[0].grad().sum().item<double>() * 1e6)));
  }
  loss_of(*model, xs[2].narrow(0, 4 * rank, 4), ys[2].narrow(0, 4 * rank, 4)).backward();
  for (int micro = 0; micro < 3; ++micro)
    for (int r = 0; r < world; ++r)
      (loss_of(*reference, xs[micro].narrow(0, 4 * r, 4), ys[micro].narrow(0, 4 * r, 4)) * (1.0 / world)).backward();
  // The same sum in another order ((a + b) + c per rank, then over ranks): equal to rounding.
  const auto mine = model->parameters(), expected = reference->parameters();
  for (size_t i = 0; i < mine.size(); ++i) {
    const std::vector<float> got = mine[i].grad().to_vector<float>(), want = expected[i].grad().to_vector<float>();
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < got.size(); ++k) CHECK(got[k] == Approx(want[k]).margin(1e-6).epsilon(1e-5));
  }
  CHECK(same_on_every_rank(parameter_hash(*model)));
}

namespace {
// An identity op whose backward fails: it sits under the model, so its backward runs last, after
// every parameter's gradient (and DDP's hooks) but before the end of backward.
class FailingBackward : public Node {
 public:
  std::string name() const override { return "FailingBackward"; }
  std::vector<Tensor> backward(const std::vector<Tensor>&) override {
    throw std::runtime_error("a backward that fails");
  }
};
Tensor with_failing_backward(const Tensor& x) {
  Tensor y = kernels::contiguous_copy(x);
  connect(std::make_shared<FailingBackward>(), {x}, {y});
  return y;
}
}  // namespace

TEST_CASE_METHOD(ReplicaAndReference, "DDP: a backward that throws midway leaves nothing behind for the next step",
                 "[ddp]") {
  Generator data(11);
  const Tensor x = randn({4 * world, 6}, {}, &data), y = randint(0, 3, {4 * world}, kInt64, &data);
  // Every rank fails at the same point, after its buckets have started.
  Tensor failing = x.narrow(0, 4 * rank, 4).clone().requires_grad_();
  CHECK_THROWS_WITH(nn::functional::cross_entropy(ddp(with_failing_backward(failing)), y.narrow(0, 4 * rank, 4)).backward(),
                    Contains("a backward that fails"));
  // The next step averages as if the failed one had never happened.
  model->zero_grad();
  nn::functional::cross_entropy(ddp(x.narrow(0, 4 * rank, 4)), y.narrow(0, 4 * rank, 4)).backward();
  for (int r = 0; r < world; ++r)
    (nn::functional::cross_entropy((*reference)(x.narrow(0, 4 * r, 4)), y.narrow(0, 4 * r, 4)) * (1.0 / world))
        .backward();
  const auto mine = model->parameters(), expected = reference->parameters();
  for (size_t i = 0; i < mine.size(); ++i) {
    const std::vector<float> got = mine[i].grad().to_vector<float>(), want = expected[i].grad().to_vector<float>();
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < got.size(); ++k) CHECK(got[k] == Approx(want[k]).margin(1e-7).epsilon(1e-6));
  }
}

namespace {
// Branch `a` always runs; `b` only where the caller says; `c` never.
struct Branches : nn::Module {
  std::shared_ptr<nn::Linear> a, b, c;
  Branches() {
    a = register_module("a", std::make_shared<nn::Linear>(3, 2));
    b = register_module("b", std::make_shared<nn::Linear>(3, 2));
    c = register_module("c", std::make_shared<nn::Linear>(3, 2));
  }
  std::string type_name() const override { return "Branches"; }
  Tensor forward(const Tensor& x, bool use_b) { return use_b ? (*a)(x) + (*b)(x) : (*a)(x); }
};
}  // namespace

TEST_CASE("DDP: parameters unused on some ranks never hang, unused everywhere keep no gradient", "[ddp]") {
  dist::init();
  const bool overlap = GENERATE(true, false);
  INFO("overlap_communication " << overlap);
  manual_seed(9);
  Branches model;
  nn::DistributedDataParallel ddp(model, nn::DistributedDataParallelOptions().overlap_communication(overlap));
  optim::AdamOptions o;
  o.lr = 0.1;
  optim::Adam adam(optim::groups_of(model), o);
  const Tensor c_before = model.c->weight.clone();
  const bool use_b = dist::rank() == 1;  // only rank 1 (when there is one) takes branch b
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    Tensor x = full({4, 3}, 1.0 + dist::rank());
    sum(ddp.forward([&] { return model.forward(x, use_b); })).backward();
    adam.step();
  }
  CHECK(model.a->weight.grad().defined());
  CHECK(model.b->weight.grad().defined() == (dist::world_size() > 1));  // rank 1's gradient reaches rank 0 too
  CHECK_FALSE(model.c->weight.grad().defined());
  CHECK(model.c->weight.to_vector<float>() == c_before.to_vector<float>());  // Adam did not move it
  CHECK(same_on_every_rank(parameter_hash(model)));
}

TEST_CASE("DDP: ranks that build different models get an error naming the difference, not a hang", "[ddp]") {
  dist::init();
  if (dist::world_size() < 2) return;  // needs a second rank to differ from
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, dist::rank() == 1 ? 5 : 4));
  CHECK_THROWS_WITH(nn::DistributedDataParallel(*model),
                    Contains("models differ") && Contains("rank 0 has parameter 0.weight [4, 4]") &&
                        Contains("rank 1 has parameter 0.weight [5, 4]"));
}
