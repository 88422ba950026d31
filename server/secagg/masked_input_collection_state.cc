#include "server/secagg/masked_input_collection_state.h"

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "server/secagg/consistency_check_state.h"

namespace fedlearn {

MaskedInputCollectionState::MaskedInputCollectionState(
    std::shared_ptr<ServerRoundContext> context, std::set<int> u2)
    : SecAggServerState(std::move(context), u2), u2_(std::move(u2)) {
  context_->sum.assign(context_->params.vector_length, 0);
}

absl::Status MaskedInputCollectionState::HandleMaskedInput(
    int index, absl::Span<const uint32_t> masked) {
  RETURN_IF_ERROR(CheckMayRespond(index));
  const SecAggParameters& params = context_->params;
  if (masked.size() != params.vector_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "masked input of '", context_->id(index), "' has ", masked.size(),
        " values, expected ", params.vector_length));
  }
  const uint32_t mask = params.modulus_mask();
  uint32_t high_bits = 0;
  for (uint32_t v : masked) high_bits |= v & ~mask;
  if (high_bits != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("masked input of '", context_->id(index),
                     "' has values not below 2^", params.modulus_bits));
  }
  uint32_t* sum = context_->sum.data();
  const size_t n = masked.size();
  for (size_t i = 0; i < n; ++i) sum[i] += masked[i];
  MarkResponded(index);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SecAggServerState>>
MaskedInputCollectionState::Advance() {
  const SecAggParameters& params = context_->params;
  std::set<int> u3 = Responders();
  if (static_cast<int>(u3.size()) < params.threshold) {
    return absl::AbortedError(absl::StrCat(
        "only ", u3.size(), " clients sent masked inputs, threshold is ",
        params.threshold));
  }
  if (static_cast<int>(u3.size()) < params.min_survivors) {
    return absl::AbortedError(absl::StrCat(
        "only ", u3.size(), " clients sent masked inputs; the round needs ",
        params.min_survivors, " to carry its privacy noise"));
  }
  if (absl::Status s = CheckSecretsRecoverable(params, u2_, u3, u3); !s.ok()) {
    return absl::AbortedError(s.message());
  }
  context_->survivors.clear();
  for (int u : u3) context_->survivors.push_back(context_->id(u));
  std::map<int, v1::SecAggServerMessage> requests;
  for (int u : u3) {
    v1::SecAggServerMessage message = context_->NewMessage();
    auto* survivors =
        message.mutable_consistency_check_request()->mutable_survivors();
    survivors->Reserve(static_cast<int>(context_->survivors.size()));
    for (const std::string& id : context_->survivors)
      survivors->Add()->assign(id);
    requests.emplace(u, std::move(message));
  }
  auto next = std::make_unique<ConsistencyCheckServerState>(
      context_, std::move(u2_), std::move(u3));
  next->SetRequests(std::move(requests));
  return next;
}

}  // namespace fedlearn
