#include "tensor/distributed/comm_thread.h"

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace focus::dist {

namespace {

// The Work of a queued job: done once the communication thread has run it.
class QueuedWork final : public Work::Impl {
 public:
  explicit QueuedWork(std::function<void()> after_wait) : after_wait_(std::move(after_wait)) {}

  // Called by the communication thread; never throws, so an error cannot end that thread.
  void finish(std::exception_ptr error) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
      error_ = std::move(error);
    }
    done_changed_.notify_all();
  }

  bool completed() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }

  void wait() override {
    std::unique_lock<std::mutex> lock(mutex_);
    done_changed_.wait(lock, [&] { return done_; });
    if (error_) std::rethrow_exception(error_);
    if (after_wait_) {
      // Taken out first: if it throws, a second wait() does not run it again.
      std::function<void()> step = std::move(after_wait_);
      after_wait_ = nullptr;
      step();
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::exception_ptr error_;
  std::function<void()> after_wait_;
};

class CommThread {
 public:
  Work submit(std::function<void()> job, std::function<void()> after_wait) {
    auto work = std::make_shared<QueuedWork>(std::move(after_wait));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // While stop() waits, the ending thread still runs what is queued (in order): no second one.
      if (!thread_.joinable() && !stopping_) start();
      queue_.emplace_back(std::move(job), work);
    }
    queue_changed_.notify_all();
    return Work(work);
  }

  void run_in_order(const std::function<void()>& job) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (queue_.empty() && !busy_) {
      // Nothing ahead of it. Holding the lock while it runs keeps a job queued meanwhile (from
      // another thread) behind it, as the order of issue says.
      job();
      return;
    }
    lock.unlock();
    submit(job, {}).wait();
  }

  void stop() {
    std::thread ending;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!thread_.joinable()) return;
      stopping_ = true;
      ending = std::move(thread_);
    }
    queue_changed_.notify_all();
    ending.join();
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
    if (!queue_.empty()) start();  // queued after the thread saw an empty queue and ended
  }

 private:
  // Under mutex_.
  void start() {
    thread_ = std::thread([this] { loop(); });
    // At exit, before dist::finalize's MPI_Finalize (registered earlier, so run later), and before
    // the std::thread's destructor could see a running thread (this object is never destroyed).
    static const bool registered = (std::atexit(stop_comm_thread), true);
    (void)registered;
  }

  void loop() {
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex_);
      queue_changed_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      auto [job, work] = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      std::exception_ptr error;
      try {
        job();
      } catch (...) {
        error = std::current_exception();
      }
      job = nullptr;  // what it captured goes now, not when the next job replaces it
      lock.lock();
      busy_ = false;
      lock.unlock();
      work->finish(std::move(error));
    }
  }

  std::mutex mutex_;
  std::condition_variable queue_changed_;
  std::deque<std::pair<std::function<void()>, std::shared_ptr<QueuedWork>>> queue_;
  bool busy_ = false;      // a job is running on the thread
  bool stopping_ = false;  // stop() waits for the queue to empty
  std::thread thread_;
};

// Never destroyed: the thread it owns is ended by stop_comm_thread (at exit at the latest), and a
// static's destructor would run too late or in the wrong order for that.
CommThread& comm_thread() {
  static CommThread* thread = new CommThread();
  return *thread;
}

}  // namespace

Work run_on_comm_thread(std::function<void()> job, std::function<void()> after_wait) {
  return comm_thread().submit(std::move(job), std::move(after_wait));
}

void run_in_comm_order(const std::function<void()>& job) { comm_thread().run_in_order(job); }

void stop_comm_thread() { comm_thread().stop(); }

}  // namespace focus::dist
