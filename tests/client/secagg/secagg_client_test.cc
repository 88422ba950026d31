// The client's defences against a malicious or broken server: every check
// ends in a clear abort (an error from Handle, aborted() and every later
// call failing), never in a wrong sum or an extra secret revealed.
#include "client/secagg/secagg_client.h"

#include <algorithm>

#include "common/crypto/secure_prng.h"
#include "common/crypto/signature.h"
#include "common/secagg/canonical_bytes.h"
#include "common/secagg/graph.h"
#include "common/secagg/secagg_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/secagg/recording_listeners.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn::testing {
namespace {

using ::testing::HasSubstr;

class SecAggClientTest : public ::testing::Test {
 protected:
  // n = 5, full graph (k = 4), t = 3.
  void SetUp() override {
    h_ = std::make_unique<Harness>(MakeConfig(rng_, 5, 4, 3, 32, 16), rng_);
  }

  void AdvertiseAll() {
    for (int i = 0; i < h_->n(); ++i) h_->Advertise(i);
    ASSERT_TRUE(h_->server->AdvancePhase().ok());
  }
  // Runs every client through the phases up to (not including) delivering
  // the requests of `phase`.
  void RunUntil(SecAggServer::Phase phase) {
    AdvertiseAll();
    while (h_->server->phase() != phase) {
      for (int i = 0; i < h_->n(); ++i) ASSERT_TRUE(h_->DeliverPending(i).ok());
      ASSERT_TRUE(h_->server->AdvancePhase().ok());
    }
  }
  v1::SecAggServerMessage Pending(int i) {
    auto m = h_->server->PendingMessageFor(h_->id(i));
    EXPECT_TRUE(m.has_value());
    return m ? *m : v1::SecAggServerMessage();
  }
  // Expects client i to refuse `message` with `code` and a reason naming
  // `text`, then to stay aborted.
  void ExpectAbort(int i, const v1::SecAggServerMessage& message,
                   absl::StatusCode code, const std::string& text) {
    auto reply = h_->clients[i]->Handle(message);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.status().code(), code) << reply.status();
    EXPECT_THAT(std::string(reply.status().message()), HasSubstr(text));
    EXPECT_TRUE(h_->clients[i]->aborted());
    EXPECT_EQ(h_->clients[i]->abort_reason(), reply.status());
    auto again = h_->clients[i]->Handle(Pending(i));
    EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  }

  std::mt19937_64 rng_{99};
  std::unique_ptr<Harness> h_;
};

TEST_F(SecAggClientTest, StartTwiceIsRefusedWithoutAborting) {
  ASSERT_TRUE(h_->clients[0]->Start().ok());
  EXPECT_EQ(h_->clients[0]->Start().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(h_->clients[0]->aborted());
}

TEST_F(SecAggClientTest, MessageBeforeStartAborts) {
  v1::SecAggServerMessage m;
  m.set_session_id(h_->config.session_id());
  m.set_round(h_->config.round());
  m.mutable_share_keys_request();
  auto reply = h_->clients[0]->Handle(m);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(h_->clients[0]->aborted());
}

TEST_F(SecAggClientTest, MessageOfAnotherPhaseAborts) {
  AdvertiseAll();
  v1::SecAggServerMessage m = Pending(0);
  m.mutable_consistency_check_request()->add_survivors(h_->id(0));
  ExpectAbort(0, m, absl::StatusCode::kFailedPrecondition,
              "unexpected ConsistencyCheckRequest");
}

TEST_F(SecAggClientTest, RefusesSubstitutedNeighbourKey) {
  AdvertiseAll();
  v1::SecAggServerMessage m = Pending(0);
  std::string* key = m.mutable_share_keys_request()
                         ->mutable_neighbour_keys(1)
                         ->mutable_masking_public_key();
  (*key)[3] ^= 0x40;
  ExpectAbort(0, m, absl::StatusCode::kUnauthenticated,
              "not signed by its certificate");
}

TEST_F(SecAggClientTest, RefusesCertificateOfAnotherClient) {
  AdvertiseAll();
  v1::SecAggServerMessage m = Pending(0);
  auto* keys = m.mutable_share_keys_request();
  keys->mutable_neighbour_keys(0)->set_certificate_pem(
      keys->neighbour_keys(1).certificate_pem());
  ExpectAbort(0, m, absl::StatusCode::kUnauthenticated,
              "not signed by its certificate");
}

TEST_F(SecAggClientTest, RefusesTwoClientsAdvertisingTheSameKey) {
  AdvertiseAll();
  v1::SecAggServerMessage m = Pending(0);
  auto* request = m.mutable_share_keys_request();
  // Client 2 (a colluder) re-advertises client 1's masking key, validly
  // signed with its own certificate.
  const v1::AdvertiseKeys& victim = request->neighbour_keys(0);
  v1::AdvertiseKeys* copier = request->mutable_neighbour_keys(1);
  ASSERT_EQ(victim.client_id(), h_->id(1));
  ASSERT_EQ(copier->client_id(), h_->id(2));
  copier->set_masking_public_key(victim.masking_public_key());
  auto signature = SignMessage(
      TestPki::Get().key_pem(2),
      AdvertiseSignaturePayload(h_->config.session_id(), h_->config.round(),
                                h_->id(2), copier->encryption_public_key(),
                                copier->masking_public_key()));
  ASSERT_TRUE(signature.ok());
  copier->set_signature(*signature);
  ExpectAbort(0, m, absl::StatusCode::kPermissionDenied,
              "also advertised by another client");
}

TEST_F(SecAggClientTest, RefusesTheSameNeighbourTwice) {
  AdvertiseAll();
  v1::SecAggServerMessage m = Pending(0);
  auto* request = m.mutable_share_keys_request();
  *request->add_neighbour_keys() = request->neighbour_keys(0);
  ExpectAbort(0, m, absl::StatusCode::kPermissionDenied, "arrived twice");
}

TEST_F(SecAggClientTest, RefusesItsOwnKeysAndNonCohortIds) {
  AdvertiseAll();
  v1::SecAggServerMessage m = Pending(0);
  m.mutable_share_keys_request()->mutable_neighbour_keys(0)->set_client_id(
      "mallory");
  ExpectAbort(0, m, absl::StatusCode::kPermissionDenied, "not in the cohort");
  v1::SecAggServerMessage own = Pending(1);
  *own.mutable_share_keys_request()->add_neighbour_keys() =
      Pending(0).share_keys_request().neighbour_keys(0);  // client 1's own keys
  ExpectAbort(1, own, absl::StatusCode::kPermissionDenied, "its own keys");
}

TEST_F(SecAggClientTest, AbortsWithFewerThanThresholdMinusOneNeighbourKeys) {
  AdvertiseAll();
  v1::SecAggServerMessage m = Pending(0);
  auto* keys = m.mutable_share_keys_request()->mutable_neighbour_keys();
  keys->erase(keys->begin() + 1, keys->end());  // 1 neighbour; t - 1 = 2
  ExpectAbort(0, m, absl::StatusCode::kFailedPrecondition,
              "only 1 neighbours advertised keys");
}

TEST(SecAggClientGraphTest, RefusesKeysFromANonNeighbour) {
  std::mt19937_64 rng(5);
  auto gp = ChooseGraphParameters(30, 0.05, 20);
  ASSERT_TRUE(gp.ok());
  ASSERT_FALSE(gp->full_graph());
  Harness h(MakeConfig(rng, 30, gp->degree, gp->threshold, 32, 8), rng);
  for (int i = 0; i < h.n(); ++i) h.Advertise(i);
  ASSERT_TRUE(h.server->AdvancePhase().ok());
  auto graph = SecAggGraph::Create(h.config.session_id(), 30, gp->degree);
  ASSERT_TRUE(graph.ok());
  int stranger = -1;
  for (int w = 1; w < 30 && stranger < 0; ++w) {
    if (!graph->AreNeighbours(0, w)) stranger = w;
  }
  ASSERT_GE(stranger, 0);
  // The stranger's genuine, validly signed keys, as its neighbours got them.
  const int its_neighbour = graph->Neighbours(stranger)[0];
  v1::AdvertiseKeys stranger_keys;
  const auto theirs = h.server->PendingMessageFor(h.id(its_neighbour));
  ASSERT_TRUE(theirs.has_value());
  for (const auto& k : theirs->share_keys_request().neighbour_keys()) {
    if (k.client_id() == h.id(stranger)) stranger_keys = k;
  }
  ASSERT_EQ(stranger_keys.client_id(), h.id(stranger));
  v1::SecAggServerMessage m = *h.server->PendingMessageFor(h.id(0));
  *m.mutable_share_keys_request()->add_neighbour_keys() = stranger_keys;
  auto reply = h.clients[0]->Handle(m);
  ASSERT_FALSE(reply.ok());
  EXPECT_THAT(std::string(reply.status().message()),
              HasSubstr("not a neighbour"));
  EXPECT_TRUE(h.clients[0]->aborted());
}

TEST_F(SecAggClientTest, RefusesReplayFromAnEarlierRound) {
  // Round 7 ran with its own session; its messages must not work in round 8.
  Harness old_round(MakeConfig(rng_, 5, 4, 3, 32, 16, /*round=*/7), rng_);
  for (int i = 0; i < 5; ++i) old_round.Advertise(i);
  ASSERT_TRUE(old_round.server->AdvancePhase().ok());
  v1::SecAggServerMessage stale =
      *old_round.server->PendingMessageFor(old_round.id(0));

  h_ = std::make_unique<Harness>(MakeConfig(rng_, 5, 4, 3, 32, 16, /*round=*/8),
                                 rng_);
  AdvertiseAll();
  ExpectAbort(0, stale, absl::StatusCode::kPermissionDenied,
              "another session or round");

  // Same session id, wrong round: refused too.
  v1::SecAggServerMessage wrong_round = Pending(1);
  wrong_round.set_round(7);
  ExpectAbort(1, wrong_round, absl::StatusCode::kPermissionDenied,
              "another session or round");

  // A signature from the old round no longer verifies even if re-stamped.
  v1::SecAggServerMessage restamped = stale;
  restamped.set_session_id(h_->config.session_id());
  restamped.set_round(h_->config.round());
  ExpectAbort(
      2,
      [&] {
        v1::SecAggServerMessage m = Pending(2);
        *m.mutable_share_keys_request()->mutable_neighbour_keys(2) =
            restamped.share_keys_request().neighbour_keys(2);
        return m;
      }(),
      absl::StatusCode::kUnauthenticated, "not signed");
}

TEST_F(SecAggClientTest, RefusesTamperedCiphertext) {
  RunUntil(SecAggServer::Phase::kMaskedInputCollection);
  v1::SecAggServerMessage m = Pending(0);
  std::string* ct =
      m.mutable_masked_input_request()->mutable_shares(1)->mutable_ciphertext();
  (*ct)[ct->size() / 2] ^= 0x01;
  ExpectAbort(0, m, absl::StatusCode::kDataLoss, "failed authentication");
}

TEST_F(SecAggClientTest, RefusesCiphertextRelabelledWithAnotherSender) {
  RunUntil(SecAggServer::Phase::kMaskedInputCollection);
  v1::SecAggServerMessage m = Pending(0);
  auto* shares = m.mutable_masked_input_request()->mutable_shares();
  std::string first = shares->Get(0).sender();
  shares->Mutable(0)->set_sender(shares->Get(1).sender());
  shares->Mutable(1)->set_sender(first);
  ExpectAbort(0, m, absl::StatusCode::kDataLoss, "failed authentication");
}

TEST_F(SecAggClientTest, RefusesCiphertextAddressedToAnotherClient) {
  RunUntil(SecAggServer::Phase::kMaskedInputCollection);
  v1::SecAggServerMessage m = Pending(0);
  m.mutable_masked_input_request()->mutable_shares(0)->set_recipient(h_->id(3));
  ExpectAbort(0, m, absl::StatusCode::kPermissionDenied, "addressed to");
}

TEST_F(SecAggClientTest, RefusesCiphertextForwardedToTheWrongClient) {
  RunUntil(SecAggServer::Phase::kMaskedInputCollection);
  // Client 2's share meant for client 1, handed to client 0 unchanged except
  // the recipient label: the AEAD key and AAD differ.
  v1::SecAggServerMessage for_one = Pending(1);
  v1::EncryptedKeyShares stolen;
  for (const auto& s : for_one.masked_input_request().shares()) {
    if (s.sender() == h_->id(2)) stolen = s;
  }
  v1::SecAggServerMessage m = Pending(0);
  for (auto& s : *m.mutable_masked_input_request()->mutable_shares()) {
    if (s.sender() == h_->id(2)) {
      s.set_ciphertext(stolen.ciphertext());
    }
  }
  ExpectAbort(0, m, absl::StatusCode::kDataLoss, "failed authentication");
}

// The coordinator cannot open key shares, so only the recipient can say whose
// did not decrypt: it aborts naming them (Abort.blamed), having tried all.
TEST_F(SecAggClientTest, UndecryptableSharesAbortBlamingTheirSender) {
  RunUntil(SecAggServer::Phase::kMaskedInputCollection);
  v1::SecAggServerMessage m = Pending(0);
  for (auto& s : *m.mutable_masked_input_request()->mutable_shares()) {
    if (s.sender() == h_->id(2)) {
      (*s.mutable_ciphertext())[s.ciphertext().size() / 2] ^= 0x01;
    }
  }
  ExpectAbort(0, m, absl::StatusCode::kDataLoss, "failed authentication");
  const auto& abort = h_->clients[0]->abort_message();
  ASSERT_TRUE(abort.has_value());
  EXPECT_EQ(abort->session_id(), h_->config.session_id());
  EXPECT_EQ(abort->round(), h_->config.round());
  ASSERT_TRUE(abort->has_abort());
  EXPECT_THAT(abort->abort().blamed(), ::testing::ElementsAre(h_->id(2)));
  EXPECT_THAT(abort->abort().reason(), HasSubstr(h_->id(2)));
}

TEST_F(SecAggClientTest, EverySenderWhoseSharesFailIsBlamedOnce) {
  RunUntil(SecAggServer::Phase::kMaskedInputCollection);
  v1::SecAggServerMessage m = Pending(0);
  for (auto& s : *m.mutable_masked_input_request()->mutable_shares()) {
    if (s.sender() == h_->id(4)) s.set_ciphertext("garbage");
    if (s.sender() == h_->id(1)) (*s.mutable_ciphertext())[0] ^= 0x80;
  }
  ExpectAbort(0, m, absl::StatusCode::kDataLoss, "cannot be opened");
  const auto& abort = h_->clients[0]->abort_message();
  ASSERT_TRUE(abort.has_value());
  EXPECT_THAT(abort->abort().blamed(),
              ::testing::ElementsAre(h_->id(1), h_->id(4)));
}

// Misrouting is the coordinator's doing (it addresses every envelope): the
// client aborts without blaming a sender.
TEST_F(SecAggClientTest, MisaddressedSharesAbortWithoutBlame) {
  RunUntil(SecAggServer::Phase::kMaskedInputCollection);
  v1::SecAggServerMessage m = Pending(0);
  m.mutable_masked_input_request()->mutable_shares(0)->set_recipient(h_->id(3));
  ExpectAbort(0, m, absl::StatusCode::kPermissionDenied, "addressed to");
  ASSERT_TRUE(h_->clients[0]->abort_message().has_value());
  EXPECT_THAT(h_->clients[0]->abort_message()->abort().blamed(),
              ::testing::IsEmpty());
}

TEST_F(SecAggClientTest, AbortsWhenTooFewNeighboursSentShares) {
  RunUntil(SecAggServer::Phase::kMaskedInputCollection);
  v1::SecAggServerMessage m = Pending(0);
  auto* shares = m.mutable_masked_input_request()->mutable_shares();
  shares->erase(shares->begin() + 1, shares->end());
  ExpectAbort(0, m, absl::StatusCode::kFailedPrecondition,
              "only 1 neighbours sent key shares");
}

class SecAggClientSurvivorListTest : public SecAggClientTest {
 protected:
  v1::SecAggServerMessage WithSurvivors(
      int i, const std::vector<std::string>& survivors) {
    v1::SecAggServerMessage m = Pending(i);
    auto* list = m.mutable_consistency_check_request()->mutable_survivors();
    list->Clear();
    for (const auto& s : survivors) list->Add()->assign(s);
    return m;
  }
};

TEST_F(SecAggClientSurvivorListTest, RefusesListWithoutTheRecipient) {
  RunUntil(SecAggServer::Phase::kConsistencyCheck);
  ExpectAbort(0, WithSurvivors(0, {h_->id(1), h_->id(2), h_->id(3), h_->id(4)}),
              absl::StatusCode::kPermissionDenied,
              "does not contain this client");
}

TEST_F(SecAggClientSurvivorListTest,
       RefusesDuplicatesNonCohortIdsAndShortLists) {
  RunUntil(SecAggServer::Phase::kConsistencyCheck);
  ExpectAbort(0, WithSurvivors(0, {h_->id(0), h_->id(1), h_->id(1), h_->id(2)}),
              absl::StatusCode::kPermissionDenied, "twice");
  ExpectAbort(1, WithSurvivors(1, {h_->id(0), h_->id(1), "zed"}),
              absl::StatusCode::kPermissionDenied, "not in the cohort");
  ExpectAbort(2, WithSurvivors(2, {h_->id(1), h_->id(2)}),
              absl::StatusCode::kFailedPrecondition,
              "fewer than the threshold 3");
  ExpectAbort(3, WithSurvivors(3, {h_->id(3), h_->id(1), h_->id(2)}),
              absl::StatusCode::kInvalidArgument, "not sorted");
}

// Distributed DP: a client whose noise is sized for 5 summands refuses to
// sign (and so to unmask) a survivor list of 4, though 4 >= t = 3.
TEST(SecAggClientMinSurvivorsTest, RefusesToUnmaskFewerThanMinSurvivors) {
  std::mt19937_64 rng(3);
  v1::SecAggConfig config = MakeConfig(rng, 5, 4, 3, 32, 16);
  config.set_min_survivors(5);
  Harness h(config, rng);
  for (int i = 0; i < h.n(); ++i) h.Advertise(i);
  ASSERT_TRUE(h.server->AdvancePhase().ok());
  while (h.server->phase() != SecAggServer::Phase::kConsistencyCheck) {
    for (int i = 0; i < h.n(); ++i) ASSERT_TRUE(h.DeliverPending(i).ok());
    ASSERT_TRUE(h.server->AdvancePhase().ok());
  }
  v1::SecAggServerMessage m = *h.server->PendingMessageFor(h.id(0));
  auto* list = m.mutable_consistency_check_request()->mutable_survivors();
  list->RemoveLast();  // a server dropping client 4's input after the fact
  absl::StatusOr<SecAggClient::Reply> reply = h.clients[0]->Handle(m);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      std::string(reply.status().message()),
      HasSubstr("fewer than the 5 whose noise this round's privacy needs"));
  // The untouched list of all 5 is accepted by another client.
  EXPECT_TRUE(h.clients[1]->Handle(*h.server->PendingMessageFor(h.id(1))).ok());
}

TEST(SecAggClientMinSurvivorsTest, MinSurvivorsAboveTheCohortIsRefused) {
  std::mt19937_64 rng(3);
  v1::SecAggConfig config = MakeConfig(rng, 5, 4, 3, 32, 16);
  config.set_min_survivors(6);
  EXPECT_FALSE(SecAggParameters::FromProto(config).ok());
}

TEST_F(SecAggClientTest, UnmaskingRefusesAListOtherThanTheOneSigned) {
  RunUntil(SecAggServer::Phase::kUnmasking);
  v1::SecAggServerMessage m = Pending(0);
  m.mutable_unmasking_request()->mutable_survivors()->RemoveLast();
  ExpectAbort(0, m, absl::StatusCode::kPermissionDenied,
              "differs from the one this client signed");
}

TEST_F(SecAggClientTest, UnmaskingRefusesAnInvalidConsistencySignature) {
  RunUntil(SecAggServer::Phase::kUnmasking);
  v1::SecAggServerMessage m = Pending(0);
  std::string* sig =
      m.mutable_unmasking_request()->mutable_signatures(0)->mutable_signature();
  (*sig)[sig->size() - 2] ^= 0x01;
  ExpectAbort(0, m, absl::StatusCode::kUnauthenticated, "does not verify");
}

TEST_F(SecAggClientTest, UnmaskingRefusesTooFewConsistencySignatures) {
  RunUntil(SecAggServer::Phase::kUnmasking);
  v1::SecAggServerMessage m = Pending(0);
  auto* sigs = m.mutable_unmasking_request()->mutable_signatures();
  sigs->erase(sigs->begin() + 1, sigs->end());
  ExpectAbort(0, m, absl::StatusCode::kFailedPrecondition,
              "only 1 neighbours signed");
}

TEST_F(SecAggClientTest, UnmaskingRefusesDuplicatedOrForeignSignatures) {
  RunUntil(SecAggServer::Phase::kUnmasking);
  v1::SecAggServerMessage m = Pending(0);
  auto* sigs = m.mutable_unmasking_request()->mutable_signatures();
  *sigs->Add() = sigs->Get(0);
  ExpectAbort(0, m, absl::StatusCode::kPermissionDenied,
              "two consistency signatures");
  v1::SecAggServerMessage own = Pending(1);
  own.mutable_unmasking_request()->mutable_signatures(0)->set_client_id(
      h_->id(1));
  ExpectAbort(1, own, absl::StatusCode::kPermissionDenied, "not a neighbour");
}

// The attack the consistency check exists for: the server claims to some
// clients that a dropped client v survived (to collect v's seed shares)
// while the others report it dropped (revealing its masking-key shares).
TEST_F(SecAggClientTest, UnmaskingRefusesToRevealBothSharesOfOneClient) {
  AdvertiseAll();
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(h_->DeliverPending(i).ok());  // ShareKeys
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(h_->DeliverPending(i).ok());  // 4 drops
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  ASSERT_EQ(h_->server->Survivors().size(), 4u);

  // Clients 0 and 1 are told client 4 survived; 2 and 3 get the truth.
  std::vector<std::string> lie = {h_->id(0), h_->id(1), h_->id(2), h_->id(3),
                                  h_->id(4)};
  std::map<int, std::string> signatures;
  for (int i = 0; i < 4; ++i) {
    v1::SecAggServerMessage m = Pending(i);
    if (i < 2) {
      auto* list = m.mutable_consistency_check_request()->mutable_survivors();
      list->Clear();
      for (const auto& s : lie) list->Add()->assign(s);
    }
    auto reply = h_->clients[i]->Handle(m);
    ASSERT_TRUE(reply.ok()) << reply.status();
    signatures[i] = reply->message->consistency_check_response().signature();
  }
  // Client 0 gets the lie back with every signature: 2's and 3's are over
  // the true list and fail.
  v1::SecAggServerMessage all;
  all.set_session_id(h_->config.session_id());
  all.set_round(h_->config.round());
  for (const auto& s : lie) all.mutable_unmasking_request()->add_survivors(s);
  for (int j = 1; j < 4; ++j) {
    auto* sig = all.mutable_unmasking_request()->add_signatures();
    sig->set_client_id(h_->id(j));
    sig->set_signature(signatures[j]);
  }
  ExpectAbort(0, all, absl::StatusCode::kUnauthenticated, "does not verify");
  // Client 1 gets only the signature that verifies (client 0's): too few.
  v1::SecAggServerMessage valid_only = all;
  auto* sigs = valid_only.mutable_unmasking_request()->mutable_signatures();
  sigs->Clear();
  auto* sig = sigs->Add();
  sig->set_client_id(h_->id(0));
  sig->set_signature(signatures[0]);
  ExpectAbort(1, valid_only, absl::StatusCode::kFailedPrecondition,
              "only 1 neighbours signed");
  // And the true list, which client 1 never signed, is refused as well.
  SUCCEED();
}

TEST_F(SecAggClientTest, ServerAbortEndsTheClient) {
  AdvertiseAll();
  h_->server->Abort("operator stopped the round");
  auto reply = h_->clients[0]->Handle(Pending(0));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(reply.status().message()),
              HasSubstr("operator stopped the round"));
  EXPECT_TRUE(h_->clients[0]->aborted());
  EXPECT_FALSE(h_->clients[0]->abort_message().has_value())
      << "no Abort is sent back for the server's own";
}

TEST_F(SecAggClientTest, ServerAbortReasonIsEscapedAndBounded) {
  AdvertiseAll();
  v1::SecAggServerMessage m = Pending(0);
  m.mutable_abort()->set_reason("stop\n[forged] " + std::string(5000, 'a'));
  auto reply = h_->clients[0]->Handle(m);
  ASSERT_FALSE(reply.ok());
  const std::string message(reply.status().message());
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_LT(message.size(), 400u);
}

TEST_F(SecAggClientTest, RevealsExactlyOneShareOfEachNeighbour) {
  AdvertiseAll();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h_->DeliverPending(i).ok());
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(h_->DeliverPending(i).ok());  // 4 drops
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(h_->DeliverPending(i).ok());
  ASSERT_TRUE(h_->server->AdvancePhase().ok());
  auto reply = h_->clients[0]->Handle(Pending(0));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->done);
  std::map<std::string, std::string> kinds;
  for (const auto& s : reply->message->unmasking_response().shares()) {
    EXPECT_TRUE(
        kinds.emplace(s.owner(), s.has_self_mask_seed_share() ? "seed" : "key")
            .second);
  }
  EXPECT_EQ(kinds.size(), 5u);
  EXPECT_EQ(kinds[h_->id(0)], "seed");
  EXPECT_EQ(kinds[h_->id(1)], "seed");
  EXPECT_EQ(kinds[h_->id(4)], "key");
  EXPECT_FALSE(h_->clients[0]->Handle(Pending(0)).ok());  // completed
}

TEST(SecAggClientCreateTest, RefusesInputsThatDoNotFit) {
  std::mt19937_64 rng(6);
  v1::SecAggConfig config = MakeConfig(rng, 3, 2, 2, 8, 4);
  EXPECT_FALSE(
      SecAggClient::Create(config, TestPki::Get().Identity(0), {1, 2, 3}).ok());
  EXPECT_FALSE(
      SecAggClient::Create(config, TestPki::Get().Identity(0), {1, 2, 3, 256})
          .ok());
  EXPECT_FALSE(
      SecAggClient::Create(config, TestPki::Get().Identity(5), {1, 2, 3, 4})
          .ok());
  EXPECT_TRUE(
      SecAggClient::Create(config, TestPki::Get().Identity(0), {1, 2, 3, 255})
          .ok());
}

// An identity whose key is already parsed (identity_cache.h) needs no PEM:
// the advertisement it signs verifies against its certificate; without
// either key the client is refused.
TEST(SecAggClientCreateTest, SignsWithAnAlreadyParsedKey) {
  std::mt19937_64 rng(7);
  v1::SecAggConfig config = MakeConfig(rng, 3, 2, 2, 8, 4);
  SecAggIdentity identity = TestPki::Get().Identity(0);
  auto key = SigningKey::Create(TestPki::Get().key_pem(0));
  ASSERT_TRUE(key.ok()) << key.status();
  identity.signing_key = std::make_shared<const SigningKey>(*std::move(key));
  identity.key_pem = SecretBytes();
  auto client = SecAggClient::Create(config, std::move(identity), {1, 2, 3, 4});
  ASSERT_TRUE(client.ok()) << client.status();
  auto message = (*client)->Start();
  ASSERT_TRUE(message.ok()) << message.status();
  const v1::AdvertiseKeys& keys = message->advertise_keys();
  EXPECT_TRUE(VerifySignedByIdentity(
                  TestPki::Get().ca_pem(), TestPki::Get().cert_pem(0),
                  TestPki::ClientId(0),
                  AdvertiseSignaturePayload(
                      config.session_id(), config.round(), keys.client_id(),
                      keys.encryption_public_key(), keys.masking_public_key()),
                  keys.signature())
                  .ok());

  SecAggIdentity keyless = TestPki::Get().Identity(0);
  keyless.key_pem = SecretBytes();
  EXPECT_TRUE(absl::IsInvalidArgument(
      SecAggClient::Create(config, std::move(keyless), {1, 2, 3, 4}).status()));
}

class FailingPrng final : public SecurePrng {
 public:
  absl::Status Fill(absl::Span<uint8_t>) override {
    return absl::InternalError("entropy source unavailable");
  }
};

SecAggClientEnvironment RecordingEnvironment(EventLog* log,
                                             std::unique_ptr<SecurePrng> prng) {
  SecAggClientEnvironment env;
  env.prng = std::move(prng);
  env.listener = std::make_unique<RecordingClientListener>(log);
  return env;
}

TEST(SecAggClientEnvironmentTest,
     AFailingPrngAbortsStartAndTheListenerHearsWhy) {
  std::mt19937_64 rng(11);
  v1::SecAggConfig config = MakeConfig(rng, 3, 2, 2, 8, 4);
  EventLog log;
  auto client = SecAggClient::Create(
      config, TestPki::Get().Identity(0), {1, 2, 3, 4},
      RecordingEnvironment(&log, std::make_unique<FailingPrng>()));
  ASSERT_TRUE(client.ok()) << client.status();
  auto start = (*client)->Start();
  EXPECT_EQ(start.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE((*client)->aborted());
  EXPECT_THAT(
      log,
      ::testing::ElementsAre(
          "client-000 entered AdvertiseKeys",
          "client-000 aborted in AdvertiseKeys: entropy source unavailable"));
}

TEST(SecAggClientEnvironmentTest,
     ListenerHearsEachPhaseAndTheServersAbortReason) {
  std::mt19937_64 rng(12);
  v1::SecAggConfig config = MakeConfig(rng, 3, 2, 2, 8, 4);
  EventLog log;
  auto client = SecAggClient::Create(
      config, TestPki::Get().Identity(1), {1, 2, 3, 4},
      RecordingEnvironment(
          &log, std::make_unique<DeterministicPrngForTesting>("c1")));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Start().ok());
  v1::SecAggServerMessage abort;
  abort.set_session_id(config.session_id());
  abort.set_round(config.round());
  abort.mutable_abort()->set_reason("deadline passed");
  EXPECT_EQ((*client)->Handle(abort).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_THAT(
      log,
      ::testing::ElementsAre(
          "client-001 entered AdvertiseKeys", "client-001 entered ShareKeys",
          "client-001 aborted in ShareKeys: server aborted the round: "
          "deadline passed"));
}

TEST(SecAggClientEnvironmentTest, ASeededPrngMakesTheKeysReproducible) {
  std::mt19937_64 rng(13);
  v1::SecAggConfig config = MakeConfig(rng, 3, 2, 2, 8, 4);
  auto advertise = [&](const std::string& seed) {
    SecAggClientEnvironment env;
    env.prng = std::make_unique<DeterministicPrngForTesting>(seed);
    auto client = SecAggClient::Create(config, TestPki::Get().Identity(0),
                                       {1, 2, 3, 4}, std::move(env));
    EXPECT_TRUE(client.ok()) << client.status();
    auto message = (*client)->Start();
    EXPECT_TRUE(message.ok()) << message.status();
    return message->advertise_keys();
  };
  const v1::AdvertiseKeys a = advertise("seed"), b = advertise("seed"),
                          c = advertise("other");
  EXPECT_EQ(a.encryption_public_key(), b.encryption_public_key());
  EXPECT_EQ(a.masking_public_key(), b.masking_public_key());
  EXPECT_NE(a.encryption_public_key(), a.masking_public_key());
  EXPECT_NE(a.encryption_public_key(), c.encryption_public_key());
}

}  // namespace
}  // namespace fedlearn::testing
