#include "tensor/distributed/agreement.h"

#include <fmt/format.h>

#include <string>

#include "tensor/distributed/dist.h"

namespace focus::dist {

void on_every_rank(const std::function<void()>& work) {
  if (world_size() == 1) {
    work();
    return;
  }
  std::string error;
  try {
    work();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "an error without a message";
  }
  // The lowest failing rank (world_size() when none failed) speaks for the job.
  const int64_t first_failure =
      all_reduce(static_cast<int64_t>(error.empty() ? world_size() : rank()), ReduceOp::Min);
  if (first_failure == world_size()) return;
  const int failed = static_cast<int>(first_failure);
  const std::string message = broadcast(error, failed);
  throw JobError(failed == 0 ? message : fmt::format("rank {}: {}", failed, message), failed);
}

void on_main_rank(const std::function<void()>& work) {
  on_every_rank([&] {
    if (is_main()) work();
  });
}

}  // namespace focus::dist
