#include "client/secagg/share_keys_state.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "client/secagg/masked_input_state.h"
#include "common/crypto/aead.h"
#include "common/crypto/shamir.h"
#include "common/crypto/signature.h"
#include "common/secagg/canonical_bytes.h"
#include "common/secagg/key_shares.h"
#include "common/secagg/masking.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::StatusOr<std::map<int, NeighbourKeys>>
ShareKeysState::VerifyNeighbourKeys(const v1::ShareKeysRequest& request) const {
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  std::map<int, NeighbourKeys> neighbours;
  std::set<std::string> public_keys = {encryption_keys_.public_key,
                                       masking_keys_.public_key};
  for (const v1::AdvertiseKeys& keys : request.neighbour_keys()) {
    std::optional<int> index = params.IndexOf(keys.client_id());
    if (!index) {
      return absl::PermissionDeniedError(
          absl::StrCat("keys from '", EscapeUntrusted(keys.client_id(), 100),
                       "', who is not in the cohort"));
    }
    // From here on keys.client_id() is a cohort id.
    if (*index == ctx.self_index) {
      return absl::PermissionDeniedError(
          "the server sent this client its own keys back");
    }
    if (!params.graph.AreNeighbours(ctx.self_index, *index)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "keys from '", keys.client_id(), "', who is not a neighbour"));
    }
    if (neighbours.count(*index)) {
      return absl::PermissionDeniedError(
          absl::StrCat("keys of '", keys.client_id(), "' arrived twice"));
    }
    if (keys.encryption_public_key().size() != kX25519KeyBytes ||
        keys.masking_public_key().size() != kX25519KeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "keys of '", keys.client_id(), "' are not 32-byte X25519 keys"));
    }
    for (const std::string* key :
         {&keys.encryption_public_key(), &keys.masking_public_key()}) {
      if (!public_keys.insert(*key).second) {
        return absl::PermissionDeniedError(absl::StrCat(
            "public key advertised by '", keys.client_id(),
            "' is also advertised by another client (or used twice)"));
      }
    }
    const std::string payload = AdvertiseSignaturePayload(
        params.session_id, params.round, keys.client_id(),
        keys.encryption_public_key(), keys.masking_public_key());
    absl::StatusOr<VerifiedIdentity> signer =
        ctx.ca.Verify(keys.certificate_pem(), keys.client_id());
    absl::Status verified = signer.ok()
                                ? signer->Verify(payload, keys.signature())
                                : signer.status();
    if (!verified.ok()) {
      return absl::UnauthenticatedError(
          absl::StrCat("keys of '", keys.client_id(),
                       "' are not signed by its certificate: ",
                       EscapeUntrusted(verified.message(), 300)));
    }
    neighbours.emplace(
        *index, NeighbourKeys{keys.encryption_public_key(),
                              keys.masking_public_key(), *std::move(signer)});
  }
  if (static_cast<int>(neighbours.size()) + 1 < params.threshold) {
    return absl::FailedPreconditionError(absl::StrCat(
        "only ", neighbours.size(), " neighbours advertised keys; threshold ",
        params.threshold, " needs at least ", params.threshold - 1));
  }
  return neighbours;
}

absl::StatusOr<std::map<int, SecretBytes>> ShareKeysState::DeriveSharesKeys(
    const std::map<int, NeighbourKeys>& neighbours) const {
  const ClientRoundContext& ctx = *context_;
  ASSIGN_OR_RETURN(X25519PrivateKey own,
                   X25519PrivateKey::Create(encryption_keys_.private_key));
  std::map<int, SecretBytes> keys;
  for (const auto& [v, neighbour] : neighbours) {
    ASSIGN_OR_RETURN(SecretBytes key,
                     DeriveKeySharesKey(own, neighbour.encryption_public_key,
                                        ctx.params, ctx.self_index, v));
    keys.emplace(v, std::move(key));
  }
  return keys;
}

absl::StatusOr<std::string> ShareKeysState::SealShares(
    const KeyShares& plain, const SecretBytes& key) const {
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  SecretBytes plaintext = EncodeKeyShares(plain);
  return AeadSeal(
      key,
      std::string_view(reinterpret_cast<const char*>(plaintext.data()),
                       plaintext.size()),
      KeySharesAssociatedData(params.session_id, params.round, plain.sender,
                              plain.recipient),
      *ctx.prng);
}

absl::StatusOr<SecAggClientState::Transition> ShareKeysState::Handle(
    const v1::SecAggServerMessage& message) {
  if (!message.has_share_keys_request()) return UnexpectedMessage(message);
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  ASSIGN_OR_RETURN(auto neighbours,
                   VerifyNeighbourKeys(message.share_keys_request()));

  SecretBytes self_mask_seed(kSecAggSecretBytes);
  RETURN_IF_ERROR(ctx.prng->Fill(
      absl::MakeSpan(self_mask_seed.data(), self_mask_seed.size())));
  // Holders: every neighbour (advertised or not) and the client itself.
  std::vector<uint32_t> xs;
  for (int v : params.graph.Neighbours(ctx.self_index)) {
    xs.push_back(static_cast<uint32_t>(v + 1));
  }
  xs.push_back(static_cast<uint32_t>(ctx.self_index + 1));
  ASSIGN_OR_RETURN(
      std::vector<ShamirShare> seed_shares,
      ShamirSplit(self_mask_seed, params.threshold, xs, *ctx.prng));
  ASSIGN_OR_RETURN(
      std::vector<ShamirShare> key_shares,
      ShamirSplit(masking_keys_.private_key, params.threshold, xs, *ctx.prng));

  v1::SecAggClientMessage reply = ctx.NewMessage();
  v1::ShareKeysResponse* response = reply.mutable_share_keys_response();
  ShamirShare own_seed_share;
  absl::StatusOr<std::map<int, SecretBytes>> shares_keys =
      DeriveSharesKeys(neighbours);
  absl::Status status = shares_keys.status();
  for (size_t i = 0; i < xs.size() && status.ok(); ++i) {
    const int holder = static_cast<int>(xs[i]) - 1;
    if (holder == ctx.self_index) {
      own_seed_share = std::move(seed_shares[i]);
      continue;
    }
    auto it = neighbours.find(holder);
    if (it == neighbours.end()) continue;  // did not advertise: dropped
    KeyShares plain;
    plain.sender = ctx.self_id();
    plain.recipient = params.cohort[holder];
    plain.self_mask_seed_share = std::move(seed_shares[i]);
    plain.masking_key_share = std::move(key_shares[i]);
    absl::StatusOr<std::string> sealed =
        SealShares(plain, shares_keys->at(holder));
    if (!sealed.ok()) {
      status = sealed.status();
      break;
    }
    v1::EncryptedKeyShares* out = response->add_shares();
    out->set_sender(plain.sender);
    out->set_recipient(plain.recipient);
    out->set_ciphertext(*std::move(sealed));
  }
  for (ShamirShare& s : seed_shares) WipeShamirShare(&s);
  for (ShamirShare& s : key_shares) WipeShamirShare(&s);
  if (!status.ok()) {
    WipeShamirShare(&own_seed_share);
    return status;
  }

  Transition t;
  t.reply.message = std::move(reply);
  t.next = std::make_unique<MaskedInputState>(
      context_, std::move(input_), *std::move(shares_keys),
      std::move(masking_keys_.private_key), std::move(self_mask_seed),
      std::move(own_seed_share), std::move(neighbours));
  return t;
}

}  // namespace fedlearn
