#include "server/secagg/secagg_server.h"

#include "absl/strings/str_cat.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"
#include "server/secagg/advertise_keys_state.h"
#include "server/secagg/terminal_states.h"

namespace fedlearn {

absl::StatusOr<std::unique_ptr<SecAggServer>> SecAggServer::Create(
    const v1::SecAggConfig& config, SecAggServerEnvironment environment) {
  ASSIGN_OR_RETURN(SecAggParameters params,
                   SecAggParameters::FromProto(config));
  if (environment.listener == nullptr) {
    environment.listener =
        std::make_unique<LoggingSecAggServerListener>(params.round);
  }
  auto context = std::make_shared<ServerRoundContext>(
      std::move(params), std::move(environment.listener),
      std::move(environment.verifier));
  auto state = std::make_unique<AdvertiseKeysServerState>(context);
  return std::unique_ptr<SecAggServer>(
      new SecAggServer(std::move(context), std::move(state)));
}

absl::StatusOr<int> SecAggServer::IndexOf(const std::string& client_id) const {
  std::optional<int> index = context_->params.IndexOf(client_id);
  if (!index) {
    return absl::NotFoundError(absl::StrCat("client '",
                                            EscapeUntrusted(client_id, 100),
                                            "' is not in this round's cohort"));
  }
  return *index;
}

absl::Status SecAggServer::HandleMessage(
    const std::string& client_id, const v1::SecAggClientMessage& message) {
  ASSIGN_OR_RETURN(const int index, IndexOf(client_id));
  const SecAggParameters& params = context_->params;
  if (message.session_id() != params.session_id ||
      message.round() != params.round) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message from '", context_->id(index),
        "' is for another session or round (round ", message.round(),
        ", this is round ", params.round, "): replayed or misrouted"));
  }
  if (message.has_abort()) {
    if (phase() == Phase::kCompleted || phase() == Phase::kAborted)
      return absl::OkStatus();
    context_->listener->OnClientAborted(client_id, phase(),
                                        message.abort().reason());
    RecordBlame(index, message.abort());
    state_->HandleClientAbort(index);
    return absl::OkStatus();
  }
  return state_->HandleMessage(index, message);
}

absl::Status SecAggServer::HandleMaskedInput(
    const std::string& client_id, absl::Span<const uint32_t> masked) {
  ASSIGN_OR_RETURN(const int index, IndexOf(client_id));
  return state_->HandleMaskedInput(index, masked);
}

void SecAggServer::RecordBlame(int index, const v1::Abort& abort) {
  if (abort.blamed().empty()) return;
  const SecAggParameters& params = context_->params;
  const std::set<int>& u2 = context_->shared_keys;
  // An accuser can only have been sent shares by its neighbours in U2, and
  // only once it is in U2 itself; at most `degree` entries are read.
  const int readable = u2.count(index) ? static_cast<int>(params.degree) : 0;
  std::set<int> blamed;
  int ignored = 0;
  for (int i = 0; i < abort.blamed_size(); ++i) {
    std::optional<int> v =
        i < readable ? params.IndexOf(abort.blamed(i)) : std::nullopt;
    if (!v || *v == index || !u2.count(*v) ||
        !params.graph.AreNeighbours(index, *v) || !blamed.insert(*v).second) {
      ++ignored;
    }
  }
  std::vector<std::string> ids;
  for (int v : blamed) ids.push_back(context_->id(v));
  context_->listener->OnBlameLodged(context_->id(index), ids, ignored);
}

std::optional<v1::SecAggServerMessage> SecAggServer::PendingMessageFor(
    const std::string& client_id) const {
  std::optional<int> index = context_->params.IndexOf(client_id);
  if (!index) return std::nullopt;
  return state_->PendingMessageFor(*index);
}

bool SecAggServer::AllResponded() const { return state_->AllResponded(); }

absl::Status SecAggServer::AdvancePhase() {
  if (phase() == Phase::kCompleted || phase() == Phase::kAborted) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot advance: secure aggregation is ", phase_name()));
  }
  const Phase from = phase();
  std::vector<std::string> dropouts;
  for (int i : state_->NonResponders()) dropouts.push_back(context_->id(i));
  context_->listener->OnPhaseClosed(from, dropouts);
  auto next = state_->Advance();
  if (!next.ok()) {
    Abort(absl::StrCat("in phase ", SecAggServerPhaseName(from), ": ",
                       next.status().message()));
    return abort_reason_;
  }
  state_ = *std::move(next);
  context_->listener->OnPhaseEntered(phase(), from);
  return absl::OkStatus();
}

void SecAggServer::Abort(const std::string& reason) {
  if (phase() == Phase::kAborted) return;
  context_->listener->OnRoundAborted(reason);
  abort_reason_ = absl::AbortedError(reason);
  state_ = std::make_unique<AbortedServerState>(context_, reason);
}

absl::StatusOr<std::vector<uint32_t>> SecAggServer::TakeResult() {
  if (phase() != Phase::kCompleted) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no result: secure aggregation is in phase ", phase_name()));
  }
  if (result_taken_)
    return absl::FailedPreconditionError("the result was already taken");
  result_taken_ = true;
  return std::move(context_->sum);
}

std::vector<std::string> SecAggServer::ClientsWithBothSecretsForTesting()
    const {
  std::vector<std::string> out;
  for (int i = 0; i < context_->params.num_clients(); ++i) {
    std::set<SecretKind> kinds;
    for (const auto* by_owner :
         {&context_->ledger.accepted, &context_->ledger.reconstructed}) {
      auto it = by_owner->find(i);
      if (it != by_owner->end())
        kinds.insert(it->second.begin(), it->second.end());
    }
    if (kinds.size() > 1) out.push_back(context_->id(i));
  }
  return out;
}

}  // namespace fedlearn
