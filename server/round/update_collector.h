// The answering rules shared by the collectors that receive whole plaintext
// updates (PlainCollector: FedAvg's running sum; RobustCollector: the
// robust rules over every update): each selected client answers once, a
// rejected update or a departure is its answer, the attempt closes when
// every selected client answered or the deadline passed, and it has
// nothing to release with fewer than min_updates accepted updates (a round
// is never averaged over nobody). In an attempt with an evaluation task,
// each update's evaluation report is checked here too (a bad one rejects
// the update) and the accepted ones are kept for the aggregate. What an
// accepted update does is the subclass's.
//
// Thread-compatible (see round_collector.h).
#ifndef FEDLEARN_SERVER_ROUND_UPDATE_COLLECTOR_H_
#define FEDLEARN_SERVER_ROUND_UPDATE_COLLECTOR_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
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
  // participants = accepted, rejected, dropped) and, in an attempt with an
  // evaluation task, the kept reports. Call once, from Close().
  RoundAggregate CountedAggregate(int accepted);
  // Attempts with an evaluation task: `values` checked as a site's report
  // (EvalReportCollection::Check); a bad one is logged and recorded as the
  // client's (rejected) answer. nullopt when the attempt asks for none.
  absl::StatusOr<std::optional<SiteEvalReport>> AdmitEvalReport(
      const std::string& client_id, absl::Span<const uint64_t> values);
  // Keeps an accepted update's report (no-op for nullopt).
  void KeepEvalReport(const std::string& client_id,
                      std::optional<SiteEvalReport> report);

 private:
  std::optional<EvalReportCollection> eval_;
  const TimePoint deadline_;
  const int min_updates_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_UPDATE_COLLECTOR_H_
