#include "server/admission/stream_watchdog.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

TEST(StreamWatchdogTest, IdleStreamExpiresOnceAfterItsTimeout) {
  FakeClock clock;
  StreamWatchdog watchdog(&clock);
  std::vector<absl::Status> expired;
  watchdog.Watch(milliseconds(300), std::chrono::hours(1),
                 [&](const absl::Status& why) { expired.push_back(why); });
  clock.Advance(milliseconds(299));
  EXPECT_EQ(watchdog.Sweep(), 0);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(watchdog.Sweep(), 1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_TRUE(absl::IsDeadlineExceeded(expired[0]));
  EXPECT_THAT(std::string(expired[0].message()), HasSubstr("300 ms"));
  EXPECT_EQ(watchdog.Sweep(), 0);  // once
  EXPECT_EQ(watchdog.watched(), 0u);
}

TEST(StreamWatchdogTest, TouchRestartsTheIdleTimeoutButNotTheDeadline) {
  FakeClock clock;
  StreamWatchdog watchdog(&clock);
  std::vector<absl::Status> expired;
  const uint64_t id =
      watchdog.Watch(milliseconds(300), milliseconds(1000),
                     [&](const absl::Status& why) { expired.push_back(why); });
  for (int i = 0; i < 4; ++i) {
    clock.Advance(milliseconds(200));
    watchdog.Touch(id);
    EXPECT_EQ(watchdog.Sweep(), 0) << i;
  }
  clock.Advance(milliseconds(200));  // 1000 ms old, busy all along
  watchdog.Touch(id);
  EXPECT_EQ(watchdog.Sweep(), 1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_THAT(std::string(expired[0].message()), HasSubstr("deadline"));
}

TEST(StreamWatchdogTest, UnwatchedStreamNeverExpires) {
  FakeClock clock;
  StreamWatchdog watchdog(&clock);
  bool fired = false;
  const uint64_t id =
      watchdog.Watch(milliseconds(1), milliseconds(1),
                     [&](const absl::Status&) { fired = true; });
  watchdog.Unwatch(id);
  clock.Advance(milliseconds(10));
  EXPECT_EQ(watchdog.Sweep(), 0);
  EXPECT_FALSE(fired);
}

TEST(StreamWatchdogTest, CallbackMayUnwatchItself) {
  FakeClock clock;
  StreamWatchdog watchdog(&clock);
  uint64_t id = 0;
  int calls = 0;
  id = watchdog.Watch(milliseconds(1), milliseconds(100),
                      [&](const absl::Status&) {
                        ++calls;
                        watchdog.Unwatch(id);  // must not deadlock
                      });
  clock.Advance(milliseconds(5));
  EXPECT_EQ(watchdog.Sweep(), 1);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace fedlearn
