// The answering rules shared by the collectors that receive whole plaintext
// updates (PlainCollector: FedAvg's running sum; RobustCollector: the
// robust rules over every update): each selected client answers once, a
// rejected update or a departure is its answer, the attempt closes when
// every selected client answered or the deadline passed, and it has
// nothing to release with fewer than min_updates accepted updates (a round
// is never averaged over nobody). What an accepted update does is the
// subclass's.
//
// Thread-compatible (see round_collector.h).
#ifndef FEDLEARN_SERVER_ROUND_UPDATE_COLLECTOR_H_
#define FEDLEARN_SERVER_ROUND_UPDATE_COLLECTOR_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "server/round/round_collector.h"

namespace fedlearn {

class UpdateCollector : public RoundCollector {
 public:
  explicit UpdateCollector(const AttemptSetup& setup);

  // The base rule (the task was fetched), then AlreadyExists once the
  // client answered (accepted, rejected or left).
  absl::Status CheckMayUpload(const std::string& client_id) const override;
  // A selected client that left has answered (nothing will come from it).
  void OnLeave(const std::string& client_id) override;
  bool Poll(TimePoint now) override;

 protected:
  // CheckMayUpload, then the engine's content verdict: a bad update is
  // logged and recorded as the client's (rejected) answer. OK means the
  // subclass may take the update.
  absl::Status AdmitUpdate(const std::string& client_id,
                           const absl::Status& content);
  // The failure to report when `accepted` updates are too few to release.
  std::optional<AttemptFailure> TooFewUpdates(int accepted) const;
  // An aggregate with the attempt's counts filled in (selected,
  // participants = accepted, rejected, dropped).
  RoundAggregate CountedAggregate(int accepted) const;

 private:
  const TimePoint deadline_;
  const int min_updates_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_UPDATE_COLLECTOR_H_
