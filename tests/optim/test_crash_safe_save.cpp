// Crash-safe saves: whatever moment a save dies at (SIGKILL at every step of the atomic writer,
// and at random moments from outside), and whatever way the disk refuses it (a file size limit, a
// full tmpfs, a folder that cannot take the file), the file that was there still loads, bit for
// bit, and `resume` picks it, never a temporary file a killed save left behind.
#include <catch2/catch.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "../datasets/temp_directory.h"
#include "datasets/vocab.h"
#include "focus.h"
#include "nn/serialize.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "optim/training/checkpoint.h"
#include "optim/training/training_run.h"
#include "tensor/atomic_file.h"
#include "tensor/parallel.h"

using namespace focus;
using namespace focus::training;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

// Big enough that its checkpoint (weights and both Adam moments, about 3.3 MiB) is written in many
// pieces of at most 1 MiB, each a point at which a save can die: the features' weight matrix alone
// (1.06 MiB) takes two.
struct Net : nn::Module {
  std::shared_ptr<nn::Linear> features, head;
  explicit Net(Generator& gen) {
    features = register_module("features", std::make_shared<nn::Linear>(nn::LinearOptions(1024, 272), &gen));
    head = register_module("head", std::make_shared<nn::Linear>(nn::LinearOptions(272, 10), &gen));
  }
  std::string type_name() const override { return "Net"; }
  Tensor forward(const Tensor& x) { return (*head)(relu((*features)(x))); }
};

// Everything the training kit puts in a checkpoint: the model, Adam with its moments, a
// scheduler, the generator and the run's counters. Each seed gives a checkpoint of its own bytes.
struct Kit {
  Generator gen;
  Net model{gen};
  optim::Adam optimizer{optim::groups_of(model), optim::AdamOptions{1e-3}};
  optim::StepLR scheduler{optimizer, 1, 0.5};
  TrainingState state;

  Kit(uint64_t seed, int64_t epochs) : gen(seed) {
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      Tensor x = randn({8, 1024}, {}, &gen), target = randn({8, 10}, {}, &gen);
      optimizer.zero_grad();
      mean(pow(model.forward(x) - target, 2.0)).backward();
      optimizer.step();
      scheduler.step();
    }
    state.epoch = state.global_step = epochs;
  }
  void save(const fs::path& path) const { save_checkpoint(path.string(), model, optimizer, &scheduler, &gen, state); }
};

// How a child process ended, and what it wrote to stderr.
struct ChildEnd {
  int status = 0;
  std::string output;
  bool killed() const { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
  int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
};

constexpr int kThrew = 3;    // the child's work threw; its message is the output
constexpr int kSkipped = 4;  // the child could not set up what it needed; the reason is the output

void write_to_stderr(const std::string& text) {
  [[maybe_unused]] const ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
}

// Runs `work` in a forked child whose stderr comes back through a pipe. The child ends with exit
// code 0, or kThrew after writing the exception's message; with `kill_after` (seconds) the parent
// SIGKILLs it from outside then. The child leaves by _exit: no Catch2 or atexit code runs twice.
ChildEnd run_in_child(const std::function<void()>& work, double kill_after = -1) {
  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  std::fflush(nullptr);  // nothing buffered in the parent is written twice
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_ends[0]);
    ::dup2(pipe_ends[1], STDERR_FILENO);
    ::close(pipe_ends[1]);
    int code = 0;
    try {
      work();
    } catch (const std::exception& e) {
      write_to_stderr(e.what());
      code = kThrew;
    }
    ::_exit(code);
  }
  ::close(pipe_ends[1]);
  if (kill_after >= 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(kill_after));
    ::kill(pid, SIGKILL);
  }
  ChildEnd end;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(pipe_ends[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    end.output.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_ends[0]);
  while (::waitpid(pid, &end.status, 0) < 0 && errno == EINTR) {
  }
  return end;
}

// The whole file as bytes ("" when it cannot be read), in one read: the sanitized build runs
// this test's own code unoptimised, where a byte-by-byte stream iterator is slow.
std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  std::string bytes(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

std::vector<std::string> names_in(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Removes what killed saves of `target` left in its folder and returns how many there were. Each
// must be a hidden ".<target>.<...>.tmp", a name no loader and no `resume` takes for a checkpoint.
int remove_temporary_files(const fs::path& target) {
  const std::string name = target.filename().string();
  int count = 0;
  for (const std::string& other : names_in(target.parent_path())) {
    if (other == name) continue;
    INFO("left in the folder: " << other);
    CHECK(other.rfind("." + name + ".", 0) == 0);
    CHECK(other.size() > 4);
    CHECK(other.substr(other.size() - 4) == ".tmp");
    fs::remove(target.parent_path() / other);
    ++count;
  }
  return count;
}

// Same names, dtypes, shapes and bytes.
bool same_tensors(const nn::StateDict& a, const nn::StateDict& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Tensor x = a[i].second.contiguous(), y = b[i].second.contiguous();
    if (a[i].first != b[i].first || x.dtype() != y.dtype() || x.shape() != y.shape() ||
        std::memcmp(x.data_ptr(), y.data_ptr(), static_cast<size_t>(x.numel()) * element_size(x.dtype())) != 0)
      return false;
  }
  return true;
}

// `resume` from the run folder restores `expected`: its epoch, weights, Adam moments and generator.
void require_resumes_as(const fs::path& run_folder, const Kit& expected) {
  Kit fresh(99, 0);
  RunOptions options;
  options.resume = run_folder;
  options.epochs = 100;
  TrainingRun run(options, fresh.model, fresh.optimizer, &fresh.scheduler, &fresh.gen);
  REQUIRE(run.state().epoch == expected.state.epoch);
  REQUIRE(same_tensors(fresh.model.state_dict(), expected.model.state_dict()));
  REQUIRE(same_tensors(fresh.optimizer.state_dict().tensors, expected.optimizer.state_dict().tensors));
  REQUIRE(fresh.gen.state() == expected.gen.state());
}

// The step a FOCUS_TEST_KILL_SAVE_AT kill hit, from the line the writer wrote before dying.
std::string killed_step(const std::string& output) {
  const std::string marker = "killed after step '";
  const size_t begin = output.find(marker);
  if (begin == std::string::npos) return "";
  const size_t name = begin + marker.size();
  return output.substr(name, output.find('\'', name) - name);
}

// A file size limit of half the old file in a child (RLIMIT_FSIZE, with SIGXFSZ ignored, so
// write() fails with EFBIG part way, as on a full disk): `save_new` must throw naming the file and
// the error, the old file must be intact and no temporary file left.
void require_size_limit_keeps_old_file(const fs::path& path, const std::function<void()>& save_old,
                                       const std::function<void()>& save_new) {
  save_old();
  const std::string before = read_file(path);
  REQUIRE(before.size() > 16);
  const ChildEnd end = run_in_child([&] {
    const rlimit limit{before.size() / 2, before.size() / 2};
    ::signal(SIGXFSZ, SIG_IGN);
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(kSkipped);
    save_new();
  });
  INFO(end.output);
  REQUIRE(end.exit_code() == kThrew);
  CHECK_THAT(end.output, Contains(path.string()) && Contains("File too large"));
  REQUIRE(read_file(path) == before);
  REQUIRE(names_in(path.parent_path()) == std::vector<std::string>{path.filename().string()});
}

// A private mount namespace for this forked (so single-threaded) process, in which it may mount:
// directly where it may (root), otherwise inside a new user namespace in which it is root. False
// where the system allows neither.
bool enter_private_mount_namespace() {
  const std::string uid_map = "0 " + std::to_string(::geteuid()) + " 1";
  const std::string gid_map = "0 " + std::to_string(::getegid()) + " 1";
  if (::unshare(CLONE_NEWNS) != 0) {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return false;
    testing::write_file("/proc/self/setgroups", "deny");
    testing::write_file("/proc/self/uid_map", uid_map);
    testing::write_file("/proc/self/gid_map", gid_map);
  }
  // Our tmpfs must not appear in the parent's namespace.
  return ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}

// A real full disk: in a child, a tmpfs over the file's folder with room for one copy of the old
// file but not for a second, so the new file cannot be written while the old one stays (ENOSPC).
// Skipped, with a warning, where the system lets no process mount.
void require_full_tmpfs_keeps_old_file(const fs::path& path, const std::function<void()>& save_old,
                                       const std::function<void()>& save_new) {
  save_old();
  const size_t old_size = read_file(path).size();
  const ChildEnd end = run_in_child([&] {
    const std::string options = "size=" + std::to_string(old_size * 3 / 2);
    if (!enter_private_mount_namespace() ||
        ::mount("tmpfs", path.parent_path().c_str(), "tmpfs", 0, options.c_str()) != 0) {
      write_to_stderr(std::string("cannot mount a tmpfs: ") + std::strerror(errno));
      ::_exit(kSkipped);
    }
    save_old();
    const std::string before = read_file(path);
    try {
      save_new();
    } catch (const std::exception& e) {
      write_to_stderr(e.what());
      if (read_file(path) != before) throw std::runtime_error("\nthe old file changed");
      if (names_in(path.parent_path()).size() != 1) throw std::runtime_error("\na temporary file was left");
      return;
    }
    throw std::runtime_error("the save onto a full disk did not fail");
  });
  if (end.exit_code() == kSkipped) {
    WARN("full-disk check on a tmpfs skipped: " << end.output);
    return;
  }
  INFO(end.output);
  REQUIRE(end.exit_code() == 0);
  CHECK_THAT(end.output, Contains(path.string()) && Contains("No space left on device"));
}

// Two checkpoints of one run: A saved as run/last.safetensors, B (other weights and state) beside
// the folder, with the bytes of both. The kill tests (a Catch fixture each) save B over A and kill
// the save.
struct TwoCheckpoints {
  // First, before the checkpoints train: fork() copies only the calling thread, so no OpenMP pool
  // may be running.
  int threads = (set_num_threads(1), 1);
  testing::TempDirectory dir;
  fs::path path;
  Kit a{1, 1}, b{2, 2};
  std::string a_bytes, b_bytes;
  TwoCheckpoints() : dir("crash-safe"), path(dir / "run" / "last.safetensors") {
    fs::create_directories(dir / "run");
    a.save(path);
    b.save(dir / "b.safetensors");
    a_bytes = read_file(path);
    b_bytes = read_file(dir / "b.safetensors");
  }
};

}  // namespace

TEST_CASE_METHOD(TwoCheckpoints, "a save killed at any step leaves the previous checkpoint, bit for bit",
                 "[crash_safe_save]") {
  REQUIRE(a_bytes != b_bytes);

  // Kill point n is the writer's n-th step (FOCUS_TEST_KILL_SAVE_AT); the first n at which the
  // child finishes its save is past the last step.
  std::map<std::string, int> kills_at;
  int step = 1;
  for (;; ++step) {
    REQUIRE(step < 200);
    if (read_file(path) != a_bytes) write_file_atomically(path, a_bytes);
    const ChildEnd end = run_in_child([&] {
      ::setenv("FOCUS_TEST_KILL_SAVE_AT", std::to_string(step).c_str(), 1);
      b.save(path);
    });
    INFO("kill point " << step << ": " << end.output);
    if (end.exit_code() == 0) break;
    REQUIRE(end.killed());
    const std::string killed_at = killed_step(end.output);
    ++kills_at[killed_at];
    // Until the rename the old checkpoint is the file; from the rename on, the new one.
    const bool renamed = killed_at == "renamed" || killed_at == "folder synced";
    REQUIRE(read_file(path) == (renamed ? b_bytes : a_bytes));
    require_resumes_as(path.parent_path(), renamed ? b : a);
    REQUIRE(remove_temporary_files(path) == (renamed ? 0 : 1));
  }
  REQUIRE(read_file(path) == b_bytes);  // the save that was not killed
  REQUIRE(remove_temporary_files(path) == 0);
  INFO("kill points: " << step - 1);
  for (const char* name : {"created", "synced", "closed", "renamed", "folder synced"}) CHECK(kills_at[name] == 1);
  // The length, the header, then each tensor in pieces of at most 1 MiB: every piece a point.
  int pieces = 2;
  for (const auto& [name, tensor] : nn::load_safetensors(path.string()).tensors) {
    const int64_t bytes = tensor.numel() * static_cast<int64_t>(element_size(tensor.dtype()));
    pieces += static_cast<int>((bytes + (1 << 20) - 1) >> 20);
  }
  CHECK(kills_at["wrote"] == pieces);
  CHECK(kills_at.size() == 6);
}

TEST_CASE_METHOD(TwoCheckpoints, "a save killed at random moments leaves the old or the new checkpoint, never a mix",
                 "[crash_safe_save]") {

  // How long one save takes here, so that the kills spread over whole saves.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) b.save(dir / "b.safetensors");
  const double save_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 3;

  std::mt19937 random(2024);
  std::uniform_real_distribution<double> delay(0, 3 * save_seconds);
  int killed_mid_save = 0;
  for (int kill = 0; kill < 20; ++kill) {
    // The child saves B and A in turn until it is killed.
    const ChildEnd end = run_in_child(
        [&] {
          for (;;) b.save(path), a.save(path);
        },
        delay(random));
    INFO("kill " << kill << ": " << end.output);
    REQUIRE(end.killed());
    const std::string now = read_file(path);
    REQUIRE((now == a_bytes || now == b_bytes));
    require_resumes_as(path.parent_path(), now == a_bytes ? a : b);
    killed_mid_save += remove_temporary_files(path);
  }
  INFO("one save takes " << save_seconds << " s; kills that hit a save before its rename: " << killed_mid_save);
  CHECK(killed_mid_save >= 1);
}

TEST_CASE("a full disk leaves the previous file untouched and says so", "[crash_safe_save]") {
  set_num_threads(1);
  testing::TempDirectory dir("crash-safe-full-disk");
  const Kit a(1, 1), b(2, 2);

  SECTION("training checkpoint") {
    const fs::path path = dir / "last.safetensors";
    auto save_a = [&] { a.save(path); };
    auto save_b = [&] { b.save(path); };
    require_size_limit_keeps_old_file(path, save_a, save_b);
    require_full_tmpfs_keeps_old_file(path, save_a, save_b);
  }
  SECTION("safetensors weights (nn::save)") {
    const fs::path path = dir / "model.safetensors";
    auto save_a = [&] { nn::save(a.model, path.string()); };
    auto save_b = [&] { nn::save(b.model, path.string()); };
    require_size_limit_keeps_old_file(path, save_a, save_b);
    require_full_tmpfs_keeps_old_file(path, save_a, save_b);
    Generator other(5);
    Net loaded(other);
    nn::load(loaded, path.string());
    REQUIRE(same_tensors(loaded.state_dict(), a.model.state_dict()));
  }
  SECTION("vocabulary") {
    std::vector<std::string> words;
    for (int i = 0; i < 500; ++i) words.push_back("word" + std::to_string(i));
    const data::Vocab old_vocab = data::Vocab::from_tokens(words);
    words.push_back("one-more");
    const data::Vocab new_vocab = data::Vocab::from_tokens(words);
    const fs::path path = dir / "vocab.txt";
    require_size_limit_keeps_old_file(
        path, [&] { old_vocab.save(path.string()); }, [&] { new_vocab.save(path.string()); });
    REQUIRE(data::Vocab::load(path.string()).size() == old_vocab.size());
  }
}

TEST_CASE("a save that cannot create or replace its file names it and changes nothing", "[crash_safe_save]") {
  testing::TempDirectory dir("crash-safe-refused");
  Generator gen(1);
  Net model(gen);

  // No such folder, and a "folder" that is a file: opening the temporary file fails.
  const fs::path missing = dir / "no-such-folder" / "model.safetensors";
  REQUIRE_THROWS_WITH(nn::save(model, missing.string()),
                      Contains("cannot write " + missing.string()) && Contains("No such file or directory"));
  REQUIRE_FALSE(fs::exists(dir / "no-such-folder"));
  testing::write_file(dir / "plain-file", "not a folder");
  const fs::path under_file = dir / "plain-file" / "model.safetensors";
  REQUIRE_THROWS_WITH(nn::save(model, under_file.string()),
                      Contains(under_file.string()) && Contains("Not a directory"));
  REQUIRE(read_file(dir / "plain-file") == "not a folder");

  // The target is a folder: the rename over it fails, and the temporary file goes.
  fs::create_directories(dir / "taken" / "model.safetensors");
  testing::write_file(dir / "taken" / "model.safetensors" / "inside", "kept");
  const fs::path taken = dir / "taken" / "model.safetensors";
  REQUIRE_THROWS_WITH(nn::save(model, taken.string()), Contains(taken.string()) && Contains("Is a directory"));
  REQUIRE(read_file(taken / "inside") == "kept");
  REQUIRE(names_in(dir / "taken") == std::vector<std::string>{"model.safetensors"});

  // A read-only folder refuses the temporary file (root may write anyway: checked only for others).
  if (::geteuid() != 0) {
    fs::create_directories(dir / "read-only");
    const fs::path path = dir / "read-only" / "model.safetensors";
    nn::save(model, path.string());
    const std::string before = read_file(path);
    fs::permissions(dir / "read-only", fs::perms::owner_read | fs::perms::owner_exec);
    REQUIRE_THROWS_WITH(nn::save(model, path.string()), Contains(path.string()) && Contains("Permission denied"));
    fs::permissions(dir / "read-only", fs::perms::owner_all);
    REQUIRE(read_file(path) == before);
  }
}
