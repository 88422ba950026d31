#include "common/secagg/mask_worker_pool.h"

#include <algorithm>

namespace fedlearn {

MaskWorkerPool::MaskWorkerPool(int threads) : limit_(std::max(threads, 1)) {
  for (int i = 1; i < threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

MaskWorkerPool::~MaskWorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

MaskWorkerPool& MaskWorkerPool::Shared() {
  static MaskWorkerPool pool(
      std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1,
                 kMaxSharedThreads));
  return pool;
}

void MaskWorkerPool::SetThreadLimit(int limit) {
  limit_.store(std::clamp(limit, 1, threads()));
}

int MaskWorkerPool::thread_limit() const { return limit_.load(); }

void MaskWorkerPool::RunTasks(Batch& batch) {
  for (size_t i = batch.next.fetch_add(1); i < batch.count;
       i = batch.next.fetch_add(1)) {
    batch.task(i);
  }
}

MaskWorkerPool::Batch* MaskWorkerPool::FindWork() {
  for (Batch* b : queue_) {
    if (b->helpers < b->max_helpers && b->next.load() < b->count) return b;
  }
  return nullptr;
}

void MaskWorkerPool::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    Batch* batch = nullptr;
    work_cv_.wait(lock,
                  [&] { return stop_ || (batch = FindWork()) != nullptr; });
    if (stop_) return;
    ++batch->helpers;
    lock.unlock();
    RunTasks(*batch);
    lock.lock();
    // The caller may be waiting for the last helper to leave its batch.
    if (--batch->helpers == 0) done_cv_.notify_all();
  }
}

void MaskWorkerPool::ParallelFor(size_t count,
                                 absl::FunctionRef<void(size_t)> task) {
  const int helpers = std::min<int>(thread_limit(), threads()) - 1;
  if (count == 0) return;
  if (helpers == 0 || count == 1) {
    for (size_t i = 0; i < count; ++i) task(i);
    return;
  }
  Batch batch(count, task, helpers);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(&batch);
  }
  work_cv_.notify_all();
  RunTasks(batch);
  // Every index is claimed; once no helper is inside the batch, all tasks
  // have returned. Unqueued first, so no helper can join it late.
  std::unique_lock<std::mutex> lock(mu_);
  queue_.erase(std::find(queue_.begin(), queue_.end(), &batch));
  done_cv_.wait(lock, [&] { return batch.helpers == 0; });
}

}  // namespace fedlearn
