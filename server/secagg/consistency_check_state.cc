#include "server/secagg/consistency_check_state.h"

#include "absl/strings/str_cat.h"
#include "server/secagg/unmasking_state.h"

namespace fedlearn {
namespace {
constexpr size_t kMaxSignatureBytes = 1024;
}  // namespace

absl::Status ConsistencyCheckServerState::HandlePhaseMessage(
    int index, const v1::SecAggClientMessage& message) {
  if (!message.has_consistency_check_response()) {
    return SecAggServerState::HandlePhaseMessage(index, message);
  }
  const std::string& signature =
      message.consistency_check_response().signature();
  if (signature.empty() || signature.size() > kMaxSignatureBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client '", context_->id(index), "' sent a malformed signature"));
  }
  signatures_[index] = signature;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SecAggServerState>>
ConsistencyCheckServerState::Advance() {
  const SecAggParameters& params = context_->params;
  std::set<int> u4 = Responders();
  if (static_cast<int>(u4.size()) < params.threshold) {
    return absl::AbortedError(absl::StrCat(
        "only ", u4.size(), " clients signed the survivor list, threshold is ",
        params.threshold));
  }
  if (absl::Status s = CheckSecretsRecoverable(params, u2_, u3_, u4); !s.ok()) {
    return absl::AbortedError(s.message());
  }
  std::map<int, v1::SecAggServerMessage> requests;
  for (int u : u4) {
    v1::SecAggServerMessage message = context_->NewMessage();
    v1::UnmaskingRequest* request = message.mutable_unmasking_request();
    for (const std::string& id : context_->survivors)
      request->add_survivors(id);
    for (int v : NeighboursIn(params, u, u4)) {
      v1::ConsistencySignature* sig = request->add_signatures();
      sig->set_client_id(context_->id(v));
      sig->set_signature(signatures_[v]);
    }
    requests.emplace(u, std::move(message));
  }
  auto next = std::make_unique<UnmaskingServerState>(
      context_, std::move(u2_), std::move(u3_), std::move(u4));
  next->SetRequests(std::move(requests));
  return next;
}

}  // namespace fedlearn
