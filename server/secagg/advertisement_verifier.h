// What the coordinator checks in a client's AdvertiseKeys before it forwards
// them: the checks every honest recipient makes (client/secagg/
// share_keys_state.cc), made once, by the one party that sees every
// advertisement, so a member advertising under another's certificate or with
// a bad signature is dropped in AdvertiseKeys instead of making every honest
// neighbour abort the attempt.
//
// Guarantees (CertificateAdvertisementVerifier): OK iff the advertised
// certificate chains to the federation CA (TrustAnchors, purpose kTlsClient),
// its only CN equals the sender's cohort id (its TLS identity), and the
// signature verifies over AdvertiseSignaturePayload(session, round, id,
// keys) under that certificate's key. Unauthenticated with the reason
// otherwise; the reason quotes no client-supplied bytes. The CA is parsed
// once, at Create. Thread-safety: Verify is const and builds its own
// verification context; one instance may serve many rounds and threads.
#ifndef FEDLEARN_SERVER_SECAGG_ADVERTISEMENT_VERIFIER_H_
#define FEDLEARN_SERVER_SECAGG_ADVERTISEMENT_VERIFIER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/signature.h"
#include "proto/fedlearn/v1/secagg.pb.h"

namespace fedlearn {

class AdvertisementVerifier {
 public:
  virtual ~AdvertisementVerifier() = default;
  // `client_id` is the sender's cohort id (its authenticated TLS identity);
  // `keys` passed the server's size checks.
  virtual absl::Status Verify(std::string_view session_id, uint64_t round,
                              const std::string& client_id,
                              const v1::AdvertiseKeys& keys) const = 0;
};

class CertificateAdvertisementVerifier final : public AdvertisementVerifier {
 public:
  // InvalidArgument unless `ca_pem` holds a CA certificate.
  static absl::StatusOr<std::unique_ptr<CertificateAdvertisementVerifier>>
  Create(std::string_view ca_pem);

  absl::Status Verify(std::string_view session_id, uint64_t round,
                      const std::string& client_id,
                      const v1::AdvertiseKeys& keys) const override;

 private:
  explicit CertificateAdvertisementVerifier(CertificateVerifier ca)
      : ca_(std::move(ca)) {}

  CertificateVerifier ca_;  // TrustAnchors, built once
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_ADVERTISEMENT_VERIFIER_H_
