#include "client/secagg/advertise_keys_state.h"

#include "client/secagg/share_keys_state.h"
#include "common/crypto/signature.h"
#include "common/secagg/canonical_bytes.h"

namespace fedlearn {

absl::StatusOr<SecAggClientState::Transition> AdvertiseKeysState::Start() {
  auto encryption = GenerateX25519KeyPair();
  if (!encryption.ok()) return encryption.status();
  auto masking = GenerateX25519KeyPair();
  if (!masking.ok()) return masking.status();

  const ClientRoundContext& ctx = *context_;
  const std::string payload =
      AdvertiseSignaturePayload(ctx.params.session_id, ctx.params.round, ctx.self_id(),
                                encryption->public_key, masking->public_key);
  auto signature = ctx.signing_key.Sign(payload);
  if (!signature.ok()) return signature.status();

  Transition t;
  v1::SecAggClientMessage message = ctx.NewMessage();
  v1::AdvertiseKeys* keys = message.mutable_advertise_keys();
  keys->set_client_id(ctx.self_id());
  keys->set_encryption_public_key(encryption->public_key);
  keys->set_masking_public_key(masking->public_key);
  keys->set_certificate_pem(ctx.identity.cert_pem);
  keys->set_signature(*std::move(signature));
  t.reply.message = std::move(message);
  t.next = std::make_unique<ShareKeysState>(context_, std::move(input_),
                                            *std::move(encryption), *std::move(masking));
  return t;
}

absl::StatusOr<SecAggClientState::Transition> AdvertiseKeysState::Handle(
    const v1::SecAggServerMessage& message) {
  return UnexpectedMessage(message);
}

}  // namespace fedlearn
