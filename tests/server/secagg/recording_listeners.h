// Listeners that record secure-aggregation events as text lines into one
// shared log, in the order they happen, so a test can assert exactly what a
// round reported. Server lines start with "server ", client lines with the
// client's id. Test-only; single-threaded like the harness.
#ifndef FEDLEARN_TESTS_SERVER_SECAGG_RECORDING_LISTENERS_H_
#define FEDLEARN_TESTS_SERVER_SECAGG_RECORDING_LISTENERS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/secagg/client_listener.h"
#include "server/secagg/server_listener.h"

namespace fedlearn::testing {

using EventLog = std::vector<std::string>;

class RecordingServerListener final : public SecAggServerListener {
 public:
  explicit RecordingServerListener(EventLog* log) : log_(log) {}
  void OnPhaseClosed(SecAggServerPhase phase,
                     const std::vector<std::string>& dropouts) override {
    log_->push_back(absl::StrCat("server closed ", SecAggServerPhaseName(phase),
                                 " dropouts=[", absl::StrJoin(dropouts, ","),
                                 "]"));
  }
  void OnPhaseEntered(SecAggServerPhase phase,
                      SecAggServerPhase previous) override {
    log_->push_back(absl::StrCat("server entered ",
                                 SecAggServerPhaseName(phase), " from ",
                                 SecAggServerPhaseName(previous)));
  }
  void OnClientExcluded(const std::string& client_id) override {
    log_->push_back(absl::StrCat("server excluded ", client_id));
  }
  void OnClientAborted(const std::string& client_id, SecAggServerPhase phase,
                       std::string_view reason) override {
    log_->push_back(absl::StrCat("server heard ", client_id, " abort in ",
                                 SecAggServerPhaseName(phase), ": ",
                                 std::string(reason)));
  }
  void OnRoundAborted(std::string_view reason) override {
    log_->push_back(absl::StrCat("server aborted: ", std::string(reason)));
  }
  void OnAdvertisementRejected(const std::string& client_id,
                               std::string_view reason) override {
    log_->push_back(absl::StrCat("server rejected advertisement of ", client_id,
                                 ": ", std::string(reason)));
  }
  void OnBlameLodged(const std::string& accuser,
                     const std::vector<std::string>& blamed,
                     int ignored) override {
    log_->push_back(absl::StrCat("server heard ", accuser, " blame [",
                                 absl::StrJoin(blamed, ","),
                                 "] ignored=", ignored));
  }

 private:
  EventLog* log_;
};

class RecordingClientListener final : public SecAggClientListener {
 public:
  explicit RecordingClientListener(EventLog* log) : log_(log) {}
  void OnPhaseEntered(const std::string& client_id,
                      std::string_view phase) override {
    log_->push_back(absl::StrCat(client_id, " entered ", std::string(phase)));
  }
  void OnAborted(const std::string& client_id, std::string_view phase,
                 const absl::Status& reason) override {
    log_->push_back(absl::StrCat(client_id, " aborted in ", std::string(phase),
                                 ": ", std::string(reason.message())));
  }

 private:
  EventLog* log_;
};

}  // namespace fedlearn::testing

#endif  // FEDLEARN_TESTS_SERVER_SECAGG_RECORDING_LISTENERS_H_
