#include "server/secagg/terminal_states.h"

namespace fedlearn {

AbortedServerState::AbortedServerState(
    std::shared_ptr<ServerRoundContext> context, const std::string& reason)
    : SecAggServerState(std::move(context), {}) {
  // Every cohort client hears why, whatever phase it is in.
  std::map<int, v1::SecAggServerMessage> requests;
  for (int i = 0; i < context_->params.num_clients(); ++i) {
    v1::SecAggServerMessage message = context_->NewMessage();
    message.mutable_abort()->set_reason(reason);
    requests.emplace(i, std::move(message));
  }
  SetRequests(std::move(requests));
  context_->sum.clear();
  context_->sum.shrink_to_fit();
}

}  // namespace fedlearn
