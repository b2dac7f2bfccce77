#pragma once
// Ctrl-C and SIGTERM as a request to stop, so a training loop can save before it ends.
#include <csignal>

namespace focus::training {

/// While one of these lives, SIGINT (Ctrl-C) and SIGTERM (`kill`, a batch scheduler's time
/// limit) no longer end the process: they set a flag that the loop polls between steps, so it
/// can save `last.safetensors` and return. A second signal of either kind ends the process at
/// once, as if no handler were installed (for a loop that never polls). The destructor puts
/// back the handlers that were there before. Only one may live at a time.
class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  /// Whether a signal has arrived since construction.
  bool requested() const;
  /// Whether a signal has arrived on any rank of the job (tensor/distributed/dist.h): every
  /// rank calls it after the same step and gets the same answer, so all stop together even when
  /// the signal reached only some of them, or reached them between different steps. A rank that
  /// got none takes on the other's signal (its name and exit code). With one rank: requested().
  bool requested_on_any_rank();
  /// The signal that arrived (SIGINT or SIGTERM), 0 when none.
  int signal_number() const;
  /// The exit status a shell gives a process ended by that signal: 128 + its number (130 for
  /// Ctrl-C, 143 for SIGTERM).
  int exit_code() const { return 128 + signal_number(); }
  /// "Ctrl-C (SIGINT)" / "SIGTERM".
  const char* signal_name() const;

 private:
  struct sigaction previous_interrupt_ {};
  struct sigaction previous_terminate_ {};
};

}  // namespace focus::training
