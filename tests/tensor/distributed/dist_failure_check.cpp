// One failing rank ends the whole job quickly and says why, instead of leaving the others waiting
// in an all-reduce forever. Runs `rank_failure` under mpirun (RANK_FAILURE_EXE, MPIEXEC).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "../../run_command.h"

namespace {

using Job = focus::testing::CommandResult;

// Two ranks of rank_failure in `mode`, both ranks' output and mpirun's in one text.
Job run_job(const std::string& mode, const std::string& mpirun_options = "") {
  // Test machines run as root, which Open MPI refuses without these; one thread per rank.
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  setenv("OMP_NUM_THREADS", "1", 1);
  return focus::testing::run_command(std::string(MPIEXEC) + " -np 2 --oversubscribe --bind-to none " +
                                     mpirun_options + " " + RANK_FAILURE_EXE + " " + mode + " 2>&1");
}

}  // namespace

TEST_CASE("dist: a job whose ranks all finish exits 0", "[dist][failure]") {
  const Job job = run_job("none");
  INFO(job.output);
  CHECK(job.status == 0);
  CHECK(job.output.find("finished: 64") != std::string::npos);  // 1 → 2 → 4 … over 6 all-reduces of 2 ranks
}

TEST_CASE("dist: an exception on one rank ends the job non-zero within 10 s, with its message", "[dist][failure]") {
  const Job job = run_job("throw");
  INFO(job.output);
  CHECK(job.status != 0);
  CHECK(job.seconds < 10);
  CHECK(job.output.find("rank 1 fails at step 3") != std::string::npos);
}

TEST_CASE("dist: dist::abort ends every rank with its code and names the rank", "[dist][failure]") {
  const Job job = run_job("abort");
  INFO(job.output);
  CHECK(job.status != 0);
  CHECK(job.seconds < 10);
  CHECK(job.output.find("rank 1 of 2: rank 1 gives up at step 3") != std::string::npos);
}

TEST_CASE("dist: a stalled rank ends the job at mpirun's --timeout", "[dist][failure]") {
  const Job job = run_job("stall", "--timeout 5");
  INFO(job.output);
  CHECK(job.status != 0);
  CHECK(job.seconds < 15);
}
