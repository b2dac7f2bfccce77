// Training checkpoints (training::load_checkpoint into a small model, Adam and a cosine schedule):
// the safetensors layer below plus the optimizer's and scheduler's states, step counts, the
// generator's state and the epoch, all text in __metadata__. A refused file must leave the
// objects exactly as they were (the loader promises to validate before changing anything).
#include "focus.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "optim/training/checkpoint.h"
#include "tests/fuzz/fuzz_target.h"

namespace {
using namespace focus;

struct Run {
  Generator generator{7};
  nn::Linear model{nn::LinearOptions(3, 2), &generator};
  optim::Adam adam{{{model.parameters()}}, optim::AdamOptions{0.01}};
  optim::CosineAnnealingLR schedule{adam, 10};
};

std::string fingerprint(Run& run) {
  std::string text = run.generator.state();
  for (const auto& [name, tensor] : run.model.state_dict()) {
    const Tensor values = tensor.contiguous();
    text.append(static_cast<const char*>(values.data_ptr()), values.numel() * element_size(values.dtype()));
  }
  for (const auto& [key, value] : run.adam.state_dict().values) text += key + "=" + value + ";";
  for (const auto& [key, value] : run.schedule.state_dict()) text += key + "=" + value + ";";
  return text;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const focus::fuzz::InputFile input("checkpoint.safetensors");
  const std::string& path = input.write(data, size);
  Run run;
  const std::string before = fingerprint(run);
  bool refused = true;
  focus::fuzz::expect_clean(
      [&] {
        training::load_checkpoint(path, run.model, run.adam, &run.schedule, &run.generator);
        refused = false;
      },
      path);
  if (refused && fingerprint(run) != before) focus::fuzz::finding("a refused checkpoint changed the run", path);
  if (!refused) {  // what loaded must train on: one step with a finite input
    Tensor loss = sum(run.model.forward(ones({1, 3})));
    loss.backward();
    run.adam.step();
    run.schedule.step();
  }
  return 0;
}
