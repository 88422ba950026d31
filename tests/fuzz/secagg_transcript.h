// One honest secure-aggregation round of kSecAggClients clients, recorded
// once per fuzzer process, for the state-machine fuzzers to replay and
// mutate: every client's messages and masked input, and every server message
// per client, in protocol order. Keys are Ed25519 from a seeded PKI and each
// client's randomness is DeterministicPrngForTesting(ClientSeed(i)), so a
// fresh client built by MakeSecAggClient(i) is byte-for-byte the recorded
// one and accepts the recorded server messages. Test-only; not thread-safe.
#ifndef FEDLEARN_TESTS_FUZZ_SECAGG_TRANSCRIPT_H_
#define FEDLEARN_TESTS_FUZZ_SECAGG_TRANSCRIPT_H_

#include <memory>
#include <string>
#include <vector>

#include "client/secagg/secagg_client.h"
#include "common/crypto/secure_prng.h"
#include "server/secagg/secagg_server.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/server/secagg/deterministic_pki.h"

namespace fedlearn::fuzz {

inline constexpr int kSecAggClients = 4;
inline constexpr int kSecAggVectorLength = 8;

inline std::string SecAggClientId(int i) {
  return "client-" + std::to_string(i);
}

struct SecAggTranscript {
  v1::SecAggConfig config;
  std::unique_ptr<testing::DeterministicPki> pki;
  // [client][k]: what client i sent, in order (AdvertiseKeys first).
  std::vector<std::vector<v1::SecAggClientMessage>> client_messages;
  std::vector<std::vector<uint32_t>> masked_inputs;
  // [client][k]: what the server sent client i, in order.
  std::vector<std::vector<v1::SecAggServerMessage>> server_messages;
};

inline std::vector<uint32_t> SecAggInput(int i) {
  std::vector<uint32_t> x(kSecAggVectorLength);
  for (int j = 0; j < kSecAggVectorLength; ++j) x[j] = 1000 * i + j;
  return x;
}

inline std::unique_ptr<SecAggClient> MakeSecAggClient(const SecAggTranscript& t,
                                                      int i) {
  SecAggClientEnvironment env;
  env.prng = std::make_unique<DeterministicPrngForTesting>("fuzz-client-" +
                                                           std::to_string(i));
  absl::StatusOr<std::unique_ptr<SecAggClient>> client = SecAggClient::Create(
      t.config, t.pki->Identity(i), SecAggInput(i), std::move(env));
  FuzzCheck(client.ok(), "cannot create an honest secagg client");
  return *std::move(client);
}

// Runs the honest round and records it; aborts if it does not complete.
inline const SecAggTranscript& HonestSecAggTranscript() {
  static const SecAggTranscript* recorded = [] {
    auto* t = new SecAggTranscript;
    std::vector<std::string> ids;
    for (int i = 0; i < kSecAggClients; ++i) ids.push_back(SecAggClientId(i));
    absl::StatusOr<testing::DeterministicPki> pki =
        testing::DeterministicPki::Create("fuzz-pki", ids);
    FuzzCheck(pki.ok(), "cannot build the fuzz PKI");
    t->pki = std::make_unique<testing::DeterministicPki>(*std::move(pki));
    t->config.set_session_id(std::string(32, 'S'));
    t->config.set_round(3);
    for (const std::string& id : ids) t->config.add_cohort(id);
    t->config.set_degree(kSecAggClients - 1);
    t->config.set_threshold(3);
    t->config.set_modulus_bits(20);
    t->config.set_vector_length(kSecAggVectorLength);
    t->client_messages.resize(kSecAggClients);
    t->masked_inputs.resize(kSecAggClients);
    t->server_messages.resize(kSecAggClients);
    absl::StatusOr<std::unique_ptr<SecAggServer>> server =
        SecAggServer::Create(t->config);
    FuzzCheck(server.ok(), "cannot create the secagg server");
    std::vector<std::unique_ptr<SecAggClient>> clients;
    for (int i = 0; i < kSecAggClients; ++i) {
      clients.push_back(MakeSecAggClient(*t, i));
      absl::StatusOr<v1::SecAggClientMessage> start = clients[i]->Start();
      FuzzCheck(start.ok(), "honest Start failed");
      t->client_messages[i].push_back(*start);
      FuzzCheck((*server)->HandleMessage(ids[i], *start).ok(),
                "honest AdvertiseKeys refused");
    }
    while ((*server)->phase() != SecAggServer::Phase::kCompleted) {
      FuzzCheck((*server)->AdvancePhase().ok(), "honest round aborted");
      for (int i = 0; i < kSecAggClients; ++i) {
        auto pending = (*server)->PendingMessageFor(ids[i]);
        if (!pending) continue;
        t->server_messages[i].push_back(*pending);
        absl::StatusOr<SecAggClient::Reply> reply =
            clients[i]->Handle(*pending);
        FuzzCheck(reply.ok(), "honest client refused a server message");
        if (reply->message) {
          t->client_messages[i].push_back(*reply->message);
          FuzzCheck((*server)->HandleMessage(ids[i], *reply->message).ok(),
                    "honest client message refused");
        }
        if (reply->masked_input) {
          t->masked_inputs[i] = *reply->masked_input;
          FuzzCheck(
              (*server)->HandleMaskedInput(ids[i], *reply->masked_input).ok(),
              "honest masked input refused");
        }
      }
    }
    return t;
  }();
  return *recorded;
}

}  // namespace fedlearn::fuzz

#endif  // FEDLEARN_TESTS_FUZZ_SECAGG_TRANSCRIPT_H_
