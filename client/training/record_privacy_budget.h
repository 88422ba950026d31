// A site's record-level privacy ledger and budget: every DP-SGD training the
// site ran (dp_sgd.h), composed in Renyi DP by the same RdpAccountant the
// coordinator uses for client-level DP (common/dp/rdp_accountant.h, improved
// conversion, Opacus's default orders), against the site's (epsilon, delta)
// budget.
//
// The ledger belongs to the site's records, not to a run: trainings of every
// run on the same data add up. With a ledger path it survives restarts: a
// small JSON file (format "fedlearn-record-dp-ledger", version 1) holding
// the accountant's ledger (one (q, sigma, steps) entry per distinct
// mechanism, rebuilt bit for bit by RdpAccountant::FromLedger) and the
// number of trainings, replaced atomically (common/util/atomic_file.h)
// before Spend() returns, so a training is on disk before its update can
// leave the site. Without a path (fedlearn-sim's virtual sites) it lives as
// long as the process.
//
// Refuses: Open() fails (DataLoss) on a ledger file that does not parse,
// never starting from zero over a damaged one; CheckAffordable() refuses a
// training that would take epsilon above the budget, with a status for
// which IsRecordBudgetRefusal() is true (and IsPermanent: the ledger only
// grows, so a run's later tasks would be refused too).
// Thread-safety: not thread-safe; one trainer uses it.
#ifndef FEDLEARN_CLIENT_TRAINING_RECORD_PRIVACY_BUDGET_H_
#define FEDLEARN_CLIENT_TRAINING_RECORD_PRIVACY_BUDGET_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/dp/rdp_accountant.h"

namespace fedlearn {

// The site's record-level DP settings (fedlearn-client --record-dp-*,
// --record-epsilon-budget; [site] record_* keys). Off unless
// noise_multiplier > 0.
struct RecordDpSettings {
  double noise_multiplier = 0;  // sigma of DP-SGD
  double clip_norm = 0;         // C, the per-example gradient bound
  double delta = 1e-5;
  double epsilon_budget = 0;  // > 0 when on
  std::string ledger_path;    // "" = in memory only
  // Tests and fedlearn-sim --seed only (dp_sgd.h DpSgdOptions).
  std::optional<uint64_t> seed_for_testing;

  bool enabled() const { return noise_multiplier > 0; }
};

// InvalidArgument (naming the setting) unless sigma > 0, C > 0, 0 < delta
// < 1 and the budget > 0, all finite.
absl::Status ValidateRecordDpSettings(const RecordDpSettings& settings);

inline constexpr absl::string_view kRecordBudgetRefusalPayload =
    "type.fedlearn/record-privacy-budget";

// True for CheckAffordable's refusal (the session counts it as a refusal on
// privacy grounds and leaves the run).
inline bool IsRecordBudgetRefusal(const absl::Status& status) {
  return !status.ok() &&
         status.GetPayload(kRecordBudgetRefusalPayload).has_value();
}

class RecordPrivacyBudget {
 public:
  // Loads the ledger at `ledger_path` if the file exists (else starts
  // empty). InvalidArgument for a bad delta or budget, DataLoss for a file
  // that is not a ledger.
  static absl::StatusOr<std::unique_ptr<RecordPrivacyBudget>> Open(
      double delta, double epsilon_budget, std::string ledger_path);

  // epsilon at delta so far (0 before the first training).
  double epsilon() const;
  double delta() const { return delta_; }
  double epsilon_budget() const { return epsilon_budget_; }
  int64_t trainings() const { return trainings_; }
  const RdpAccountant& accountant() const { return accountant_; }

  // The epsilon after `steps` more steps at (q, sigma), if within the
  // budget; otherwise the refusal described above. InvalidArgument for bad
  // arguments.
  absl::StatusOr<double> CheckAffordable(double q, double noise_multiplier,
                                         int64_t steps) const;
  // Records one training of `steps` steps at (q, sigma), writes the ledger
  // file (if any), and returns the new epsilon. On a write error nothing is
  // recorded (the caller must then not release the update).
  absl::StatusOr<double> Spend(double q, double noise_multiplier,
                               int64_t steps);

 private:
  RecordPrivacyBudget(double delta, double epsilon_budget, std::string path,
                      RdpAccountant accountant, int64_t trainings);
  absl::Status Write(const RdpAccountant& accountant, int64_t trainings) const;

  double delta_;
  double epsilon_budget_;
  std::string path_;
  RdpAccountant accountant_;
  int64_t trainings_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_RECORD_PRIVACY_BUDGET_H_
