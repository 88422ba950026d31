#include "client/secagg/masked_input_state.h"

#include "absl/strings/str_cat.h"
#include "client/secagg/consistency_check_state.h"
#include "common/crypto/aead.h"
#include "common/secagg/canonical_bytes.h"
#include "common/secagg/masking.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::StatusOr<std::map<int, KeyShares>> MaskedInputState::DecryptShares(
    const v1::MaskedInputRequest& request) const {
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  std::map<int, KeyShares> received;
  for (const v1::EncryptedKeyShares& envelope : request.shares()) {
    std::optional<int> sender = params.IndexOf(envelope.sender());
    if (!sender) {
      return absl::PermissionDeniedError(absl::StrCat(
          "key shares from '", envelope.sender(), "', not in the cohort"));
    }
    auto keys = neighbours_.find(*sender);
    if (keys == neighbours_.end()) {
      return absl::PermissionDeniedError(
          absl::StrCat("key shares from '", envelope.sender(),
                       "', not a neighbour that advertised keys"));
    }
    if (envelope.recipient() != ctx.self_id()) {
      return absl::PermissionDeniedError(
          absl::StrCat("key shares from '", envelope.sender(),
                       "' are addressed to '", envelope.recipient(), "'"));
    }
    if (received.count(*sender)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "key shares from '", envelope.sender(), "' arrived twice"));
    }
    ASSIGN_OR_RETURN(SecretBytes key,
                     DeriveKeySharesKey(encryption_private_key_,
                                        keys->second.encryption_public_key,
                                        params, ctx.self_index, *sender));
    auto plaintext =
        AeadOpen(key, envelope.ciphertext(),
                 KeySharesAssociatedData(params.session_id, params.round,
                                         envelope.sender(), ctx.self_id()));
    if (!plaintext.ok()) {
      return absl::DataLossError(absl::StrCat(
          "key shares from '", envelope.sender(),
          "' failed authentication: ", plaintext.status().message()));
    }
    auto shares = DecodeKeyShares(*plaintext);
    if (!shares.ok()) {
      return absl::DataLossError(
          absl::StrCat("key shares from '", envelope.sender(),
                       "': ", shares.status().message()));
    }
    if (shares->sender != envelope.sender() ||
        shares->recipient != ctx.self_id()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "key shares from '", envelope.sender(), "' name sender '",
          shares->sender, "' and recipient '", shares->recipient, "' inside"));
    }
    const uint32_t own_x = static_cast<uint32_t>(ctx.self_index + 1);
    if (shares->self_mask_seed_share.x != own_x ||
        shares->masking_key_share.x != own_x) {
      return absl::InvalidArgumentError(
          absl::StrCat("key shares from '", envelope.sender(),
                       "' are not at this client's x"));
    }
    received.emplace(*sender, *std::move(shares));
  }
  if (static_cast<int>(received.size()) + 1 < params.threshold) {
    return absl::FailedPreconditionError(absl::StrCat(
        "only ", received.size(), " neighbours sent key shares; threshold ",
        params.threshold, " needs at least ", params.threshold - 1));
  }
  return received;
}

absl::StatusOr<SecAggClientState::Transition> MaskedInputState::Handle(
    const v1::SecAggServerMessage& message) {
  if (!message.has_masked_input_request()) return UnexpectedMessage(message);
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  ASSIGN_OR_RETURN(auto received,
                   DecryptShares(message.masked_input_request()));

  std::vector<uint32_t> masked = std::move(input_);
  absl::Span<uint32_t> acc(masked);
  RETURN_IF_ERROR(
      AddSelfMask(self_mask_seed_, params, ctx.self_index, +1, acc));
  for (const auto& [v, shares] : received) {
    RETURN_IF_ERROR(AddPairwiseMask(masking_private_key_,
                                    neighbours_.at(v).masking_public_key,
                                    params, ctx.self_index, v, +1, acc));
  }
  ReduceModulo(acc, params.modulus_mask());

  Transition t;
  t.reply.masked_input = std::move(masked);
  t.next = std::make_unique<ConsistencyCheckState>(
      context_, std::move(own_seed_share_), std::move(received),
      std::move(neighbours_));
  return t;
}

}  // namespace fedlearn
