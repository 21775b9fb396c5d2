#include "flowsense/core/worker_pool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace flowsense {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// How long an idle worker spins before it sleeps: longer than the gap
// between two kernel calls of a GD loop or a stepper (tens of microseconds),
// short enough that an idle pool does not hold a core of a shared machine.
constexpr auto spin_time = std::chrono::microseconds(200);

// The ticket packs the run's generation (high 32 bits) and the next unclaimed
// task (low 32 bits) into one atomic, so a worker claims a task of the run it
// saw or nothing: a claim with a stale generation fails its compare-exchange.
constexpr std::uint64_t index_mask = 0xffffffffull;
constexpr std::uint64_t closed = index_mask;  // no task claimable

// fork() copies only the thread that calls it: in the child, a pool made
// before the fork has no workers, and its mutexes may have been held by a
// worker at that moment (a sleeping worker takes one briefly), so touching
// them could block forever. Each pool remembers this count at its making;
// the child's fork handler increments it, so a pool can tell that it is a
// copy and leave its mutexes alone (header comment).
std::atomic<unsigned> fork_count{0};

std::mutex& shared_pools_mutex() {
  static std::mutex mutex;
  return mutex;
}

void register_fork_handlers() {
#if defined(__unix__) || defined(__APPLE__)
  // The map of shared pools is locked across fork(), so that the child finds
  // it consistent and its mutex free.
  static const bool registered = [] {
    pthread_atfork([] { shared_pools_mutex().lock(); }, [] { shared_pools_mutex().unlock(); },
                   [] {
                     fork_count.fetch_add(1, std::memory_order_relaxed);
                     shared_pools_mutex().unlock();
                   });
    return true;
  }();
  (void)registered;
#endif
}

}  // namespace

struct WorkerPool::Shared {
  std::atomic<std::uint64_t> ticket{closed};
  std::atomic<const std::function<void(Index)>*> task{nullptr};
  std::atomic<std::uint64_t> tasks{0};
  std::atomic<std::uint64_t> completed{0};
  std::atomic<int> sleeping{0};
  std::atomic<bool> stop{false};
  std::mutex run_mutex;  // one run at a time
  std::mutex sleep_mutex;
  std::condition_variable wake;
  std::vector<std::thread> workers;

  /// Claims and runs tasks of generation `gen` until none is left.
  void work(std::uint64_t gen) {
    std::uint64_t t = ticket.load(std::memory_order_acquire);
    for (;;) {
      if ((t >> 32) != gen) return;
      const std::uint64_t k = t & index_mask;
      if (k >= tasks.load(std::memory_order_relaxed)) return;
      if (ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        (*task.load(std::memory_order_relaxed))(static_cast<Index>(k));
        completed.fetch_add(1, std::memory_order_release);
        t = ticket.load(std::memory_order_acquire);
      }
    }
  }

  void worker_loop() {
    // Generation 0 is the pool's state at construction, before any run. Not
    // the ticket's generation when this thread gets to run: a run published
    // before then (the first try_run right after the constructor) would
    // count as seen, and the caller would do all of its tasks alone (the
    // normal operator's build of Q, the first run of a loss's pool, ran on
    // one thread that way).
    std::uint64_t seen = 0;
    auto idle_since = std::chrono::steady_clock::now();
    for (unsigned spins = 0;; ++spins) {
      if (stop.load(std::memory_order_relaxed)) return;
      const std::uint64_t t = ticket.load(std::memory_order_acquire);
      const std::uint64_t gen = t >> 32;
      if (gen != seen && (t & index_mask) != closed) {  // a new run, published
        seen = gen;
        work(gen);
        idle_since = std::chrono::steady_clock::now();
        continue;
      }
      cpu_relax();
      if (spins % 64 != 0) continue;
      // Give the core back now and then. The scheduler can put a worker on
      // the caller's core (it did, for one started ~0.1 ms after another
      // thread had exited on the other core); there, woken by a run, it
      // preempted the caller and spun its whole spin_time while the caller
      // could not publish the next run, and a loop of short runs took up to
      // twice as long until the worker was moved (problem 1's 2-thread GD:
      // 10-14 ms against ~7 ms; docs/performance_history.md). On a core of its own
      // the yield returns at once.
      std::this_thread::yield();
      if (std::chrono::steady_clock::now() - idle_since > spin_time) {
        std::unique_lock<std::mutex> lock(sleep_mutex);
        sleeping.fetch_add(1);
        wake.wait(lock, [&] { return stop.load() || (ticket.load() >> 32) != seen; });
        sleeping.fetch_sub(1);
      }
    }
  }
};

WorkerPool::WorkerPool(int threads)
    : threads_(threads < 1 ? 1 : threads), shared_(std::make_unique<Shared>()) {
  register_fork_handlers();
  made_in_ = fork_count.load(std::memory_order_relaxed);
  for (int k = 1; k < threads_; ++k) shared_->workers.emplace_back([s = shared_.get()] { s->worker_loop(); });
}

WorkerPool::~WorkerPool() {
  if (made_in_ != fork_count.load(std::memory_order_relaxed)) {
    // A copy made by fork(): its threads do not exist here and its mutexes
    // may be locked for good; joining or destroying them is undefined, so
    // they are left as they are (a few hundred bytes, once per fork).
    (void)shared_.release();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(shared_->sleep_mutex);
    shared_->stop.store(true);
  }
  shared_->wake.notify_all();
  for (auto& t : shared_->workers) t.join();
}

std::shared_ptr<WorkerPool> WorkerPool::shared(int threads) {
  register_fork_handlers();
  static std::map<int, std::shared_ptr<WorkerPool>> pools;
  std::lock_guard<std::mutex> lock(shared_pools_mutex());
  std::shared_ptr<WorkerPool>& pool = pools[threads < 1 ? 1 : threads];
  if (!pool || pool->made_in_ != fork_count.load(std::memory_order_relaxed))  // none yet, or a copy from before a fork
    pool = std::make_shared<WorkerPool>(threads);
  return pool;
}

bool WorkerPool::try_run(Index tasks, const std::function<void(Index)>& task) {
  // In a child of fork(), a pool made before it runs on the child's own pool
  // of the same size (started at the first such call), never on its copied
  // workers and mutexes.
  if (made_in_ != fork_count.load(std::memory_order_relaxed)) return shared(threads_)->try_run(tasks, task);
  Shared& s = *shared_;
  std::unique_lock<std::mutex> lock(s.run_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  if (tasks <= 0) return true;
  if (s.workers.empty() || tasks == 1) {
    for (Index k = 0; k < tasks; ++k) task(k);
    return true;
  }
  // Close the old generation before touching the task fields, so that a
  // worker still holding the old ticket cannot claim with the new fields.
  const std::uint64_t gen = (s.ticket.load() >> 32) + 1;
  s.ticket.store((gen << 32) | closed);
  s.task.store(&task, std::memory_order_relaxed);
  s.tasks.store(static_cast<std::uint64_t>(tasks), std::memory_order_relaxed);
  s.completed.store(0, std::memory_order_relaxed);
  // Task 0 is the caller's, taken before the run is published; the workers
  // start at task 1. Which thread runs which task then stays the same from
  // call to call (with one worker: the caller task 0, the worker task 1),
  // so a kernel whose tasks are fixed parts of its data finds each part in
  // the cache of the core that read it last time. When the workers could
  // also take task 0, a spinning worker that saw the run first took it: in
  // a loop of 2-task runs a few microseconds apart, task 0 changed threads
  // in 7,436 of 20,000 calls (docs/performance_history.md, "Two threads on
  // problem 1").
  s.ticket.store((gen << 32) | 1);  // seq_cst: publishes the fields above
  if (s.sleeping.load() > 0) {
    std::lock_guard<std::mutex> guard(s.sleep_mutex);
    s.wake.notify_all();
  }
  task(0);
  s.completed.fetch_add(1, std::memory_order_release);
  s.work(gen);
  while (s.completed.load(std::memory_order_acquire) < static_cast<std::uint64_t>(tasks)) cpu_relax();
  return true;
}

}  // namespace flowsense
