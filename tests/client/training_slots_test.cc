#include "client/training_slots.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

// Starts one thread per priority, each taking and giving back a slot and
// recording its index, once all of them wait behind `held` slots.
std::vector<size_t> AcquisitionOrder(TrainingSlots& slots, int held,
                                     const std::vector<int64_t>& priorities) {
  const std::atomic<bool> cancel{false};
  for (int i = 0; i < held; ++i) EXPECT_TRUE(slots.Acquire(cancel));
  std::mutex mu;
  std::vector<size_t> order;
  std::vector<std::thread> threads;
  for (size_t k = 0; k < priorities.size(); ++k) {
    threads.emplace_back([&, k] {
      EXPECT_TRUE(slots.Acquire(cancel, priorities[k]));
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(k);
      }
      slots.Release();
    });
    // One at a time, so that equal priorities arrive in index order.
    while (slots.Waiting() < static_cast<int>(k) + 1) std::this_thread::yield();
  }
  for (int i = 0; i < held; ++i) slots.Release();
  for (std::thread& t : threads) t.join();
  return order;
}

TEST(TrainingSlotsTest, FreedSlotGoesToTheLargestWaitingJob) {
  TrainingSlots one(1);
  EXPECT_EQ(AcquisitionOrder(one, 1, {3645, 10177, 2326, 9595}),
            (std::vector<size_t>{1, 3, 0, 2}));
}

TEST(TrainingSlotsTest, EqualPrioritiesGoInArrivalOrder) {
  TrainingSlots one(1);
  EXPECT_EQ(AcquisitionOrder(one, 1, {5, 1, 5}),
            (std::vector<size_t>{0, 2, 1}));
}

TEST(TrainingSlotsTest, CancelledWaiterLeavesTheQueue) {
  TrainingSlots one(1);
  const std::atomic<bool> go_on{false};
  ASSERT_TRUE(one.Acquire(go_on));
  std::atomic<bool> cancel{false};
  std::thread big([&] { EXPECT_FALSE(one.Acquire(cancel, 100)); });
  while (one.Waiting() < 1) std::this_thread::yield();
  cancel = true;
  big.join();
  EXPECT_EQ(one.Waiting(), 0);
  one.Release();
  EXPECT_TRUE(one.Acquire(go_on, 1));  // not stuck behind the cancelled one
  one.Release();
}

TEST(TrainingSlotsTest, BoundsConcurrentHolders) {
  TrainingSlots two(2);
  const std::atomic<bool> cancel{false};
  ASSERT_TRUE(two.Acquire(cancel, 1));
  ASSERT_TRUE(two.Acquire(cancel, 2));
  std::atomic<bool> third{false};
  std::thread t([&] {
    EXPECT_TRUE(two.Acquire(cancel));
    third = true;
    two.Release();
  });
  while (two.Waiting() < 1) std::this_thread::yield();
  EXPECT_FALSE(third.load());  // both slots are held
  two.Release();
  t.join();
  EXPECT_TRUE(third.load());
  two.Release();
}

}  // namespace
}  // namespace fedlearn
