// The [limits] section reaches ServiceLimits, and out-of-range values are
// refused naming the key.
#include "server/coordinator_config_limits.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_config.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

TEST(CoordinatorConfigLimitsTest, LimitsSectionSetsTheServiceLimits) {
  absl::StatusOr<CoordinatorConfig> config = ParseCoordinatorConfig(
      "[limits]\n"
      "max_uploads_per_identity = 3\n"
      "max_downloads_per_identity = 5\n"
      "rpc_rate_per_second = 7.5\n"
      "rpc_burst = 20\n"
      "max_chunks_per_stream = 99\n"
      "max_message_bytes = 3145728\n"
      "stream_idle_timeout_s = 0.3\n"
      "stream_deadline_s = 60\n"
      "max_streams_per_connection = 8\n"
      "handshake_timeout_s = 5\n",
      "t.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  const ServiceLimits& l = config->limits;
  EXPECT_EQ(l.max_uploads_per_identity, 3);
  EXPECT_EQ(l.max_downloads_per_identity, 5);
  EXPECT_DOUBLE_EQ(l.rpc_rate_per_second, 7.5);
  EXPECT_DOUBLE_EQ(l.rpc_burst, 20);
  EXPECT_EQ(l.max_chunks_per_stream, 99);
  EXPECT_EQ(l.max_message_bytes, 3 << 20);
  EXPECT_EQ(l.stream_idle_timeout, std::chrono::milliseconds(300));
  EXPECT_EQ(l.stream_deadline, std::chrono::seconds(60));
  EXPECT_EQ(l.max_streams_per_connection, 8);
  EXPECT_EQ(l.handshake_timeout, std::chrono::seconds(5));
  EXPECT_TRUE(ValidateCoordinatorConfig(*config).ok());
}

TEST(CoordinatorConfigLimitsTest, DefaultsAreTheServiceLimitsDefaults) {
  absl::StatusOr<CoordinatorConfig> config = ParseCoordinatorConfig("", "t");
  ASSERT_TRUE(config.ok()) << config.status();
  const ServiceLimits defaults;
  EXPECT_EQ(config->limits.stream_idle_timeout, defaults.stream_idle_timeout);
  EXPECT_EQ(config->limits.max_message_bytes, defaults.max_message_bytes);
  EXPECT_EQ(config->limits.max_uploads_per_identity,
            defaults.max_uploads_per_identity);
}

TEST(CoordinatorConfigLimitsTest, OutOfRangeLimitsAreRefusedNamingTheKey) {
  for (const char* text : {"[limits]\nmax_message_bytes = 1024\n",
                           "[limits]\nstream_idle_timeout_s = 0\n",
                           "[limits]\nrpc_rate_per_second = 0\n",
                           "[limits]\nmax_uploads_per_identity = 0\n"}) {
    absl::StatusOr<CoordinatorConfig> config =
        ParseCoordinatorConfig(text, "t.toml");
    absl::Status s =
        config.ok() ? ValidateCoordinatorConfig(*config) : config.status();
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_THAT(std::string(s.message()), HasSubstr("limits.")) << text;
  }
}

}  // namespace
}  // namespace fedlearn
