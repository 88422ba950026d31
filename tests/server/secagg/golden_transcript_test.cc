// A golden transcript of one full secure-aggregation round: 5 clients, full
// graph (k = 4, t = 3), D = 16, b = 16, client-004 drops after sharing its
// keys. Every random byte comes from DeterministicPrngForTesting (one per
// client, one for the session id), certificates and signatures are
// deterministic Ed25519 (tests/server/secagg/deterministic_pki.h), inputs are
// fixed, and the states read no clock. Every message that crosses between
// server and clients is appended, in delivery order, with its direction and
// client id, as deterministic protobuf bytes (the masked vectors as
// little-endian words); the SHA-256 of that transcript is pinned below.
//
// Re-pinning: when the protocol changes ON PURPOSE (wire format, canonical
// byte strings, mask PRG, share encoding, message order, the test PRNG),
// this test fails and prints the new digest with a per-message summary.
// Check that the change is intended and every other secagg test passes,
// then paste the printed digest into kGoldenTranscriptSha256 in the same
// commit as the change, and say why in the commit message. A change that
// was NOT meant to alter the protocol must leave the digest unchanged.
#include <openssl/sha.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/secagg/secagg_client.h"
#include "common/crypto/secure_prng.h"
#include "common/secagg/secagg_config.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "server/secagg/secagg_server.h"
#include "tests/server/secagg/deterministic_pki.h"
#include "tests/server/secagg/recording_listeners.h"

namespace fedlearn::testing {
namespace {

using ::testing::ElementsAre;

constexpr char kGoldenTranscriptSha256[] =
    "3f3cfc74ca4dd777f69c936f2a36fa4f704ecdeb5d9be04d641fb268c929e0bb";
constexpr char kSeed[] = "golden-transcript/v1";

constexpr int kClients = 5;
constexpr int kDropped = 4;  // drops after sharing keys
constexpr int kVectorLength = 16;
constexpr int kModulusBits = 16;

std::string ClientId(int i) { return absl::StrCat("client-00", i); }

std::string Sha256Hex(std::string_view s) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return absl::BytesToHexString(
      std::string(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

// The transcript: length-prefixed (direction, client id, bytes) records.
class Transcript {
 public:
  void Add(std::string_view direction, const std::string& client,
           const google::protobuf::MessageLite& message) {
    std::string bytes;
    {
      google::protobuf::io::StringOutputStream stream(&bytes);
      google::protobuf::io::CodedOutputStream out(&stream);
      out.SetSerializationDeterministic(true);
      EXPECT_TRUE(message.SerializeToCodedStream(&out));
    }
    Record(direction, client, bytes);
  }
  void AddVector(const std::string& client, const std::vector<uint32_t>& v) {
    std::string bytes;
    for (uint32_t w : v) {
      for (int k = 0; k < 4; ++k)
        bytes.push_back(static_cast<char>(w >> 8 * k));
    }
    Record("c2s-masked-input", client, bytes);
  }
  const std::string& bytes() const { return bytes_; }
  const std::vector<std::string>& summary() const { return summary_; }

 private:
  void Field(std::string_view s) {
    for (int k = 3; k >= 0; --k) {
      bytes_.push_back(static_cast<char>(s.size() >> 8 * k));
    }
    bytes_.append(s.data(), s.size());
  }
  void Record(std::string_view direction, const std::string& client,
              const std::string& payload) {
    Field(direction);
    Field(client);
    Field(payload);
    summary_.push_back(absl::StrCat(
        summary_.size(), " ", std::string(direction), " ", client, " ",
        payload.size(), " bytes ", Sha256Hex(payload).substr(0, 16)));
  }

  std::string bytes_;
  std::vector<std::string> summary_;
};

const DeterministicPki& Pki() {
  static const DeterministicPki* pki = [] {
    std::vector<std::string> ids;
    for (int i = 0; i < kClients; ++i) ids.push_back(ClientId(i));
    auto p = DeterministicPki::Create("golden-transcript/pki/v1", ids);
    EXPECT_TRUE(p.ok()) << p.status();
    return new DeterministicPki(*std::move(p));
  }();
  return *pki;
}

std::vector<uint32_t> InputOf(int i) {
  std::vector<uint32_t> x(kVectorLength);
  for (int j = 0; j < kVectorLength; ++j) {
    x[j] = static_cast<uint32_t>(1000 * i + 37 * j + 1) & 0xffffu;
  }
  return x;
}

struct RoundRecord {
  Transcript transcript;
  EventLog events;
  std::vector<uint32_t> sum;
};

v1::SecAggConfig GoldenConfig(const std::string& seed) {
  DeterministicPrngForTesting session_prng(seed + "/session");
  absl::StatusOr<std::string> session = NewSecAggSessionId(session_prng);
  EXPECT_TRUE(session.ok()) << session.status();
  v1::SecAggConfig config;
  config.set_session_id(*session);
  config.set_round(7);
  for (int i = 0; i < kClients; ++i) config.add_cohort(ClientId(i));
  config.set_degree(kClients - 1);
  config.set_threshold(3);
  config.set_modulus_bits(kModulusBits);
  config.set_vector_length(kVectorLength);
  return config;
}

// Hands the server's pending message to client i, records both directions,
// and forwards the reply.
void Exchange(SecAggServer& server, SecAggClient& client, Transcript& t) {
  const std::string id = client.client_id();
  std::optional<v1::SecAggServerMessage> pending = server.PendingMessageFor(id);
  ASSERT_TRUE(pending.has_value()) << id;
  t.Add("s2c", id, *pending);
  absl::StatusOr<SecAggClient::Reply> reply = client.Handle(*pending);
  ASSERT_TRUE(reply.ok()) << id << ": " << reply.status();
  if (reply->message) {
    t.Add("c2s", id, *reply->message);
    ASSERT_TRUE(server.HandleMessage(id, *reply->message).ok());
  }
  if (reply->masked_input) {
    t.AddVector(id, *reply->masked_input);
    ASSERT_TRUE(server.HandleMaskedInput(id, *reply->masked_input).ok());
  }
}

// One full round under `seed`; fails the test on any protocol error.
void RunRound(const std::string& seed, RoundRecord* out) {
  const v1::SecAggConfig config = GoldenConfig(seed);
  SecAggServerEnvironment server_env;
  server_env.listener = std::make_unique<RecordingServerListener>(&out->events);
  auto server = SecAggServer::Create(config, std::move(server_env));
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<std::unique_ptr<SecAggClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    SecAggClientEnvironment env;
    env.prng = std::make_unique<DeterministicPrngForTesting>(
        absl::StrCat(seed, "/client/", i));
    env.listener = std::make_unique<RecordingClientListener>(&out->events);
    auto client = SecAggClient::Create(config, Pki().Identity(i), InputOf(i),
                                       std::move(env));
    ASSERT_TRUE(client.ok()) << client.status();
    clients.push_back(*std::move(client));
  }
  for (auto& client : clients) {
    auto advert = client->Start();
    ASSERT_TRUE(advert.ok()) << advert.status();
    out->transcript.Add("c2s", client->client_id(), *advert);
    ASSERT_TRUE((*server)->HandleMessage(client->client_id(), *advert).ok());
  }
  ASSERT_TRUE((*server)->AdvancePhase().ok());
  while ((*server)->phase() != SecAggServer::Phase::kCompleted) {
    const bool dropped_out =
        (*server)->phase() != SecAggServer::Phase::kShareKeys;
    for (int i = 0; i < kClients; ++i) {
      if (i == kDropped && dropped_out) continue;
      Exchange(**server, *clients[i], out->transcript);
    }
    ASSERT_TRUE((*server)->AdvancePhase().ok()) << (*server)->abort_reason();
  }
  absl::StatusOr<std::vector<uint32_t>> sum = (*server)->TakeResult();
  ASSERT_TRUE(sum.ok()) << sum.status();
  out->sum = *std::move(sum);
}

TEST(GoldenTranscriptTest, OneSecureRoundReplaysToThePinnedDigest) {
  RoundRecord run;
  ASSERT_NO_FATAL_FAILURE(RunRound(kSeed, &run));
  const std::string digest = Sha256Hex(run.transcript.bytes());
  EXPECT_EQ(digest, kGoldenTranscriptSha256)
      << "The secure-aggregation transcript changed. If the protocol changed "
         "on purpose, re-pin kGoldenTranscriptSha256 to the value above (see "
         "the header of this file). Messages:\n"
      << absl::StrJoin(run.transcript.summary(), "\n");
  // 5 advertisements; 5 share-key exchanges; 4 each of masked input,
  // consistency check and unmasking (2 records per exchange).
  EXPECT_EQ(run.transcript.summary().size(), 5u + 10u + 3u * 8u);
}

TEST(GoldenTranscriptTest, TheSumIsExactlyTheSurvivorsInputs) {
  RoundRecord run;
  ASSERT_NO_FATAL_FAILURE(RunRound(kSeed, &run));
  std::vector<uint32_t> expected(kVectorLength, 0);
  for (int i = 0; i < kClients; ++i) {
    if (i == kDropped) continue;
    const std::vector<uint32_t> x = InputOf(i);
    for (int j = 0; j < kVectorLength; ++j) {
      expected[j] = (expected[j] + x[j]) & 0xffffu;
    }
  }
  EXPECT_EQ(run.sum, expected);
}

TEST(GoldenTranscriptTest, TwoRunsWithOneSeedAreIdenticalByteForByte) {
  RoundRecord first, second;
  ASSERT_NO_FATAL_FAILURE(RunRound(kSeed, &first));
  ASSERT_NO_FATAL_FAILURE(RunRound(kSeed, &second));
  EXPECT_EQ(first.transcript.bytes(), second.transcript.bytes());
  EXPECT_EQ(first.events, second.events);
}

TEST(GoldenTranscriptTest, AnotherSeedGivesAnotherTranscriptAndTheSameSum) {
  RoundRecord golden, other;
  ASSERT_NO_FATAL_FAILURE(RunRound(kSeed, &golden));
  ASSERT_NO_FATAL_FAILURE(RunRound("another seed", &other));
  EXPECT_NE(golden.transcript.bytes(), other.transcript.bytes());
  EXPECT_EQ(golden.sum, other.sum);
  // Same shape: only the random bytes differ.
  EXPECT_EQ(golden.transcript.summary().size(),
            other.transcript.summary().size());
}

TEST(GoldenTranscriptTest, ListenersSeeEveryPhaseAndTheDropout) {
  RoundRecord run;
  ASSERT_NO_FATAL_FAILURE(RunRound(kSeed, &run));
  std::vector<std::string> server_events, dropped_events;
  for (const std::string& e : run.events) {
    if (e.rfind("server ", 0) == 0) server_events.push_back(e);
    if (e.rfind(ClientId(kDropped), 0) == 0) dropped_events.push_back(e);
  }
  EXPECT_THAT(server_events,
              ElementsAre("server closed AdvertiseKeys dropouts=[]",
                          "server entered ShareKeys from AdvertiseKeys",
                          "server closed ShareKeys dropouts=[]",
                          "server entered MaskedInputCollection from ShareKeys",
                          "server closed MaskedInputCollection "
                          "dropouts=[client-004]",
                          "server entered ConsistencyCheck from "
                          "MaskedInputCollection",
                          "server closed ConsistencyCheck dropouts=[]",
                          "server entered Unmasking from ConsistencyCheck",
                          "server closed Unmasking dropouts=[]",
                          "server entered Completed from Unmasking"));
  EXPECT_THAT(dropped_events, ElementsAre("client-004 entered AdvertiseKeys",
                                          "client-004 entered ShareKeys",
                                          "client-004 entered MaskedInput"));
  int completed = 0;
  for (const std::string& e : run.events) {
    completed += e.find(" entered Completed") != std::string::npos &&
                 e.rfind("client-", 0) == 0;
  }
  EXPECT_EQ(completed, kClients - 1);
}

}  // namespace
}  // namespace fedlearn::testing
