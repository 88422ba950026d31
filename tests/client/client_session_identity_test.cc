// The session's secure-aggregation identity (client/secagg/identity_cache.h
// behind ClientSession): read from the site's files once, at registration,
// not in every secure round; a failure to read them then is not fatal and is
// reported by the secure round that needs them, as before.

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "client/client_session.h"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"
#include "tests/client/secure_session_parts.h"

namespace fedlearn {
namespace {

constexpr int64_t kDimension = 8;

class ClientSessionIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(identities_.status().ok()) << identities_.status();
    transport_.client_id = "client-001";
    ClientSession::Options options;
    options.identity = identities_.Tls("client-001");
    session_ = std::make_unique<ClientSession>(&transport_, &trainer_, nullptr,
                                               options);
  }

  void RemoveIdentityFiles() {
    const TlsConfig tls = identities_.Tls("client-001");
    ASSERT_TRUE(std::filesystem::remove(tls.key_path));
    ASSERT_TRUE(std::filesystem::remove(tls.cert_path));
  }

  // Hands the session a secure task of `round` and trains it: the step that
  // starts the secure upload.
  ClientSession::StepResult TrainSecureTask(uint64_t round) {
    std::atomic<bool> cancel{false};
    FetchReply reply = SecureTaskReply(kDimension, round);
    transport_.fetch_replies.push_back(std::move(reply));
    ClientSession::StepResult received = session_->Step(cancel);
    EXPECT_EQ(received.kind, ClientSession::StepKind::kTaskReceived)
        << received.status;
    return session_->Step(cancel);
  }

  ThreeClientIdentities identities_;
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
