#include "client/training/record_privacy_budget.h"

#include <cmath>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/atomic_file.h"
#include "common/util/status_class.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace fedlearn {
namespace {

constexpr char kLedgerFormat[] = "fedlearn-record-dp-ledger";
constexpr int kLedgerVersion = 1;

bool Finite(double v) { return std::isfinite(v); }

absl::StatusOr<double> EpsilonOf(const RdpAccountant& accountant,
                                 double delta) {
  ASSIGN_OR_RETURN(RdpAccountant::Spent spent,
                   accountant.GetPrivacySpent(delta));
  return spent.epsilon;
}

absl::StatusOr<std::pair<std::vector<RdpAccountant::LedgerEntry>, int64_t>>
ParseLedger(const std::string& text, const std::string& path) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  auto bad = [&path](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(
        "record-level privacy ledger ", path, " is damaged (", why,
        "); refusing to start from zero over it. Restore it from a backup; "
        "delete it only if no training of this site's records was ever "
        "released under it"));
  };
  if (!j.is_object() || j.value("format", "") != kLedgerFormat) {
    return bad("not a fedlearn-record-dp-ledger file");
  }
  if (j.value("version", 0) != kLedgerVersion) return bad("unknown version");
  if (!j.contains("trainings") || !j["trainings"].is_number_integer() ||
      !j.contains("ledger") || !j["ledger"].is_array()) {
    return bad("missing trainings or ledger");
  }
  std::vector<RdpAccountant::LedgerEntry> entries;
  for (const nlohmann::json& e : j["ledger"]) {
    if (!e.is_object() || !e.contains("q") || !e["q"].is_number() ||
        !e.contains("noise_multiplier") || !e["noise_multiplier"].is_number() ||
        !e.contains("steps") || !e["steps"].is_number_integer()) {
      return bad("a ledger entry lacks q, noise_multiplier or steps");
    }
    entries.push_back({e["q"].get<double>(),
                       e["noise_multiplier"].get<double>(),
                       e["steps"].get<int64_t>()});
  }
  return std::make_pair(std::move(entries), j["trainings"].get<int64_t>());
}

}  // namespace

absl::Status ValidateRecordDpSettings(const RecordDpSettings& s) {
  if (!(s.noise_multiplier > 0) || !Finite(s.noise_multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("record-level DP needs a noise multiplier > 0 "
                     "(--record-dp-noise-multiplier), got ",
                     s.noise_multiplier));
  }
  if (!(s.clip_norm > 0) || !Finite(s.clip_norm)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record-level DP needs a per-example clip norm > 0 (--record-dp-clip)"
        ", got ",
        s.clip_norm));
  }
  if (!(s.delta > 0 && s.delta < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record-level DP needs 0 < delta < 1 (--record-dp-delta), got ",
        s.delta));
  }
  if (!(s.epsilon_budget > 0) || !Finite(s.epsilon_budget)) {
    return absl::InvalidArgumentError(
        absl::StrCat("record-level DP needs an epsilon budget > 0 "
                     "(--record-epsilon-budget), got ",
                     s.epsilon_budget));
  }
  return absl::OkStatus();
}

RecordPrivacyBudget::RecordPrivacyBudget(double delta, double epsilon_budget,
                                         std::string path,
                                         RdpAccountant accountant,
                                         int64_t trainings)
    : delta_(delta),
      epsilon_budget_(epsilon_budget),
      path_(std::move(path)),
      accountant_(std::move(accountant)),
      trainings_(trainings) {}

absl::StatusOr<std::unique_ptr<RecordPrivacyBudget>> RecordPrivacyBudget::Open(
    double delta, double epsilon_budget, std::string ledger_path) {
  if (!(delta > 0 && delta < 1) || !(epsilon_budget > 0) ||
      !Finite(epsilon_budget)) {
    return absl::InvalidArgumentError(
        absl::StrCat("record-level budget needs 0 < delta < 1 and epsilon > "
                     "0, got delta ",
                     delta, ", epsilon ", epsilon_budget));
  }
  RdpAccountant accountant;
  int64_t trainings = 0;
  std::error_code ec;
  if (!ledger_path.empty() && std::filesystem::exists(ledger_path, ec)) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(ledger_path));
    ASSIGN_OR_RETURN(auto parsed, ParseLedger(text, ledger_path));
    absl::StatusOr<RdpAccountant> rebuilt =
        RdpAccountant::FromLedger(std::move(parsed.first));
    if (!rebuilt.ok()) {
      return absl::DataLossError(absl::StrCat(
          "record-level privacy ledger ", ledger_path,
          " holds an invalid entry: ", rebuilt.status().message()));
    }
    accountant = *std::move(rebuilt);
    trainings = parsed.second;
  }
  return std::unique_ptr<RecordPrivacyBudget>(
      new RecordPrivacyBudget(delta, epsilon_budget, std::move(ledger_path),
                              std::move(accountant), trainings));
}

double RecordPrivacyBudget::epsilon() const {
  absl::StatusOr<double> eps = EpsilonOf(accountant_, delta_);
  return eps.ok() ? *eps : INFINITY;  // delta was validated at Open
}

absl::StatusOr<double> RecordPrivacyBudget::CheckAffordable(
    double q, double noise_multiplier, int64_t steps) const {
  if (steps < 0 || steps > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("bad step count ", steps));
  }
  ASSIGN_OR_RETURN(const double after,
                   accountant_.EpsilonIfAdded(q, noise_multiplier,
                                              static_cast<int>(steps), delta_));
  if (after <= epsilon_budget_) return after;
  absl::Status refusal = absl::FailedPreconditionError(absl::StrFormat(
      "this site's record-level privacy budget would be exceeded: this "
      "task's training (%d DP-SGD steps at q = %.6g, sigma = %g) would take "
      "epsilon from %.4f to %.4f at delta = %g, above the budget %g "
      "(--record-epsilon-budget); the site takes no more tasks on these "
      "records. Raise the budget only if the data owner accepts the weaker "
      "guarantee",
      steps, q, noise_multiplier, epsilon(), after, delta_, epsilon_budget_));
  refusal.SetPayload(kRecordBudgetRefusalPayload, absl::Cord("1"));
  return MarkPermanent(std::move(refusal));
}

absl::StatusOr<double> RecordPrivacyBudget::Spend(double q,
                                                  double noise_multiplier,
                                                  int64_t steps) {
  if (steps < 0 || steps > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("bad step count ", steps));
  }
  RdpAccountant next = accountant_;
  RETURN_IF_ERROR(next.AddSteps(q, noise_multiplier, static_cast<int>(steps)));
  RETURN_IF_ERROR(Write(next, trainings_ + 1));
  accountant_ = std::move(next);
  ++trainings_;
  return EpsilonOf(accountant_, delta_);
}

absl::Status RecordPrivacyBudget::Write(const RdpAccountant& accountant,
                                        int64_t trainings) const {
  if (path_.empty()) return absl::OkStatus();
  nlohmann::json j;
  j["format"] = kLedgerFormat;
  j["version"] = kLedgerVersion;
  j["trainings"] = trainings;
  nlohmann::json entries = nlohmann::json::array();
  for (const RdpAccountant::LedgerEntry& e : accountant.ledger()) {
    // nlohmann prints doubles with 17 significant digits: they read back
    // bit for bit.
    entries.push_back({{"q", e.q},
                       {"noise_multiplier", e.noise_multiplier},
                       {"steps", e.steps}});
  }
  j["ledger"] = std::move(entries);
  // For a reader; recomputed from the ledger at every Open.
  ASSIGN_OR_RETURN(const double eps, EpsilonOf(accountant, delta_));
  j["epsilon"] = eps;
  j["delta"] = delta_;
  absl::Status s = WriteFileAtomically(path_, j.dump(2) + "\n", 0600);
  if (!s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("cannot write the record-level privacy "
                                     "ledger, so the update is not released: ",
                                     s.message()));
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
