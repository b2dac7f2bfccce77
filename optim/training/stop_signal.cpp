#include "optim/training/stop_signal.h"

#include <atomic>
#include <stdexcept>

#include "tensor/distributed/dist.h"

namespace focus::training {

namespace {
// A signal handler may only touch lock-free atomics; it cannot reach an object.
std::atomic<int> received{0};
std::atomic<bool> installed{false};

void on_signal(int number) {
  int expected = 0;
  if (received.compare_exchange_strong(expected, number)) return;
  // The second signal: the user means it. End the process the way the signal would have.
  std::signal(number, SIG_DFL);
  std::raise(number);
}
}  // namespace

StopSignal::StopSignal() {
  if (installed.exchange(true)) throw std::logic_error("StopSignal: another one is already installed");
  received = 0;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previous_interrupt_);
  sigaction(SIGTERM, &action, &previous_terminate_);
}

StopSignal::~StopSignal() {
  sigaction(SIGINT, &previous_interrupt_, nullptr);
  sigaction(SIGTERM, &previous_terminate_, nullptr);
  installed = false;
}

bool StopSignal::requested() const { return received.load() != 0; }
bool StopSignal::requested_on_any_rank() {
  if (dist::world_size() == 1) return requested();
  // One number per step: the highest signal any rank has seen, 0 when none.
  const int64_t number = dist::all_reduce(static_cast<int64_t>(received.load()), dist::ReduceOp::Max);
  if (number == 0) return false;  // a signal landing after the all-reduce counts at the next step
  int expected = 0;
  received.compare_exchange_strong(expected, static_cast<int>(number));
  return true;
}

int StopSignal::signal_number() const { return received.load(); }
const char* StopSignal::signal_name() const {
  switch (received.load()) {
    case SIGINT: return "Ctrl-C (SIGINT)";
    case SIGTERM: return "SIGTERM";
    default: return "no signal";
  }
}

}  // namespace focus::training
