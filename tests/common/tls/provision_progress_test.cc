// The progress callback of the provisioning functions (provision_directory.h):
// one call per leaf pair, issued or kept, with the running count and total.
#include <string>
#include <utility>
#include <vector>

#include "common/tls/provision_directory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

using Calls = std::vector<std::pair<int, int>>;

ProvisionOptions WithRecorder(const std::string& dir, int clients,
                              Calls* calls) {
  ProvisionOptions options;
  options.out_dir = dir;
  options.num_clients = clients;
  options.on_progress = [calls](int done, int total) {
    calls->emplace_back(done, total);
  };
  return options;
}

TEST(ProvisionProgressTest, ReportsTheServerThenEachClient) {
  testing_util::ScopedTempDir dir;
  Calls calls;
  ProvisionOptions options = WithRecorder(dir.path() + "/out", 2, &calls);
  options.client_ids = {"hospital-a"};
  ASSERT_TRUE(ProvisionDirectory(options).ok());
  EXPECT_THAT(calls,
              ElementsAre(Pair(1, 4), Pair(2, 4), Pair(3, 4), Pair(4, 4)));
}

TEST(ProvisionProgressTest, CountsKeptPairsToo) {
  testing_util::ScopedTempDir dir;
  Calls first, second;
  ASSERT_TRUE(
      ProvisionDirectory(WithRecorder(dir.path() + "/out", 2, &first)).ok());
  ASSERT_TRUE(
      ProvisionDirectory(WithRecorder(dir.path() + "/out", 3, &second)).ok());
  EXPECT_EQ(first.size(), 3u);
  EXPECT_THAT(second,
              ElementsAre(Pair(1, 4), Pair(2, 4), Pair(3, 4), Pair(4, 4)));
}

TEST(ProvisionProgressTest, EphemeralProvisioningReportsEveryPair) {
  testing_util::ScopedTempDir dir;
  Calls calls;
  ASSERT_TRUE(
      ProvisionEphemeralDirectory(WithRecorder(dir.path() + "/out", 3, &calls))
          .ok());
  EXPECT_THAT(calls,
              ElementsAre(Pair(1, 4), Pair(2, 4), Pair(3, 4), Pair(4, 4)));
}

TEST(ProvisionProgressTest, NoCallbackIsFine) {
  testing_util::ScopedTempDir dir;
  ProvisionOptions options;
  options.out_dir = dir.path() + "/out";
  options.num_clients = 1;
  EXPECT_TRUE(ProvisionDirectory(options).ok());
}

}  // namespace
}  // namespace fedlearn
