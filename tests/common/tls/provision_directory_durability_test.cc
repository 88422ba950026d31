// ProvisionDirectory writes every file the crash-safe way: each key and
// certificate is synced, renamed into place, and the directory is synced
// after it, so a power loss cannot leave a CA key that "was written" but is
// gone. fsync(2) is interposed (fsync_recorder.h) to observe it.
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "common/tls/provision_directory.h"
#include "gtest/gtest.h"
#include "tests/common/util/fsync_recorder.h"

namespace fedlearn {
namespace {

using testing_util::SyncedPaths;

TEST(ProvisionDirectoryDurabilityTest, EveryWrittenFileIsFollowedByADirSync) {
  std::string root = ::testing::TempDir() + "/provision_sync_XXXXXX";
  ASSERT_NE(::mkdtemp(root.data()), nullptr);
  root = std::filesystem::canonical(root).string();
  ProvisionOptions options;
  options.out_dir = root + "/certs";
  options.num_clients = 2;
  SyncedPaths().clear();
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(options);
  ASSERT_TRUE(report.ok()) << report.status();
  const long directory_syncs =
      std::count(SyncedPaths().begin(), SyncedPaths().end(), options.out_dir);
  // ca, server and two clients: eight files, each renamed then made durable.
  EXPECT_EQ(report->written.size(), 8u);
  EXPECT_EQ(directory_syncs, 8);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace fedlearn
