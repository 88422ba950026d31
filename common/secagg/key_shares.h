// What one client tells a neighbour, encrypted, in ShareKeysResponse: its
// Shamir shares of the self-mask seed b and of the masking private key s_sk
// at the neighbour's x-coordinate, plus the sender and recipient ids so a
// ciphertext re-routed by the server is refused after decryption too.
//
// The plaintext lives in SecretBytes; KeyShares wipes its field elements when
// destroyed. Decoding refuses anything malformed (InvalidArgument) rather
// than guessing.
#ifndef FEDLEARN_COMMON_SECAGG_KEY_SHARES_H_
#define FEDLEARN_COMMON_SECAGG_KEY_SHARES_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/secret_bytes.h"
#include "common/crypto/shamir.h"
#include "proto/fedlearn/v1/secagg.pb.h"

namespace fedlearn {

// Both secrets are 32 bytes: b is a PRG seed, s_sk an X25519 private key.
inline constexpr size_t kSecAggSecretBytes = 32;

// Overwrites the field elements of `share` and empties it.
void WipeShamirShare(ShamirShare* share);

struct KeyShares {
  std::string sender;
  std::string recipient;
  ShamirShare self_mask_seed_share;
  ShamirShare masking_key_share;

  KeyShares() = default;
  KeyShares(KeyShares&&) = default;
  KeyShares& operator=(KeyShares&&) = default;
  KeyShares(const KeyShares&) = delete;
  KeyShares& operator=(const KeyShares&) = delete;
  ~KeyShares() {
    WipeShamirShare(&self_mask_seed_share);
    WipeShamirShare(&masking_key_share);
  }
};

SecretBytes EncodeKeyShares(const KeyShares& shares);
absl::StatusOr<KeyShares> DecodeKeyShares(const SecretBytes& plaintext);

// A well-formed share of a kSecAggSecretBytes secret: x >= 1, one field
// element (< p) per 7-byte chunk.
absl::Status ValidateSecretShare(const ShamirShare& share);
void ShareToProto(const ShamirShare& share, v1::SecretShare* out);
absl::StatusOr<ShamirShare> ShareFromProto(const v1::SecretShare& proto);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_KEY_SHARES_H_
