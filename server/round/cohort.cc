#include "server/round/cohort.h"

#include <algorithm>

namespace fedlearn {

Cohort::Cohort(const std::vector<std::string>& selected) {
  for (const std::string& id : selected) {
    states_[id] = ClientRoundState::kSelected;
  }
}

bool Cohort::Pending(const std::string& client_id) const {
  auto it = states_.find(client_id);
  return it != states_.end() && (it->second == ClientRoundState::kSelected ||
                                 it->second == ClientRoundState::kTaskSent);
}

bool Cohort::RejectIfPending(const std::string& client_id) {
  if (!Pending(client_id)) return false;
  states_[client_id] = ClientRoundState::kRejected;
  return true;
}

bool Cohort::Complete() const {
  for (const auto& [id, state] : states_) {
    if (Pending(id)) return false;
  }
  return true;
}

int Cohort::rejected() const {
  int n = 0;
  for (const auto& [id, state] : states_) {
    if (state == ClientRoundState::kRejected) ++n;
  }
  return n;
}

std::vector<std::string> Cohort::NotAccepted() const {
  std::vector<std::string> out;
  for (const auto& [id, state] : states_) {
    if (state != ClientRoundState::kAccepted) out.push_back(id);
  }
  return out;
}

std::vector<std::string> Cohort::Excluding(
    const std::vector<std::string>& sorted_included) const {
  std::vector<std::string> out;
  for (const auto& [id, state] : states_) {
    if (!std::binary_search(sorted_included.begin(), sorted_included.end(),
                            id)) {
      out.push_back(id);
    }
  }
  return out;
}

}  // namespace fedlearn
