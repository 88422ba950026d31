// The server's per-phase rules: explicit errors for messages out of phase,
// from strangers, duplicated, malformed or replayed; and the unmasking rule
// that it never takes in both kinds of secret share of one client.
#include "server/secagg/secagg_server.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/secagg/recording_listeners.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Phase = SecAggServer::Phase;

class SecAggServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_ = std::make_unique<Harness>(MakeConfig(rng_, 5, 4, 3, 16, 8), rng_);
  }
  v1::SecAggClientMessage Stamped() {
    v1::SecAggClientMessage m;
    m.set_session_id(h_->config.session_id());
    m.set_round(h_->config.round());
    return m;
  }
  void AdvertiseAll() {
    for (int i = 0; i < 5; ++i) h_->Advertise(i);
    ASSERT_TRUE(h_->server->AllResponded());
    ASSERT_TRUE(h_->server->AdvancePhase().ok());
  }
  std::mt19937_64 rng_{7};
  std::unique_ptr<Harness> h_;
};

TEST_F(SecAggServerTest, CreateRefusesInvalidConfigs) {
  v1::SecAggConfig bad = h_->config;
  bad.set_threshold(2);  // not a majority of 5 holders
  EXPECT_FALSE(SecAggServer::Create(bad).ok());
  bad = h_->config;
  bad.set_modulus_bits(33);
  EXPECT_FALSE(SecAggServer::Create(bad).ok());
}

TEST_F(SecAggServerTest, RefusesStrangersDuplicatesAndReplays) {
  auto advert = h_->clients[0]->Start();
  ASSERT_TRUE(advert.ok());
  EXPECT_EQ(h_->server->HandleMessage("mallory", *advert).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(h_->server->HandleMessage(h_->id(0), *advert).ok());
  EXPECT_EQ(h_->server->HandleMessage(h_->id(0), *advert).code(),
            absl::StatusCode::kAlreadyExists);
  v1::SecAggClientMessage replay = *h_->clients[1]->Start();
  replay.set_round(h_->config.round() - 1);
  absl::Status s = h_->server->HandleMessage(h_->id(1), replay);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("another session or round"));
}

TEST_F(SecAggServerTest, RefusesKeysUnderAnotherIdOrCopiedKeys) {
  auto advert = h_->clients[0]->Start();
  ASSERT_TRUE(h_->server->HandleMessage(h_->id(0), *advert).ok());
  v1::SecAggClientMessage as_other = *h_->clients[1]->Start();
  as_other.mutable_advertise_keys()->set_client_id(h_->id(2));
  EXPECT_EQ(h_->server->HandleMessage(h_->id(1), as_other).code(),
            absl::StatusCode::kInvalidArgument);
  v1::SecAggClientMessage copier = *h_->clients[2]->Start();
  copier.mutable_advertise_keys()->set_masking_public_key(
      advert->advertise_keys().masking_public_key());
  absl::Status s = h_->server->HandleMessage(h_->id(2), copier);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("already in use"));
}

TEST_F(SecAggServerTest, RefusesMessagesOfAnotherPhase) {
  v1::SecAggClientMessage early = Stamped();
  early.mutable_consistency_check_response()->set_signature("sig");
  EXPECT_EQ(h_->server->HandleMessage(h_->id(0), early).code(),
            absl::StatusCode::kFailedPrecondition);
  std::vector<uint32_t> masked(8, 1);
  EXPECT_EQ(h_->server->HandleMaskedInput(h_->id(0), masked).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(h_->server->TakeResult().status().code(),
            absl::StatusCode::kFailedPrecondition);
  AdvertiseAll();
  EXPECT_EQ(h_->server->phase(), Phase::kShareKeys);
  v1::SecAggClientMessage late = Stamped();
  *late.mutable_advertise_keys() = v1::AdvertiseKeys();
  EXPECT_EQ(h_->server->HandleMessage(h_->id(0), late).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SecAggServerTest, AClientThatAnsweredIsNotOfferedThePhaseRequestAgain) {
  AdvertiseAll();
  ASSERT_EQ(h_->server->phase(), Phase::kShareKeys);
  // Unanswered, the request is offered on every poll (a lost reply is
  // recovered by asking again) ...
  ASSERT_TRUE(h_->server->PendingMessageFor(h_->id(0)).has_value());
  ASSERT_TRUE(h_->server->PendingMessageFor(h_->id(0)).has_value());
  ASSERT_TRUE(h_->DeliverPending(0).ok());
  // ... answered, nothing until the next phase, while the others still get it.
  EXPECT_FALSE(h_->server->PendingMessageFor(h_->id(0)).has_value());
  EXPECT_TRUE(h_->server->PendingMessageFor(h_->id(1)).has_value());
  for (int i = 1; i < 5; ++i) ASSERT_TRUE(h_->DeliverPending(i).ok());
  ASSERT_TRUE(h_->server->AllResponded());
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  EXPECT_EQ(h_->server->phase(), Phase::kMaskedInputCollection);
  std::optional<v1::SecAggServerMessage> next =
      h_->server->PendingMessageFor(h_->id(0));
  ASSERT_TRUE(next.has_value());
  EXPECT_TRUE(next->has_masked_input_request());
}

TEST_F(SecAggServerTest, ADropoutMayNotComeBackInALaterPhase) {
  AdvertiseAll();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(h_->DeliverPending(i).ok());
  auto reply =
      h_->clients[4]->Handle(*h_->server->PendingMessageFor(h_->id(4)));
  ASSERT_TRUE(reply.ok());
  EXPECT_FALSE(h_->server->AllResponded());
  ASSERT_TRUE(h_->server->AdvancePhase().ok());  // client 4 missed the deadline
  absl::Status s = h_->server->HandleMessage(h_->id(4), *reply->message);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(h_->server->PendingMessageFor(h_->id(4)).has_value());
}

TEST_F(SecAggServerTest, RefusesPartialShareKeysResponse) {
  AdvertiseAll();
  auto reply =
      h_->clients[0]->Handle(*h_->server->PendingMessageFor(h_->id(0)));
  ASSERT_TRUE(reply.ok());
  v1::SecAggClientMessage partial = *reply->message;
  partial.mutable_share_keys_response()->mutable_shares()->RemoveLast();
  EXPECT_EQ(h_->server->HandleMessage(h_->id(0), partial).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SecAggServerTest, RefusesMaskedInputOfWrongLengthOrRange) {
  AdvertiseAll();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h_->DeliverPending(i).ok());
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  ASSERT_EQ(h_->server->phase(), Phase::kMaskedInputCollection);
  EXPECT_EQ(
      h_->server->HandleMaskedInput(h_->id(0), std::vector<uint32_t>(7, 0))
          .code(),
      absl::StatusCode::kInvalidArgument);
  std::vector<uint32_t> too_big(8, 0);
  too_big[3] = 1u << 16;  // modulus_bits = 16
  EXPECT_EQ(h_->server->HandleMaskedInput(h_->id(0), too_big).code(),
            absl::StatusCode::kInvalidArgument);
  v1::SecAggClientMessage proto = Stamped();
  proto.mutable_consistency_check_response()->set_signature("x");
  EXPECT_EQ(h_->server->HandleMessage(h_->id(0), proto).code(),
            absl::StatusCode::kFailedPrecondition);
  // A refused input did not count; the real one still may come.
  ASSERT_TRUE(h_->DeliverPending(0).ok());
  EXPECT_EQ(
      h_->server->HandleMaskedInput(h_->id(0), std::vector<uint32_t>(8, 0))
          .code(),
      absl::StatusCode::kAlreadyExists);
}

class SecAggServerUnmaskingTest : public SecAggServerTest {
 protected:
  // Client 4 drops after sharing keys; the rest reach unmasking. Returns the
  // genuine UnmaskingResponse of client 0.
  v1::SecAggClientMessage ReachUnmasking() {
    AdvertiseAll();
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(h_->DeliverPending(i).ok());
    EXPECT_TRUE(h_->server->AdvancePhase().ok());
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(h_->DeliverPending(i).ok());
    EXPECT_TRUE(h_->server->AdvancePhase().ok());
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(h_->DeliverPending(i).ok());
    EXPECT_TRUE(h_->server->AdvancePhase().ok());
    EXPECT_EQ(h_->server->phase(), Phase::kUnmasking);
    auto reply =
        h_->clients[0]->Handle(*h_->server->PendingMessageFor(h_->id(0)));
    EXPECT_TRUE(reply.ok());
    return *reply->message;
  }
  static v1::RevealedShare* ShareOf(v1::SecAggClientMessage& m,
                                    const std::string& owner) {
    for (auto& s : *m.mutable_unmasking_response()->mutable_shares()) {
      if (s.owner() == owner) return &s;
    }
    return nullptr;
  }
};

TEST_F(SecAggServerUnmaskingTest, RefusesTheOtherKindOfShareOfASurvivor) {
  v1::SecAggClientMessage m = ReachUnmasking();
  v1::RevealedShare* s = ShareOf(m, h_->id(1));
  ASSERT_TRUE(s && s->has_self_mask_seed_share());
  // Copy first: mutable_* of the other oneof member frees the source.
  const v1::SecretShare share = s->self_mask_seed_share();
  *s->mutable_masking_key_share() = share;  // the oneof flips
  absl::Status status = h_->server->HandleMessage(h_->id(0), m);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("only its self-mask seed may be learned"));
  EXPECT_THAT(h_->server->ClientsWithBothSecretsForTesting(), IsEmpty());
}

TEST_F(SecAggServerUnmaskingTest, RefusesTheSeedShareOfADroppedClient) {
  v1::SecAggClientMessage m = ReachUnmasking();
  v1::RevealedShare* s = ShareOf(m, h_->id(4));
  ASSERT_TRUE(s && s->has_masking_key_share());
  const v1::SecretShare share = s->masking_key_share();  // copy: see above
  *s->mutable_self_mask_seed_share() = share;
  EXPECT_EQ(h_->server->HandleMessage(h_->id(0), m).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(h_->server->ClientsWithBothSecretsForTesting(), IsEmpty());
}

TEST_F(SecAggServerUnmaskingTest, AClientMayNotUnmaskItself) {
  v1::SecAggClientMessage m = ReachUnmasking();
  v1::RevealedShare* own = ShareOf(m, h_->id(0));
  ASSERT_TRUE(own != nullptr);
  const v1::SecretShare share = own->self_mask_seed_share();  // copy first
  *own->mutable_masking_key_share() = share;
  absl::Status status = h_->server->HandleMessage(h_->id(0), m);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("may not unmask itself"));
}

TEST_F(SecAggServerUnmaskingTest, RefusesBothSharesOfOneOwnerInOneResponse) {
  v1::SecAggClientMessage m = ReachUnmasking();
  v1::RevealedShare extra = *ShareOf(m, h_->id(4));
  const v1::SecretShare share = extra.masking_key_share();  // copy first
  extra.mutable_self_mask_seed_share()->CopyFrom(share);
  *m.mutable_unmasking_response()->add_shares() = extra;
  EXPECT_EQ(h_->server->HandleMessage(h_->id(0), m).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(h_->server->ClientsWithBothSecretsForTesting(), IsEmpty());
}

TEST_F(SecAggServerUnmaskingTest, RefusesSharesAtAnotherClientsCoordinate) {
  v1::SecAggClientMessage m = ReachUnmasking();
  ShareOf(m, h_->id(1))->mutable_self_mask_seed_share()->set_x(3);
  EXPECT_EQ(h_->server->HandleMessage(h_->id(0), m).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SecAggServerUnmaskingTest, ACorruptedShareAbortsInsteadOfAWrongSum) {
  v1::SecAggClientMessage m = ReachUnmasking();
  auto* y = ShareOf(m, h_->id(1))->mutable_self_mask_seed_share()->mutable_y();
  y->Set(0, (y->Get(0) + 1) % ((uint64_t{1} << 61) - 1));
  ASSERT_TRUE(h_->server->HandleMessage(h_->id(0), m).ok());
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(h_->DeliverPending(i).ok());
  absl::Status s = h_->server->AdvancePhase();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(h_->server->phase(), Phase::kAborted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("inconsistent"));
  EXPECT_FALSE(h_->server->TakeResult().ok());
  EXPECT_THAT(h_->server->ClientsWithBothSecretsForTesting(), IsEmpty());
}

TEST_F(SecAggServerUnmaskingTest, CompletesWithTheDroppedClientsMasksRemoved) {
  v1::SecAggClientMessage m = ReachUnmasking();
  ASSERT_TRUE(h_->server->HandleMessage(h_->id(0), m).ok());
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(h_->DeliverPending(i).ok());
  EXPECT_TRUE(h_->server->AllResponded());
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  EXPECT_EQ(h_->server->AdvancePhase().code(),
            absl::StatusCode::kFailedPrecondition);
  auto result = h_->server->TakeResult();
  ASSERT_TRUE(result.ok());
  std::vector<uint32_t> expected(8, 0);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j)
      expected[j] = (expected[j] + h_->inputs[i][j]) & 0xffff;
  }
  EXPECT_EQ(*result, expected);
  const ShareLedger& ledger = h_->server->share_ledger_for_testing();
  EXPECT_EQ(ledger.reconstructed.at(4),
            std::set<SecretKind>{SecretKind::kMaskingKey});
  EXPECT_EQ(ledger.reconstructed.at(0),
            std::set<SecretKind>{SecretKind::kSelfMaskSeed});
  EXPECT_THAT(h_->server->ClientsWithBothSecretsForTesting(), IsEmpty());
}

class SecAggServerListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SecAggServerEnvironment env;
    env.listener = std::make_unique<RecordingServerListener>(&log_);
    h_ = std::make_unique<Harness>(MakeConfig(rng_, 5, 4, 3, 16, 8), rng_,
                                   std::move(env));
  }
  std::mt19937_64 rng_{8};
  EventLog log_;
  std::unique_ptr<Harness> h_;
};

TEST_F(SecAggServerListenerTest, HearsClientAbortsAndDropoutsWhenAPhaseCloses) {
  for (int i = 0; i < 3; ++i) h_->Advertise(i);
  v1::SecAggClientMessage abort;
  abort.set_session_id(h_->config.session_id());
  abort.set_round(h_->config.round());
  abort.mutable_abort()->set_reason("disk full");
  ASSERT_TRUE(h_->server->HandleMessage(h_->id(3), abort).ok());
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  EXPECT_THAT(log_,
              ::testing::ElementsAre(
                  "server heard client-003 abort in AdvertiseKeys: disk full",
                  "server closed AdvertiseKeys dropouts=[client-004]",
                  "server entered ShareKeys from AdvertiseKeys"));
}

TEST_F(SecAggServerListenerTest, HearsExclusionsAndTheRoundAbortWithItsReason) {
  for (int i = 0; i < 2; ++i) h_->Advertise(i);  // too few for t = 3
  EXPECT_EQ(h_->server->AdvancePhase().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(
      log_,
      ::testing::ElementsAre(
          "server closed AdvertiseKeys "
          "dropouts=[client-002,client-003,client-004]",
          "server excluded client-000", "server excluded client-001",
          "server aborted: in phase AdvertiseKeys: only 0 clients advertised "
          "usable keys, threshold is 3"));
}

}  // namespace
}  // namespace fedlearn::testing
