// FileRunStore's evaluation.jsonl: the records of evaluation-only rounds
// (the guarantees are in run_store.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"
#include "common/util/clock.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "server/round/federated_evaluation.h"
#include "server/run_store.h"

namespace fedlearn {
namespace {

constexpr char kEvaluationKind[] = "evaluation";

// The complete JSON-object lines of `text` and where the last one ends;
// `torn` is set when something follows it (a torn last line). DataLoss for
// a corrupt line before the last.
struct EvaluationLines {
  std::vector<nlohmann::json> records;
  size_t end = 0;
  bool torn = false;
};

absl::StatusOr<EvaluationLines> ParseEvaluationLines(const std::string& text,
                                                     const std::string& path) {
  EvaluationLines out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    const bool last = nl == std::string::npos || nl + 1 == text.size();
    nlohmann::json j = nlohmann::json::parse(
        text.substr(start, nl == std::string::npos ? nl : nl - start), nullptr,
        /*allow_exceptions=*/false);
    const bool valid = nl != std::string::npos && j.is_object();
    if (!valid && !last) {
      return absl::DataLossError(absl::StrCat(
          path, ": line ", out.records.size() + 1,
          " is not an evaluation's JSON record; repair or move the file "
          "aside"));
    }
    if (!valid) {
      out.torn = true;
      break;
    }
    out.records.push_back(std::move(j));
    out.end = nl + 1;
    start = nl + 1;
  }
  return out;
}

}  // namespace

std::string EvaluationSummaryToJson(const FederatedEvalSummary& summary,
                                    int64_t unix_ms) {
  nlohmann::json j;
  j["run_id"] = summary.run_id;
  j["round"] = summary.round;
  j["model_version"] = summary.model_version;
  j["kind"] = kEvaluationKind;
  j["secure"] = summary.secure;
  j["selected"] = summary.selected;
  j["participants"] = summary.participants;
  if (!summary.model_file.empty()) j["model_file"] = summary.model_file;
  if (!summary.model_file_run_id.empty()) {
    j["model_file_run_id"] = summary.model_file_run_id;
  }
  j["federated_eval"] = FederatedEvalJson(summary.model_version, summary.secure,
                                          summary.stats, summary.per_site);
  j["unix_ms"] = unix_ms;
  return j.dump();
}

absl::Status FileRunStore::OnEvaluationCompleted(
    const FederatedEvalSummary& summary) {
  const std::string line =
      EvaluationSummaryToJson(summary, WallClockUnixMillis());
  RETURN_IF_ERROR(
      BeforeStep(StoreStep::kAppendEvaluation, EvaluationPath(), line + "\n"));
  return AppendLineDurably(EvaluationPath(), line);
}

absl::StatusOr<bool> FileRunStore::HasFinalEvaluation(
    const std::string& run_id, uint64_t model_version) const {
  absl::StatusOr<std::string> text = ReadFileToString(EvaluationPath());
  if (absl::IsNotFound(text.status())) return false;
  RETURN_IF_ERROR(text.status());
  ASSIGN_OR_RETURN(EvaluationLines lines,
                   ParseEvaluationLines(*text, EvaluationPath()));
  for (const nlohmann::json& j : lines.records) {
    if (j.value("run_id", "") == run_id &&
        j.value("kind", "") == kEvaluationKind && !j.contains("model_file") &&
        j.contains("model_version") &&
        j["model_version"].is_number_unsigned() &&
        j["model_version"].get<uint64_t>() == model_version) {
      return true;
    }
  }
  return false;
}

absl::Status FileRunStore::RepairEvaluations() {
  absl::StatusOr<std::string> text = ReadFileToString(EvaluationPath());
  if (absl::IsNotFound(text.status())) return absl::OkStatus();
  RETURN_IF_ERROR(text.status());
  ASSIGN_OR_RETURN(EvaluationLines lines,
                   ParseEvaluationLines(*text, EvaluationPath()));
  if (!lines.torn) return absl::OkStatus();
  const int fd = ::open(EvaluationPath().c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("open ", EvaluationPath(), ": ", std::strerror(errno)));
  }
  int rc = ::ftruncate(fd, static_cast<off_t>(lines.end));
  if (rc == 0) rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("truncate ", EvaluationPath(), ": ", std::strerror(err)));
  }
  Note(absl::StrCat("cut a torn last line (", text->size() - lines.end,
                    " bytes) from ", EvaluationPath(),
                    ": an interrupted evaluation, redone if it was the final "
                    "one"));
  return absl::OkStatus();
}

}  // namespace fedlearn
