#pragma once
// Errors that every rank agrees on. When one rank of a job throws and the others go on, they wait
// forever in the next collective for a rank that will never join it. Work that can fail (checking
// a run folder, reading a checkpoint) runs inside on_every_rank or on_main_rank instead: if it
// throws anywhere, it throws everywhere, at the same point, and the job ends normally with one
// message.
//
//   dist::on_main_rank([&] { check_run_folder(out); });   // rank 0 looks; every rank learns the verdict
//   dist::on_every_rank([&] { load_checkpoint(file); });  // each rank reads; any failure stops all
//
//   } catch (const dist::JobError& e) {          // in main: every rank threw this one together
//     if (dist::is_main()) print(e.what());      // so rank 0 prints it once, and all return 1
#include <functional>
#include <stdexcept>

namespace focus::dist {

/// The error of one rank, thrown on every rank of the job at the same point. Its message is the
/// failing rank's (the lowest-numbered one, when several failed), prefixed with "rank R: " on a
/// world of several ranks when R is not 0.
class JobError : public std::runtime_error {
 public:
  JobError(const std::string& message, int failed_rank) : std::runtime_error(message), failed_rank_(failed_rank) {}
  /// The rank whose error this is.
  int failed_rank() const { return failed_rank_; }

 private:
  int failed_rank_;
};

/// Runs `work` on every rank. In a world of one it is just a call (its exception passes through
/// unchanged). With several ranks, every rank then learns whether any rank's `work` threw: if one
/// did, every rank throws JobError with that rank's message. Collective: every rank must call it.
void on_every_rank(const std::function<void()>& work);

/// Runs `work` on rank 0 only (files a run writes once); its exception becomes every rank's
/// JobError as above. Collective: every rank must call it.
void on_main_rank(const std::function<void()>& work);

}  // namespace focus::dist
