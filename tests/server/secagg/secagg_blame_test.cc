// What the coordinator's secure-aggregation server verifies before it
// forwards key advertisements, and how it takes blame for undecryptable key
// shares: a member advertising under another's certificate (or with a bad
// signature) is a dropout of AdvertiseKeys and the honest clients finish in
// the same session; blame from client Aborts is bounded to the accuser's
// neighbours in U2; ResolveBlame picks whom a retry leaves out.
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/secagg/secagg_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/secagg/advertisement_verifier.h"
#include "server/secagg/blame_resolution.h"
#include "tests/server/secagg/recording_listeners.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using Phase = SecAggServer::Phase;

SecAggServerEnvironment VerifyingEnvironment(EventLog* log) {
  SecAggServerEnvironment env;
  env.listener = std::make_unique<RecordingServerListener>(log);
  auto verifier =
      CertificateAdvertisementVerifier::Create(TestPki::Get().ca_pem());
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  env.verifier = *std::move(verifier);
  return env;
}

// Delivers every pending message and closes phases until the round ends.
void RunToEnd(Harness& h) {
  for (int guard = 0; guard < 8; ++guard) {
    if (h.server->phase() == Phase::kCompleted ||
        h.server->phase() == Phase::kAborted)
      return;
    for (int i = 0; i < h.n(); ++i) (void)h.DeliverPending(i);
    (void)h.server->AdvancePhase();
  }
}

std::vector<uint32_t> SumOf(const Harness& h, const std::vector<int>& who) {
  std::vector<uint32_t> sum(h.config.vector_length(), 0);
  for (int i : who) {
    for (size_t j = 0; j < sum.size(); ++j) sum[j] += h.inputs[i][j];
  }
  return sum;
}

class AdvertisementCheckTest : public ::testing::Test {
 protected:
  // n = 5, full graph (k = 4), t = 3; the server holds the CA.
  void SetUp() override {
    h_ = std::make_unique<Harness>(MakeConfig(rng_, 5, 4, 3, 32, 8), rng_,
                                   VerifyingEnvironment(&log_));
  }
  // Client 4's own AdvertiseKeys, altered by `tamper`, as the server sees it.
  absl::Status AdvertiseTampered(
      const std::function<void(v1::AdvertiseKeys*)>& tamper) {
    auto message = h_->clients[4]->Start();
    EXPECT_TRUE(message.ok()) << message.status();
    tamper(message->mutable_advertise_keys());
    return h_->server->HandleMessage(h_->id(4), *message);
  }
  void ExpectDroppedAndOthersComplete() {
    for (int i = 0; i < 4; ++i) h_->Advertise(i);
    EXPECT_TRUE(h_->server->AllResponded())
        << "the rejected client must not hold the phase open";
    RunToEnd(*h_);
    ASSERT_EQ(h_->server->phase(), Phase::kCompleted)
        << h_->server->abort_reason();
    for (int i = 0; i < 4; ++i) EXPECT_FALSE(h_->client_failed[i]) << i;
    EXPECT_THAT(h_->server->Survivors(),
                ElementsAre(h_->id(0), h_->id(1), h_->id(2), h_->id(3)));
    auto result = h_->server->TakeResult();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(*result, SumOf(*h_, {0, 1, 2, 3}));
    EXPECT_THAT(log_, Contains(HasSubstr("server rejected advertisement of " +
                                         h_->id(4))));
  }

  std::mt19937_64 rng_{2026};
  EventLog log_;
  std::unique_ptr<Harness> h_;
};

TEST_F(AdvertisementCheckTest,
       AdvertisementUnderAnotherClientsCertificateIsDroppedNotForwarded) {
  absl::Status s = AdvertiseTampered([](v1::AdvertiseKeys* keys) {
    keys->set_certificate_pem(TestPki::Get().cert_pem(0));
  });
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("client-000"));
  ExpectDroppedAndOthersComplete();
}

TEST_F(AdvertisementCheckTest, AdvertisementWithABadSignatureIsDropped) {
  absl::Status s = AdvertiseTampered([](v1::AdvertiseKeys* keys) {
    (*keys->mutable_signature())[keys->signature().size() / 2] ^= 0x01;
  });
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  ExpectDroppedAndOthersComplete();
}

TEST_F(AdvertisementCheckTest, KeysSignedForAnotherSessionAreDropped) {
  absl::Status s = AdvertiseTampered([](v1::AdvertiseKeys* keys) {
    // A valid key swap the signature does not cover.
    std::swap(*keys->mutable_encryption_public_key(),
              *keys->mutable_masking_public_key());
  });
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  ExpectDroppedAndOthersComplete();
}

TEST_F(AdvertisementCheckTest, RejectedClientCannotAdvertiseAgain) {
  auto honest = h_->clients[4]->Start();
  ASSERT_TRUE(honest.ok()) << honest.status();
  v1::SecAggClientMessage forged = *honest;
  forged.mutable_advertise_keys()->set_certificate_pem(
      TestPki::Get().cert_pem(1));
  ASSERT_TRUE(
      absl::IsUnauthenticated(h_->server->HandleMessage(h_->id(4), forged)));
  absl::Status again = h_->server->HandleMessage(h_->id(4), *honest);
  EXPECT_TRUE(absl::IsFailedPrecondition(again)) << again;
}

TEST(AdvertisementVerifierTest, RefusesACaThatDoesNotParse) {
  EXPECT_FALSE(CertificateAdvertisementVerifier::Create("not a pem").ok());
}

// --- Blame -----------------------------------------------------------------

class BlameTest : public ::testing::Test {
 protected:
  void Make(int n, int degree, int threshold) {
    log_.clear();
    SecAggServerEnvironment env;
    env.listener = std::make_unique<RecordingServerListener>(&log_);
    h_ = std::make_unique<Harness>(
        MakeConfig(rng_, n, degree, threshold, 32, 8), rng_, std::move(env));
    auto params = SecAggParameters::FromProto(h_->config);
    ASSERT_TRUE(params.ok()) << params.status();
    params_ = std::make_unique<SecAggParameters>(*std::move(params));
  }
  // Every client advertises and shares keys honestly, except that
  // `corrupt` (if >= 0) sends ciphertexts that do not authenticate.
  void ShareKeys(int corrupt = -1) {
    for (int i = 0; i < h_->n(); ++i) h_->Advertise(i);
    ASSERT_TRUE(h_->server->AdvancePhase().ok());
    for (int i = 0; i < h_->n(); ++i) {
      auto pending = h_->server->PendingMessageFor(h_->id(i));
      ASSERT_TRUE(pending.has_value());
      auto reply = h_->clients[i]->Handle(*pending);
      ASSERT_TRUE(reply.ok()) << reply.status();
      if (i == corrupt) {
        for (auto& s :
             *reply->message->mutable_share_keys_response()->mutable_shares()) {
          (*s.mutable_ciphertext())[0] ^= 0x01;
        }
      }
      ASSERT_TRUE(h_->server->HandleMessage(h_->id(i), *reply->message).ok());
    }
    ASSERT_TRUE(h_->server->AdvancePhase().ok());
    ASSERT_EQ(h_->server->phase(), Phase::kMaskedInputCollection);
  }
  v1::SecAggClientMessage AbortBlaming(const std::vector<std::string>& ids) {
    v1::SecAggClientMessage m;
    m.set_session_id(h_->config.session_id());
    m.set_round(h_->config.round());
    m.mutable_abort()->set_reason("bad shares");
    for (const std::string& id : ids) m.mutable_abort()->add_blamed(id);
    return m;
  }

  std::mt19937_64 rng_{77};
  EventLog log_;
  std::unique_ptr<Harness> h_;
  std::unique_ptr<SecAggParameters> params_;
};

TEST_F(BlameTest, HonestRecipientsOfUndecryptableSharesBlameTheirSender) {
  Make(5, 4, 3);
  ASSERT_NO_FATAL_FAILURE(ShareKeys(/*corrupt=*/4));
  for (int i = 0; i < 4; ++i) {
    absl::Status s = h_->DeliverPending(i);
    EXPECT_TRUE(absl::IsDataLoss(s)) << i << ": " << s;
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_THAT(log_, Contains("server heard " + h_->id(i) + " blame [" +
                               h_->id(4) + "] ignored=0"));
  }
  std::vector<BlameEdge> edges;
  for (int i = 0; i < 4; ++i) edges.push_back({h_->id(i), h_->id(4)});
  std::vector<BlameExclusion> out = ResolveBlame(edges);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].client_id, h_->id(4));
}

TEST_F(BlameTest, BlameIsBoundedToTheAccusersNeighboursThatSharedKeys) {
  Make(12, 6, 4);  // SecAgg+ graph: client 0 has 6 of 11 others
  ASSERT_NO_FATAL_FAILURE(ShareKeys());
  std::string neighbour, stranger;
  for (int v = 1; v < h_->n(); ++v) {
    (params_->graph.AreNeighbours(0, v) ? neighbour : stranger) = h_->id(v);
  }
  ASSERT_FALSE(neighbour.empty());
  ASSERT_FALSE(stranger.empty());
  std::vector<std::string> list = {neighbour, stranger, "no-such\nclient",
                                   h_->id(0), neighbour};
  for (int i = 0; i < 100'000; ++i) list.push_back(std::string(40, 'x'));
  ASSERT_TRUE(h_->server->HandleMessage(h_->id(0), AbortBlaming(list)).ok());
  EXPECT_THAT(log_,
              Contains("server heard " + h_->id(0) + " blame [" + neighbour +
                       "] ignored=" + std::to_string(list.size() - 1)));
}

TEST_F(BlameTest, BlameBeforeKeysWereSharedCountsForNothing) {
  Make(5, 4, 3);
  ASSERT_TRUE(
      h_->server->HandleMessage(h_->id(0), AbortBlaming({h_->id(1)})).ok());
  EXPECT_THAT(log_,
              Contains("server heard " + h_->id(0) + " blame [] ignored=1"));
}

TEST_F(BlameTest, AbortWithoutBlameReportsNone) {
  Make(5, 4, 3);
  ASSERT_NO_FATAL_FAILURE(ShareKeys());
  ASSERT_TRUE(h_->server->HandleMessage(h_->id(0), AbortBlaming({})).ok());
  EXPECT_THAT(log_, Not(Contains(HasSubstr(" blame ["))));
}

// --- ResolveBlame ----------------------------------------------------------

std::vector<std::string> Ids(const std::vector<BlameExclusion>& out) {
  std::vector<std::string> ids;
  for (const BlameExclusion& e : out) ids.push_back(e.client_id);
  return ids;
}

TEST(ResolveBlameTest, NoBlameExcludesNoOne) {
  EXPECT_THAT(ResolveBlame({}), IsEmpty());
  EXPECT_THAT(ResolveBlame({{"a", "a"}}), IsEmpty());
}

TEST(ResolveBlameTest, SenderBlamedByManyIsExcludedAlone) {
  EXPECT_THAT(Ids(ResolveBlame({{"a", "m"}, {"b", "m"}, {"c", "m"}})),
              ElementsAre("m"));
}

TEST(ResolveBlameTest, AccuserOfManyIsExcludedAlone) {
  EXPECT_THAT(Ids(ResolveBlame({{"m", "a"}, {"m", "b"}})), ElementsAre("m"));
}

TEST(ResolveBlameTest, OneBlameExcludesBothEnds) {
  EXPECT_THAT(Ids(ResolveBlame({{"a", "m"}})), ElementsAre("a", "m"));
  EXPECT_THAT(Ids(ResolveBlame({{"a", "m"}, {"m", "a"}})),
              ElementsAre("a", "m"));
}

TEST(ResolveBlameTest, BlameNoOneExplainsExcludesEveryEnd) {
  EXPECT_THAT(Ids(ResolveBlame({{"a", "m1"}, {"b", "m2"}})),
              ElementsAre("a", "b", "m1", "m2"));
}

TEST(ResolveBlameTest, SuspectWhoBothSendsBadSharesAndAccusesIsExcluded) {
  EXPECT_THAT(Ids(ResolveBlame({{"a", "m"}, {"m", "b"}})), ElementsAre("m"));
}

}  // namespace
}  // namespace fedlearn::testing
