#include "client/secagg/advertise_keys_state.h"

#include "client/secagg/share_keys_state.h"
#include "common/crypto/signature.h"
#include "common/secagg/canonical_bytes.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::StatusOr<SecAggClientState::Transition> AdvertiseKeysState::Start() {
  const ClientRoundContext& ctx = *context_;
  ASSIGN_OR_RETURN(X25519KeyPair encryption, GenerateX25519KeyPair(*ctx.prng));
  ASSIGN_OR_RETURN(X25519KeyPair masking, GenerateX25519KeyPair(*ctx.prng));

  const std::string payload = AdvertiseSignaturePayload(
      ctx.params.session_id, ctx.params.round, ctx.self_id(),
      encryption.public_key, masking.public_key);
  ASSIGN_OR_RETURN(std::string signature, ctx.signing_key->Sign(payload));

  Transition t;
  v1::SecAggClientMessage message = ctx.NewMessage();
  v1::AdvertiseKeys* keys = message.mutable_advertise_keys();
  keys->set_client_id(ctx.self_id());
  keys->set_encryption_public_key(encryption.public_key);
  keys->set_masking_public_key(masking.public_key);
  keys->set_certificate_pem(ctx.identity.cert_pem);
  keys->set_signature(std::move(signature));
  t.reply.message = std::move(message);
  t.next = std::make_unique<ShareKeysState>(
      context_, std::move(input_), std::move(encryption), std::move(masking));
  return t;
}

absl::StatusOr<SecAggClientState::Transition> AdvertiseKeysState::Handle(
    const v1::SecAggServerMessage& message) {
  return UnexpectedMessage(message);
}

}  // namespace fedlearn
