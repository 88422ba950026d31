// An in-memory harness for secure-aggregation tests: one SecAggServer and n
// SecAggClients with real certificates from an in-memory CA, messages routed
// by hand so a test can drop, replay, reorder or tamper with any of them.
#ifndef FEDLEARN_TESTS_SERVER_SECAGG_SECAGG_HARNESS_H_
#define FEDLEARN_TESTS_SERVER_SECAGG_SECAGG_HARNESS_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "client/secagg/secagg_client.h"
#include "common/crypto/secret_bytes.h"
#include "common/tls/cert_authority.h"
#include "gtest/gtest.h"
#include "server/secagg/secagg_server.h"

namespace fedlearn::testing {

inline constexpr int kMaxTestClients = 200;

// One CA per process; client certificates are issued on first use.
class TestPki {
 public:
  static const TestPki& Get() {
    static const TestPki* pki = new TestPki();
    return *pki;
  }
  static std::string ClientId(int i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "client-%03d", i);
    return buf;
  }
  SecAggIdentity Identity(int i) const {
    return SecAggIdentity{ClientId(i), Client(i).cert_pem,
                          Client(i).key_pem.Clone(), ca_.cert_pem};
  }
  const std::string& ca_pem() const { return ca_.cert_pem; }
  const std::string& cert_pem(int i) const { return Client(i).cert_pem; }
  // The PEM as text, for tests that sign as a client.
  std::string_view key_pem(int i) const {
    const SecretBytes& key = Client(i).key_pem;
    return std::string_view(reinterpret_cast<const char*>(key.data()),
                            key.size());
  }

 private:
  TestPki() : clients_(kMaxTestClients) {
    auto ca = CreateCertificateAuthority("secagg-test-ca", 30);
    EXPECT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
  }
  const PemKeyPair& Client(int i) const {
    if (!clients_[i]) {
      auto c = IssueClientCertificate(ca_, ClientId(i), 30);
      EXPECT_TRUE(c.ok()) << c.status();
      clients_[i] = std::make_unique<PemKeyPair>(*std::move(c));
    }
    return *clients_[i];
  }
  PemKeyPair ca_;
  mutable std::vector<std::unique_ptr<PemKeyPair>>
      clients_;  // tests are single-threaded
};

inline v1::SecAggConfig MakeConfig(std::mt19937_64& rng, int n, int degree,
                                   int threshold, int modulus_bits,
                                   uint64_t vector_length, uint64_t round = 7) {
  v1::SecAggConfig config;
  std::string session(32, '\0');
  for (char& c : session) c = static_cast<char>(rng());
  config.set_session_id(session);
  config.set_round(round);
  for (int i = 0; i < n; ++i) config.add_cohort(TestPki::ClientId(i));
  config.set_degree(degree);
  config.set_threshold(threshold);
  config.set_modulus_bits(modulus_bits);
  config.set_vector_length(vector_length);
  return config;
}

// Routes messages between the server and clients; every step is explicit.
struct Harness {
  v1::SecAggConfig config;
  std::unique_ptr<SecAggServer> server;
  std::vector<std::unique_ptr<SecAggClient>> clients;
  std::vector<std::vector<uint32_t>> inputs;
  std::vector<std::vector<uint32_t>> masked_inputs;  // as uploaded
  std::vector<bool> client_failed;                   // a client's Handle failed

  // `server_env` lets a test install a recording listener on the server.
  // `server_env` may also install an advertisement verifier.
  Harness(v1::SecAggConfig c, std::mt19937_64& rng,
          SecAggServerEnvironment server_env = {})
      : config(std::move(c)) {
    auto s = SecAggServer::Create(config, std::move(server_env));
    EXPECT_TRUE(s.ok()) << s.status();
    server = *std::move(s);
    const int n = config.cohort_size();
    const uint32_t mask = config.modulus_bits() >= 32
                              ? 0xffffffffu
                              : ((uint32_t{1} << config.modulus_bits()) - 1);
    for (int i = 0; i < n; ++i) {
      std::vector<uint32_t> x(config.vector_length());
      for (uint32_t& v : x) v = static_cast<uint32_t>(rng()) & mask;
      inputs.push_back(x);
      auto client = SecAggClient::Create(config, TestPki::Get().Identity(i),
                                         std::move(x));
      EXPECT_TRUE(client.ok()) << client.status();
      clients.push_back(*std::move(client));
    }
    masked_inputs.resize(n);
    client_failed.assign(n, false);
  }

  int n() const { return config.cohort_size(); }
  std::string id(int i) const { return config.cohort(i); }

  // Client i advertises its keys to the server.
  void Advertise(int i) {
    auto message = clients[i]->Start();
    ASSERT_TRUE(message.ok()) << message.status();
    ASSERT_TRUE(server->HandleMessage(id(i), *message).ok());
  }
  // Hands `message` to client i and forwards its reply to the server. Returns
  // the client's status; a failing client tells the server it aborted.
  absl::Status DeliverToClient(int i, const v1::SecAggServerMessage& message) {
    auto reply = clients[i]->Handle(message);
    if (!reply.ok()) {
      client_failed[i] = true;
      // What client/secure_upload.cc sends: the client's own Abort (with
      // any blame), or a bare one.
      v1::SecAggClientMessage abort;
      if (clients[i]->abort_message()) {
        abort = *clients[i]->abort_message();
      } else {
        abort.set_session_id(config.session_id());
        abort.set_round(config.round());
        abort.mutable_abort()->set_reason(
            std::string(reply.status().message()));
      }
      EXPECT_TRUE(server->HandleMessage(id(i), abort).ok());
      return reply.status();
    }
    if (reply->message) {
      absl::Status s = server->HandleMessage(id(i), *reply->message);
      EXPECT_TRUE(s.ok()) << s;
    }
    if (reply->masked_input) {
      masked_inputs[i] = *reply->masked_input;
      absl::Status s = server->HandleMaskedInput(id(i), *reply->masked_input);
      EXPECT_TRUE(s.ok()) << s;
    }
    return absl::OkStatus();
  }
  // Delivers the server's pending message to client i, if any.
  absl::Status DeliverPending(int i) {
    auto pending = server->PendingMessageFor(id(i));
    if (!pending) return absl::OkStatus();
    return DeliverToClient(i, *pending);
  }
};

}  // namespace fedlearn::testing

#endif  // FEDLEARN_TESTS_SERVER_SECAGG_SECAGG_HARNESS_H_
