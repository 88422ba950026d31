// Test fixtures for identity tests: a throwaway CA in a directory laid out
// as `fedlearn-certs init` does (ca.pem, server.pem/.key, <id>.pem/.key),
// which issues deliberately defective client certificates on demand, and an
// audit sink that remembers what it was told.
#ifndef FEDLEARN_TESTS_SERVER_IDENTITY_TEST_FEDERATION_H_
#define FEDLEARN_TESTS_SERVER_IDENTITY_TEST_FEDERATION_H_

#include <mutex>
#include <string>
#include <vector>

#include "common/tls/cert_authority.h"
#include "common/transport/tls_config.h"
#include "common/util/atomic_file.h"
#include "gtest/gtest.h"
#include "server/audit/audit_sink.h"

namespace fedlearn::testing_util {

class TestFederation {
 public:
  // Creates the CA and server certificate (localhost, 127.0.0.1) in `dir`.
  explicit TestFederation(std::string dir) : dir_(std::move(dir)) {
    auto ca = CreateCertificateAuthority("test ca", 30);
    EXPECT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
    Write("ca.pem", ca_.cert_pem, ca_.key_pem.view());
    auto server = IssueServerCertificate(ca_, "coordinator", {"localhost"},
                                         {"127.0.0.1"}, 30);
    EXPECT_TRUE(server.ok()) << server.status();
    Write("server", server->cert_pem, server->key_pem.view());
  }

  // Issues `file_name`.pem/.key for CN `client_id` with `options`; returns
  // the certificate PEM.
  std::string Issue(const std::string& client_id,
                    const IssueOptions& options = {},
                    std::string file_name = "") {
    if (file_name.empty()) file_name = client_id;
    auto pair = IssueClientCertificate(ca_, client_id, options);
    EXPECT_TRUE(pair.ok()) << pair.status();
    if (!pair.ok()) return "";
    Write(file_name, pair->cert_pem, pair->key_pem.view());
    return pair->cert_pem;
  }

  // A CRL revoking `serials`, written to crl.pem; returns its path.
  std::string Revoke(const std::vector<std::string>& serials,
                     int64_t crl_number = 0) {
    std::vector<RevokedCertificate> revoked;
    for (const std::string& serial : serials) {
      revoked.push_back({serial, 0, "keyCompromise"});
    }
    auto crl = CreateRevocationList(ca_, revoked, 7, crl_number);
    EXPECT_TRUE(crl.ok()) << crl.status();
    const std::string path = dir_ + "/crl.pem";
    EXPECT_TRUE(WriteFileAtomically(path, crl.ok() ? *crl : "").ok());
    return path;
  }

  TlsConfig Tls(const std::string& name) const {
    return TlsConfig::FromDirectory(dir_, name);
  }
  const std::string& ca_pem() const { return ca_.cert_pem; }
  const PemKeyPair& ca() const { return ca_; }
  const std::string& dir() const { return dir_; }

 private:
  void Write(const std::string& name, const std::string& cert,
             std::string_view key) {
    const std::string base =
        name == "ca.pem" ? dir_ + "/ca" : dir_ + "/" + name;
    EXPECT_TRUE(WriteFileAtomically(base + ".pem", cert).ok());
    EXPECT_TRUE(WriteFileAtomically(base + ".key", key, 0600).ok());
  }

  std::string dir_;
  PemKeyPair ca_;
};

class RecordingAuditSink final : public AuditSink {
 public:
  void Record(const AuditEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(event);
  }
  std::vector<AuditEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // The events named `name`, in order.
  std::vector<AuditEvent> Named(const std::string& name) const {
    std::vector<AuditEvent> out;
    for (const AuditEvent& e : events()) {
      if (e.event == name) out.push_back(e);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<AuditEvent> events_;
};

}  // namespace fedlearn::testing_util

#endif  // FEDLEARN_TESTS_SERVER_IDENTITY_TEST_FEDERATION_H_
