// A small fixed pool of threads that mask expansion spreads over (the
// server's unmasking, the client's k + 1 masks): ParallelFor(count, task)
// runs task(0..count-1), each exactly once, on the calling thread and the
// pool's workers, and returns when every task has returned.
//
// Guarantees: the caller always takes part and can finish its own batch
// alone, so ParallelFor never waits on another caller's work and never
// deadlocks, whatever the number of concurrent callers (the simulation runs
// many virtual clients at once). No thread is created per call: workers
// start with the pool and are joined by its destructor. At most
// min(threads(), thread_limit()) threads run one batch.
// Refuses nothing; tasks must not throw, and must not call ParallelFor on the
// same pool (a nested call would still finish, on the caller alone, but
// helpers could be tied up).
// Thread-safety: ParallelFor and SetThreadLimit are safe from any thread.
#ifndef FEDLEARN_COMMON_SECAGG_MASK_WORKER_POOL_H_
#define FEDLEARN_COMMON_SECAGG_MASK_WORKER_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"

namespace fedlearn {

class MaskWorkerPool {
 public:
  // The shared pool's size cap: mask expansion is AES-bound, so more threads
  // than cores only add switching.
  static constexpr int kMaxSharedThreads = 8;

  // `threads` in total, the calling thread included: threads - 1 workers.
  // REQUIRES: threads >= 1.
  explicit MaskWorkerPool(int threads);
  // Stops and joins the workers. REQUIRES: no ParallelFor in progress.
  ~MaskWorkerPool();
  MaskWorkerPool(const MaskWorkerPool&) = delete;
  MaskWorkerPool& operator=(const MaskWorkerPool&) = delete;

  // The process-wide pool: min(hardware_concurrency, kMaxSharedThreads)
  // threads (at least 1), created on first use, joined at exit.
  static MaskWorkerPool& Shared();

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Batches started from now on use at most `limit` threads (clamped to
  // [1, threads()]); 1 runs every task on the caller. Default: threads().
  void SetThreadLimit(int limit);
  int thread_limit() const;

  void ParallelFor(size_t count, absl::FunctionRef<void(size_t)> task);

 private:
  struct Batch {
    Batch(size_t n, absl::FunctionRef<void(size_t)> t, int helpers)
        : count(n), task(t), max_helpers(helpers) {}
    const size_t count;
    const absl::FunctionRef<void(size_t)> task;
    const int max_helpers;        // workers allowed on this batch
    std::atomic<size_t> next{0};  // next unclaimed index
    int helpers = 0;              // workers inside RunTasks; guarded by mu_
  };

  static void RunTasks(Batch& batch);
  // A queued batch with unclaimed work and room for a helper, or null.
  Batch* FindWork() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable work_cv_;  // a batch was queued, or stop_
  std::condition_variable done_cv_;  // a helper left a batch
  std::deque<Batch*> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int> limit_;
  std::vector<std::thread> workers_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_MASK_WORKER_POOL_H_
