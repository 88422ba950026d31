#include "client/secagg/masked_input_state.h"

#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/secagg/consistency_check_state.h"
#include "common/crypto/aead.h"
#include "common/secagg/canonical_bytes.h"
#include "common/secagg/mask_worker_pool.h"
#include "common/secagg/masking.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::StatusOr<KeyShares> MaskedInputState::OpenShares(
    const v1::EncryptedKeyShares& envelope, int sender) const {
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  const std::string& sender_id = params.cohort[sender];
  auto key_it = shares_keys_.find(sender);
  if (key_it == shares_keys_.end()) {
    return absl::InternalError("no key-share key for an advertised neighbour");
  }
  const SecretBytes& key = key_it->second;
  auto plaintext =
      AeadOpen(key, envelope.ciphertext(),
               KeySharesAssociatedData(params.session_id, params.round,
                                       sender_id, ctx.self_id()));
  if (!plaintext.ok()) {
    return absl::DataLossError(
        absl::StrCat("failed authentication: ", plaintext.status().message()));
  }
  auto shares = DecodeKeyShares(*plaintext);
  if (!shares.ok()) return absl::DataLossError(shares.status().message());
  if (shares->sender != sender_id || shares->recipient != ctx.self_id()) {
    return absl::PermissionDeniedError(
        absl::StrCat("they name sender '", EscapeUntrusted(shares->sender, 100),
                     "' and recipient '",
                     EscapeUntrusted(shares->recipient, 100), "' inside"));
  }
  const uint32_t own_x = static_cast<uint32_t>(ctx.self_index + 1);
  if (shares->self_mask_seed_share.x != own_x ||
      shares->masking_key_share.x != own_x) {
    return absl::InvalidArgumentError("they are not at this client's x");
  }
  return shares;
}

absl::StatusOr<std::map<int, KeyShares>> MaskedInputState::DecryptShares(
    const v1::MaskedInputRequest& request) {
  const ClientRoundContext& ctx = *context_;
  const SecAggParameters& params = ctx.params;
  // Routing first (errors are the server's: it addresses every envelope),
  // in arrival order; then every ciphertext is opened on the shared pool
  // (one AES-GCM each) and the results are read in order.
  std::vector<std::pair<const v1::EncryptedKeyShares*, int>> envelopes;
  std::set<int> seen;
  for (const v1::EncryptedKeyShares& envelope : request.shares()) {
    const std::string sender_text = EscapeUntrusted(envelope.sender(), 100);
    std::optional<int> sender = params.IndexOf(envelope.sender());
    if (!sender) {
      return absl::PermissionDeniedError(absl::StrCat(
          "key shares from '", sender_text, "', not in the cohort"));
    }
    if (!neighbours_.count(*sender)) {
      return absl::PermissionDeniedError(
          absl::StrCat("key shares from '", sender_text,
                       "', not a neighbour that advertised keys"));
    }
    if (envelope.recipient() != ctx.self_id()) {
      return absl::PermissionDeniedError(
          absl::StrCat("key shares from '", sender_text, "' are addressed to '",
                       EscapeUntrusted(envelope.recipient(), 100), "'"));
    }
    if (!seen.insert(*sender).second) {
      return absl::PermissionDeniedError(
          absl::StrCat("key shares from '", sender_text, "' arrived twice"));
    }
    envelopes.emplace_back(&envelope, *sender);
  }
  std::vector<absl::StatusOr<KeyShares>> opened(envelopes.size());
  MaskWorkerPool::Shared().ParallelFor(envelopes.size(), [&](size_t i) {
    opened[i] = OpenShares(*envelopes[i].first, envelopes[i].second);
  });
  std::map<int, KeyShares> received;
  std::set<int> failed;
  absl::Status first_failure;
  for (size_t i = 0; i < envelopes.size(); ++i) {
    const int sender = envelopes[i].second;
    absl::StatusOr<KeyShares>& shares = opened[i];
    if (!shares.ok()) {
      if (first_failure.ok()) {
        first_failure = absl::Status(
            shares.status().code(),
            absl::StrCat("key shares from '",
                         EscapeUntrusted(envelopes[i].first->sender(), 100),
                         "': ", shares.status().message()));
      }
      failed.insert(sender);
      continue;
    }
    received.emplace(sender, *std::move(shares));
  }
  if (!failed.empty()) {
    for (int v : failed) blamed_.push_back(params.cohort[v]);
    return absl::DataLossError(absl::StrCat(
        "key shares from ", failed.size(),
        " neighbour(s) cannot be opened, blaming [",
        absl::StrJoin(blamed_, ","), "]: ", first_failure.message()));
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
  ASSIGN_OR_RETURN(X25519PrivateKey masking_key,
                   X25519PrivateKey::Create(masking_private_key_));
  // The k + 1 masks are expanded together on the shared pool (both cores);
  // the words are those of adding each mask in turn.
  MaskSet masks(params);
  masks.AddSelf(self_mask_seed_, ctx.self_index, +1);
  for (const auto& [v, shares] : received) {
    masks.AddPairwise(masking_key, neighbours_.at(v).masking_public_key,
                      ctx.self_index, v, +1);
  }
  RETURN_IF_ERROR(masks.ApplyTo(acc));
  ReduceModulo(acc, params.modulus_mask());

  Transition t;
  t.reply.masked_input = std::move(masked);
  t.next = std::make_unique<ConsistencyCheckState>(
      context_, std::move(own_seed_share_), std::move(received),
      std::move(neighbours_));
  return t;
}

}  // namespace fedlearn
