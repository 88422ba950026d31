#include "server/admission/rpc_rate_limiter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

TEST(RpcRateLimiterTest, BurstThenRefusedUntilTheBucketRefills) {
  FakeClock clock;
  RpcRateLimiter limiter(&clock, /*rate_per_second=*/2, /*burst=*/3, 100);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a").ok()) << i;
  absl::Status refused = limiter.Allow("a");
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("retry in 500 ms"));
  clock.Advance(std::chrono::milliseconds(499));
  EXPECT_FALSE(limiter.Allow("a").ok());
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(limiter.Allow("a").ok());
  EXPECT_FALSE(limiter.Allow("a").ok());
}

TEST(RpcRateLimiterTest, IdentitiesHaveTheirOwnBuckets) {
  FakeClock clock;
  RpcRateLimiter limiter(&clock, 1, 1, 100);
  EXPECT_TRUE(limiter.Allow("a").ok());
  EXPECT_FALSE(limiter.Allow("a").ok());
  EXPECT_TRUE(limiter.Allow("b").ok());
}

TEST(RpcRateLimiterTest, RefillNeverExceedsTheBurst) {
  FakeClock clock;
  RpcRateLimiter limiter(&clock, 10, 2, 100);
  clock.Advance(std::chrono::hours(1));
  EXPECT_TRUE(limiter.Allow("a").ok());
  EXPECT_TRUE(limiter.Allow("a").ok());
  EXPECT_FALSE(limiter.Allow("a").ok());
}

TEST(RpcRateLimiterTest, TrackedIdentitiesAreBoundedAndFullBucketsForgotten) {
  FakeClock clock;
  RpcRateLimiter limiter(&clock, 1, 1, /*max_identities=*/2);
  EXPECT_TRUE(limiter.Allow("a").ok());
  EXPECT_TRUE(limiter.Allow("b").ok());
  // Both buckets are empty: a third identity finds no room.
  EXPECT_TRUE(absl::IsResourceExhausted(limiter.Allow("c")));
  EXPECT_EQ(limiter.tracked(), 2u);
  clock.Advance(std::chrono::seconds(1));  // both refilled: forgettable
  EXPECT_TRUE(limiter.Allow("c").ok());
  EXPECT_LE(limiter.tracked(), 2u);
}

}  // namespace
}  // namespace fedlearn
