#pragma once
// A persistent pool of worker threads for the kernels (issue 5): the
// normal operator's y = Q x (core/symmetric_panels.hpp) runs every
// evaluation of a flow, ~60 us at paper 003's size (D = 1275), while starting
// a std::thread costs ~10-30 us. The pool starts its workers once; between
// calls they spin for a short while (a GD loop calls again within ~100 us)
// and then sleep on a condition variable, so an idle pool costs nothing;
// while spinning they yield the core now and then, at no measurable cost on
// a core of their own (tens of thousands of calls of the fused kernel, with
// and without), and so hand the core back where the scheduler put a worker
// beside the caller.
//
// run(tasks, task) calls task(k) for k = 0 .. tasks-1, each exactly once, on
// the workers and the calling thread, and returns when all are done. Task 0
// is always the caller's, so that the same part of a kernel's data stays on
// the same core from call to call; the others are claimed in increasing
// order by whichever thread is free, so a task's result must not depend on
// the thread that runs it; kernels that split
// their work into a fixed set of tasks (independent of the thread count) are
// then bitwise repeatable for any number of threads. The caller never waits
// for a worker that has not started (a descheduled worker on a busy machine
// only means the caller does more of the tasks itself).
//
// One run at a time: try_run() returns false without running anything when
// another thread is inside run(); the caller then does the work alone.
//
// fork(): the child has only the forking thread, so a pool made before the
// fork has no workers there, and its mutexes and condition variable are
// copies of the parent's, possibly in use by threads that do not exist:
// destroying one whose workers slept at the fork blocked the child forever
// (in pthread_cond_destroy, waiting for the copied waiters). In the child
// such a pool touches none of its own state: its runs go to the child's
// shared pool of the same size, started at the first run (so a loss made
// before the fork computes on live threads in the child), shared()
// replaces it, and its destructor leaves it as it is.
#include <functional>
#include <memory>

#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool {
public:
  /// `threads` counts the caller: threads - 1 workers are started (none for
  /// threads <= 1, where run() is a plain loop).
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return threads_; }

  /// The process's pool of `threads` threads, started at the first call and
  /// kept until the process exits (idle workers sleep). Losses and normal
  /// operators share it rather than each starting its own threads: every
  /// start is another chance for the scheduler to put a worker on the
  /// caller's core (it did, for a worker started right after the previous
  /// loss's had exited), where it runs only when the caller is preempted
  /// until the scheduler moves it. Concurrent users of one pool are safe:
  /// try_run() refuses all but one, and the others compute alone.
  static std::shared_ptr<WorkerPool> shared(int threads);

  /// Runs task(0), ..., task(tasks - 1) (see the header comment). Returns
  /// false, having run nothing, if another run is in progress.
  bool try_run(Index tasks, const std::function<void(Index)>& task);

private:
  struct Shared;
  int threads_;
  unsigned made_in_ = 0;  // the process's fork count when the pool was made
  std::unique_ptr<Shared> shared_;
};

}  // namespace flowsense
