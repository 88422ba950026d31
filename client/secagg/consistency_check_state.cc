#include "client/secagg/consistency_check_state.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "client/secagg/unmasking_state.h"
#include "common/crypto/signature.h"
#include "common/secagg/canonical_bytes.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::StatusOr<SecAggClientState::Transition> ConsistencyCheckState::Handle(
    const v1::SecAggServerMessage& message) {
  if (!message.has_consistency_check_request())
    return UnexpectedMessage(message);
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  const auto& list = message.consistency_check_request().survivors();

  std::vector<std::string> survivors(list.begin(), list.end());
  std::set<int> survivor_indices;
  for (size_t i = 0; i < survivors.size(); ++i) {
    std::optional<int> index = params.IndexOf(survivors[i]);
    if (!index) {
      return absl::PermissionDeniedError(absl::StrCat(
          "survivor list names '", EscapeUntrusted(survivors[i], 100),
          "', not in the cohort"));
    }
    if (!survivor_indices.insert(*index).second) {
      return absl::PermissionDeniedError(absl::StrCat(
          "survivor list names '", params.cohort[*index], "' twice"));
    }
    if (i > 0 && !(survivors[i - 1] < survivors[i])) {
      return absl::InvalidArgumentError("survivor list is not sorted");
    }
    if (*index != ctx.self_index &&
        params.graph.AreNeighbours(ctx.self_index, *index) &&
        !received_.count(*index)) {
      return absl::PermissionDeniedError(
          absl::StrCat("survivor list names neighbour '", params.cohort[*index],
                       "', who never sent this client key shares"));
    }
  }
  if (!survivor_indices.count(ctx.self_index)) {
    return absl::PermissionDeniedError(
        "survivor list does not contain this client");
  }
  if (static_cast<int>(survivors.size()) < params.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("survivor list has ", survivors.size(),
                     " clients, fewer than the threshold ", params.threshold));
  }
  if (static_cast<int>(survivors.size()) < params.min_survivors) {
    // Distributed DP: each client's noise is sized for min_survivors
    // summands; unmasking fewer would release a sum without enough noise.
    return absl::FailedPreconditionError(absl::StrCat(
        "survivor list has ", survivors.size(), " clients, fewer than the ",
        params.min_survivors, " whose noise this round's privacy needs"));
  }

  const std::string payload =
      ConsistencySignaturePayload(params.session_id, params.round, survivors);
  ASSIGN_OR_RETURN(std::string signature, ctx.signing_key->Sign(payload));

  Transition t;
  v1::SecAggClientMessage reply = ctx.NewMessage();
  reply.mutable_consistency_check_response()->set_signature(
      std::move(signature));
  t.reply.message = std::move(reply);
  t.next = std::make_unique<UnmaskingState>(
      context_, std::move(own_seed_share_), std::move(received_),
      std::move(neighbours_), std::move(survivors));
  return t;
}

}  // namespace fedlearn
