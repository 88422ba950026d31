#include "client/secagg/unmasking_state.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/secagg/terminal_states.h"
#include "common/crypto/signature.h"
#include "common/secagg/canonical_bytes.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::Status UnmaskingState::VerifySignatures(
    const v1::UnmaskingRequest& request) const {
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  const std::string payload =
      ConsistencySignaturePayload(params.session_id, params.round, survivors_);
  std::set<int> signers;
  for (const v1::ConsistencySignature& sig : request.signatures()) {
    std::optional<int> index = params.IndexOf(sig.client_id());
    if (!index || *index == ctx.self_index ||
        !params.graph.AreNeighbours(ctx.self_index, *index)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "consistency signature from '", EscapeUntrusted(sig.client_id(), 100),
          "', not a neighbour"));
    }
    // From here on sig.client_id() is a cohort id.
    if (!std::binary_search(survivors_.begin(), survivors_.end(),
                            sig.client_id())) {
      return absl::PermissionDeniedError(
          absl::StrCat("consistency signature from '", sig.client_id(),
                       "', who is not in U3"));
    }
    if (!signers.insert(*index).second) {
      return absl::PermissionDeniedError(absl::StrCat(
          "two consistency signatures from '", sig.client_id(), "'"));
    }
    auto keys = neighbours_.find(*index);
    if (keys == neighbours_.end()) {
      return absl::PermissionDeniedError(
          absl::StrCat("consistency signature from '", sig.client_id(),
                       "', who advertised no keys"));
    }
    // The certificate was checked against the CA and this id in ShareKeys.
    absl::Status verified =
        keys->second.signer.Verify(payload, sig.signature());
    if (!verified.ok()) {
      return absl::UnauthenticatedError(
          absl::StrCat("consistency signature of '", sig.client_id(),
                       "' does not verify over this client's survivor list: ",
                       verified.message()));
    }
  }
  if (static_cast<int>(signers.size()) + 1 < params.threshold) {
    return absl::FailedPreconditionError(absl::StrCat(
        "only ", signers.size(),
        " neighbours signed the survivor list; threshold ", params.threshold,
        " needs at least ", params.threshold - 1));
  }
  return absl::OkStatus();
}

absl::StatusOr<SecAggClientState::Transition> UnmaskingState::Handle(
    const v1::SecAggServerMessage& message) {
  if (!message.has_unmasking_request()) return UnexpectedMessage(message);
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  const v1::UnmaskingRequest& request = message.unmasking_request();
  if (!std::equal(request.survivors().begin(), request.survivors().end(),
                  survivors_.begin(), survivors_.end())) {
    return absl::PermissionDeniedError(
        "unmasking request's survivor list differs from the one this client "
        "signed");
  }
  RETURN_IF_ERROR(VerifySignatures(request));

  Transition t;
  v1::SecAggClientMessage reply = ctx.NewMessage();
  v1::UnmaskingResponse* response = reply.mutable_unmasking_response();
  v1::RevealedShare* own = response->add_shares();
  own->set_owner(ctx.self_id());
  ShareToProto(own_seed_share_, own->mutable_self_mask_seed_share());
  for (const auto& [v, shares] : received_) {
    const std::string& owner = params.cohort[v];
    v1::RevealedShare* revealed = response->add_shares();
    revealed->set_owner(owner);
    if (std::binary_search(survivors_.begin(), survivors_.end(), owner)) {
      ShareToProto(shares.self_mask_seed_share,
                   revealed->mutable_self_mask_seed_share());
    } else {
      ShareToProto(shares.masking_key_share,
                   revealed->mutable_masking_key_share());
    }
  }
  t.reply.message = std::move(reply);
  t.reply.done = true;
  t.next = std::make_unique<CompletedClientState>();
  return t;
}

}  // namespace fedlearn
