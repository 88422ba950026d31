// FetchWaitList on a FakeClock, driven by RunDue() (no thread, no sleeps).
#include "server/admission/fetch_wait_list.h"

#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using std::chrono::milliseconds;

// Records its callbacks; keeps waiting until told to stop.
struct RecordingWaiter : FetchWaitList::Waiter {
  bool OnWake(bool final) override {
    wakes.push_back(final);
    return keep_waiting;
  }
  void OnExpired() override { ++expiries; }
  std::vector<bool> wakes;  // `final` of each wake
  int expiries = 0;
  bool keep_waiting = true;
};

TEST(FetchWaitListTest, WakeAllAsksEveryWaiterAgainOnce) {
  FakeClock clock;
  FetchWaitList list(&clock, 10);
  RecordingWaiter a, b;
  ASSERT_TRUE(list.Add(&a, milliseconds(1000), list.epoch()).ok());
  ASSERT_TRUE(list.Add(&b, milliseconds(1000), list.epoch()).ok());
  EXPECT_EQ(list.RunDue(), 0) << "nothing happened yet";
  list.WakeAll();
  EXPECT_EQ(list.RunDue(), 2);
  EXPECT_EQ(list.RunDue(), 0) << "one wake per WakeAll";
  EXPECT_EQ(a.wakes, std::vector<bool>{false});
  EXPECT_EQ(b.wakes, std::vector<bool>{false});
  EXPECT_EQ(list.waiting(), 2u) << "both chose to keep waiting";
}

TEST(FetchWaitListTest, WaiterThatIsDoneLeavesTheList) {
  FakeClock clock;
  FetchWaitList list(&clock, 10);
  RecordingWaiter a;
  a.keep_waiting = false;
  ASSERT_TRUE(list.Add(&a, milliseconds(1000), list.epoch()).ok());
  list.WakeAll();
  EXPECT_EQ(list.RunDue(), 1);
  EXPECT_EQ(list.waiting(), 0u);
}

TEST(FetchWaitListTest, WakeBetweenReadingTheEpochAndAddIsNotLost) {
  FakeClock clock;
  FetchWaitList list(&clock, 10);
  RecordingWaiter a;
  const uint64_t seen = list.epoch();  // the waiter asks the engine now...
  list.WakeAll();                      // ...a round opens meanwhile...
  ASSERT_TRUE(list.Add(&a, milliseconds(1000), seen).ok());  // ...it waits
  EXPECT_EQ(list.RunDue(), 1);
  EXPECT_EQ(a.wakes, std::vector<bool>{false});
}

TEST(FetchWaitListTest, WaitRunsOutOnceAtItsDeadline) {
  FakeClock clock;
  FetchWaitList list(&clock, 10);
  RecordingWaiter a, b;
  ASSERT_TRUE(list.Add(&a, milliseconds(100), list.epoch()).ok());
  ASSERT_TRUE(list.Add(&b, milliseconds(300), list.epoch()).ok());
  clock.Advance(milliseconds(99));
  EXPECT_EQ(list.RunDue(), 0);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(list.RunDue(), 1);
  EXPECT_EQ(a.expiries, 1);
  EXPECT_EQ(b.expiries, 0);
  EXPECT_EQ(list.waiting(), 1u);
  clock.Advance(milliseconds(1000));
  EXPECT_EQ(list.RunDue(), 1);
  EXPECT_EQ(list.RunDue(), 0);
  EXPECT_EQ(a.expiries, 1);
  EXPECT_EQ(b.expiries, 1);
  EXPECT_EQ(list.waiting(), 0u);
}

TEST(FetchWaitListTest, FullListRefusesNamingTheLimit) {
  FakeClock clock;
  FetchWaitList list(&clock, 1);
  RecordingWaiter a, b;
  ASSERT_TRUE(list.Add(&a, milliseconds(100), list.epoch()).ok());
  absl::StatusOr<uint64_t> refused =
      list.Add(&b, milliseconds(100), list.epoch());
  ASSERT_TRUE(absl::IsResourceExhausted(refused.status()));
  EXPECT_NE(refused.status().message().find("limits.max_waiting_fetches"),
            absl::string_view::npos)
      << refused.status();
}

TEST(FetchWaitListTest, RemovedWaiterGetsNoCallbackAndFreesItsSlot) {
  FakeClock clock;
  FetchWaitList list(&clock, 1);
  RecordingWaiter a, b;
  absl::StatusOr<uint64_t> id = list.Add(&a, milliseconds(100), list.epoch());
  ASSERT_TRUE(id.ok());
  list.Remove(*id);
  list.WakeAll();
  clock.Advance(milliseconds(200));
  EXPECT_EQ(list.RunDue(), 0);
  EXPECT_TRUE(a.wakes.empty());
  EXPECT_EQ(a.expiries, 0);
  EXPECT_TRUE(list.Add(&b, milliseconds(100), list.epoch()).ok());
}

TEST(FetchWaitListTest, CloseAnswersEveryoneAndRefusesNewWaits) {
  FakeClock clock;
  FetchWaitList list(&clock, 10);
  RecordingWaiter a;  // would keep waiting: a final wake ends it anyway
  ASSERT_TRUE(list.Add(&a, milliseconds(1000), list.epoch()).ok());
  list.Close();
  EXPECT_EQ(list.RunDue(), 1);
  EXPECT_EQ(a.wakes, std::vector<bool>{true});
  EXPECT_EQ(list.waiting(), 0u);
  EXPECT_TRUE(absl::IsFailedPrecondition(
      list.Add(&a, milliseconds(1000), list.epoch()).status()));
}

TEST(FetchWaitListTest, BackgroundThreadServesWakes) {
  SystemClock clock;
  FetchWaitList list(&clock, 10);
  list.Start();
  struct Signalling : FetchWaitList::Waiter {
    bool OnWake(bool) override {
      std::lock_guard<std::mutex> lock(mu);
      woken = true;
      cv.notify_all();
      return false;
    }
    void OnExpired() override {}
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
  } waiter;
  ASSERT_TRUE(list.Add(&waiter, std::chrono::minutes(10), list.epoch()).ok());
  list.WakeAll();
  std::unique_lock<std::mutex> lock(waiter.mu);
  waiter.cv.wait(lock, [&] { return waiter.woken; });
  SUCCEED();
}

}  // namespace
}  // namespace fedlearn
