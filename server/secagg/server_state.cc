#include "server/secagg/server_state.h"

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {

v1::SecAggServerMessage ServerRoundContext::NewMessage() const {
  v1::SecAggServerMessage message;
  message.set_session_id(params.session_id);
  message.set_round(params.round);
  return message;
}

absl::Status SecAggServerState::CheckMayRespond(int index) const {
  if (aborted_.count(index)) {
    return absl::FailedPreconditionError(
        absl::StrCat("client '", context_->id(index), "' aborted this round"));
  }
  if (!expected_.count(index)) {
    return absl::FailedPreconditionError(
        absl::StrCat("client '", context_->id(index), "' is not part of phase ",
                     SecAggServerPhaseName(phase()),
                     " (it dropped out or was excluded earlier)"));
  }
  if (responded_.count(index)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "client '", context_->id(index), "' already answered phase ",
        SecAggServerPhaseName(phase())));
  }
  return absl::OkStatus();
}

absl::Status SecAggServerState::HandleMessage(
    int index, const v1::SecAggClientMessage& message) {
  RETURN_IF_ERROR(CheckMayRespond(index));
  absl::Status s = HandlePhaseMessage(index, message);
  if (s.ok()) MarkResponded(index);
  return s;
}

absl::Status SecAggServerState::HandlePhaseMessage(
    int index, const v1::SecAggClientMessage& message) {
  return absl::FailedPreconditionError(
      absl::StrCat("message case ", static_cast<int>(message.message_case()),
                   " from client '", context_->id(index),
                   "' is not valid in phase ", SecAggServerPhaseName(phase())));
}

absl::Status SecAggServerState::HandleMaskedInput(
    int index, absl::Span<const uint32_t> masked) {
  return absl::FailedPreconditionError(
      absl::StrCat("masked input from client '", context_->id(index),
                   "' is not valid in phase ", SecAggServerPhaseName(phase())));
}

void SecAggServerState::HandleClientAbort(int index) {
  aborted_.insert(index);
  pending_.erase(index);
}

std::optional<v1::SecAggServerMessage> SecAggServerState::PendingMessageFor(
    int index) const {
  // Offered until answered: a client that answered has nothing to do until
  // the next phase, and resending (k advertisements with their certificates
  // in ShareKeys) to every waiting client's poll costs the bytes twice over.
  if (responded_.count(index)) return std::nullopt;
  auto it = pending_.find(index);
  if (it == pending_.end()) return std::nullopt;
  return it->second;
}

bool SecAggServerState::AllResponded() const {
  for (int i : expected_) {
    if (!responded_.count(i) && !aborted_.count(i)) return false;
  }
  return true;
}

std::vector<int> SecAggServerState::NonResponders() const {
  std::vector<int> out;
  for (int i : expected_) {
    if (!responded_.count(i) && !aborted_.count(i)) out.push_back(i);
  }
  return out;
}

std::set<int> SecAggServerState::Responders() const {
  std::set<int> out;
  for (int i : responded_) {
    if (!aborted_.count(i)) out.insert(i);
  }
  return out;
}

absl::Status CheckSecretsRecoverable(const SecAggParameters& params,
                                     const std::set<int>& shared_keys,
                                     const std::set<int>& survivors,
                                     const std::set<int>& holders) {
  const int t = params.threshold;
  for (int u : survivors) {
    const int live = static_cast<int>(NeighboursIn(params, u, holders).size()) +
                     (holders.count(u) ? 1 : 0);
    if (live < t) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the self mask of '", params.cohort[u], "' cannot be removed: only ",
          live, " of its share holders remain, threshold is ", t));
    }
  }
  for (int v : shared_keys) {
    if (survivors.count(v) || NeighboursIn(params, v, survivors).empty())
      continue;
    const int live = static_cast<int>(NeighboursIn(params, v, holders).size());
    if (live < t) {
      return absl::FailedPreconditionError(
          absl::StrCat("the pairwise masks of dropped client '",
                       params.cohort[v], "' cannot be removed: only ", live,
                       " of its share holders remain, threshold is ", t));
    }
  }
  return absl::OkStatus();
}

std::vector<int> NeighboursIn(const SecAggParameters& params, int index,
                              const std::set<int>& set) {
  std::vector<int> out;
  for (int v : params.graph.Neighbours(index)) {
    if (set.count(v)) out.push_back(v);
  }
  return out;
}

}  // namespace fedlearn
