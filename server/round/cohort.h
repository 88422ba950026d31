// The clients selected for one round attempt and how far each has got:
//
//   kSelected -> kTaskSent -> kAccepted | kRejected
//
// A client answers an attempt once: an accepted or rejected client stays
// so until the attempt ends (a fresh Cohort is built for every attempt).
// Clients outside the cohort are reported as such, never added.
//
// Thread-compatible: the round engine and its collectors use it under the
// engine's lock.
#ifndef FEDLEARN_SERVER_ROUND_COHORT_H_
#define FEDLEARN_SERVER_ROUND_COHORT_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace fedlearn {

enum class ClientRoundState { kSelected, kTaskSent, kAccepted, kRejected };

class Cohort {
 public:
  explicit Cohort(const std::vector<std::string>& selected);

  size_t size() const { return states_.size(); }
  bool Contains(const std::string& client_id) const {
    return states_.count(client_id) > 0;
  }
  // REQUIRES: Contains(client_id).
  ClientRoundState state(const std::string& client_id) const {
    return states_.at(client_id);
  }
  // Selected or task sent: the client has not answered yet.
  bool Pending(const std::string& client_id) const;
  // REQUIRES: Contains(client_id).
  void Set(const std::string& client_id, ClientRoundState state) {
    states_.at(client_id) = state;
  }
  // Marks a pending client rejected; false (and no change) otherwise.
  bool RejectIfPending(const std::string& client_id);

  // Every client answered (accepted or rejected).
  bool Complete() const;
  int rejected() const;
  // Members not accepted, sorted.
  std::vector<std::string> NotAccepted() const;
  // Members not in `sorted_included`, sorted.
  std::vector<std::string> Excluding(
      const std::vector<std::string>& sorted_included) const;

 private:
  std::map<std::string, ClientRoundState> states_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_COHORT_H_
