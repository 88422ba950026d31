// The session's secure-aggregation identity (client/secagg/identity_cache.h
// behind ClientSession): read from the site's files once, at registration,
// not in every secure round; a failure to read them then is not fatal and is
// reported by the secure round that needs them, as before.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "client/client_session.h"
#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
#include "common/tls/provision_directory.h"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"

namespace fedlearn {
namespace {

constexpr int64_t kDimension = 8;

class ClientSessionIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/session_identity_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ProvisionOptions provision;
    provision.out_dir = dir_;
    provision.num_clients = 3;
    ASSERT_TRUE(ProvisionDirectory(provision).ok());
    transport_.client_id = "client-001";
    ClientSession::Options options;
    options.identity = TlsConfig::FromDirectory(dir_, "client-001");
    session_ = std::make_unique<ClientSession>(&transport_, &trainer_, nullptr,
                                               options);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void RemoveIdentityFiles() {
    const TlsConfig tls = TlsConfig::FromDirectory(dir_, "client-001");
    ASSERT_TRUE(std::filesystem::remove(tls.key_path));
    ASSERT_TRUE(std::filesystem::remove(tls.cert_path));
  }

  // Hands the session a secure task of `round` and trains it: the step that
  // starts the secure upload.
  ClientSession::StepResult TrainSecureTask(uint64_t round) {
    std::atomic<bool> cancel{false};
    FetchReply reply = TaskReply(kDimension, round);
    v1::SecAggConfig config;
    config.set_session_id(std::string(32, 's'));
    config.set_round(round);
    for (const char* id : {"client-001", "client-002", "client-003"}) {
      config.add_cohort(id);
    }
    config.set_degree(2);
    config.set_threshold(2);
    config.set_modulus_bits(32);
    config.set_vector_length(InputEncoder::EncodedLength(kDimension));
    reply.task->secagg = config;
    EncodingParameters encoding;
    encoding.max_weight = 64;
    encoding.max_clients = 3;
    reply.task->encoding = EncodingParametersToProto(encoding);
    transport_.fetch_replies.push_back(std::move(reply));
    ClientSession::StepResult received = session_->Step(cancel);
    EXPECT_EQ(received.kind, ClientSession::StepKind::kTaskReceived)
        << received.status;
    return session_->Step(cancel);
  }

  std::string dir_;
  FakeTransport transport_;
  FakeTrainer trainer_{kDimension};
  std::unique_ptr<ClientSession> session_;
};

TEST_F(ClientSessionIdentityTest, FilesAreReadAtRegistrationNotInTheRound) {
  std::atomic<bool> cancel{false};
  ASSERT_NO_FATAL_FAILURE(Join(*session_, cancel));
  // Gone from disk after registration: the round signs with what was read.
  ASSERT_NO_FATAL_FAILURE(RemoveIdentityFiles());
  ClientSession::StepResult started = TrainSecureTask(1);
  EXPECT_EQ(started.kind, ClientSession::StepKind::kUploading)
      << started.status;
}

TEST_F(ClientSessionIdentityTest, FilesMissingAtRegistrationFailTheRound) {
  ASSERT_NO_FATAL_FAILURE(RemoveIdentityFiles());
  std::atomic<bool> cancel{false};
  ASSERT_NO_FATAL_FAILURE(Join(*session_, cancel));  // registers anyway
  ClientSession::StepResult started = TrainSecureTask(1);
  EXPECT_EQ(started.kind, ClientSession::StepKind::kFailed);
  EXPECT_NE(started.status.message().find("client-001"), std::string::npos)
      << started.status;
}

}  // namespace
}  // namespace fedlearn
