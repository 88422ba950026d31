// Signatures that bind a client's secure-aggregation keys to its identity:
// ECDSA P-256 / SHA-256 (or Ed25519, whichever the key is) with the
// client's TLS private key, verified against its X.509 certificate after
// checking that certificate chains to the federation's CA and carries the
// expected common name. A malicious server therefore cannot substitute keys.
#ifndef FEDLEARN_COMMON_CRYPTO_SIGNATURE_H_
#define FEDLEARN_COMMON_CRYPTO_SIGNATURE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fedlearn {

// DER signature of `message` with a PEM private key (EC or Ed25519).
absl::StatusOr<std::string> SignMessage(std::string_view private_key_pem,
                                        std::string_view message);
// OK iff `cert_pem` chains to `ca_pem`, its CN equals `expected_identity`,
// and `signature` is a valid signature of `message` by its key.
// Unauthenticated otherwise, with the reason.
absl::Status VerifySignedByIdentity(std::string_view ca_pem, std::string_view cert_pem,
                                    std::string_view expected_identity,
                                    std::string_view message,
                                    std::string_view signature);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_SIGNATURE_H_
