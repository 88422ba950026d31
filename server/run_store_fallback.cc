// FileRunStore's fallback to the previous good checkpoint when the current
// one, or a file it names, fails its checks (the rules are in run_store.h).
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"
#include "common/util/clock.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "server/run_store.h"
#include "server/run_store_checkpoint.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;

// The complete, valid lines of metrics.jsonl of rounds after `round`, in
// file order (a torn or corrupt line is left to RepairMetrics).
absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> MetricsLinesAfter(
    const std::string& path, uint64_t round) {
  std::vector<std::pair<uint64_t, std::string>> out;
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (absl::IsNotFound(text.status())) return out;
  RETURN_IF_ERROR(text.status());
  for (size_t start = 0; start < text->size();) {
    const size_t nl = text->find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = text->substr(start, nl - start);
    start = nl + 1;
    const nlohmann::json j =
        nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("round") ||
        !j["round"].is_number_unsigned()) {
      continue;
    }
    const uint64_t r = j["round"].get<uint64_t>();
    if (r > round) out.emplace_back(r, std::move(line));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> FileRunStore::MoveAside(const std::string& path,
                                                    const std::string& suffix) {
  std::string to = path + suffix;
  std::error_code ec;
  for (int k = 1; fs::exists(to, ec); ++k)
    to = absl::StrCat(path, suffix, ".", k);
  if (::rename(path.c_str(), to.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("rename ", path, " to ", to, ": ", DescribeErrno(errno)));
  }
  RETURN_IF_ERROR(FsyncDirectory(fs::path(to).parent_path().string()));
  return to;
}

absl::StatusOr<std::optional<nlohmann::json>> FileRunStore::ChooseCheckpoint() {
  std::string bad;
  absl::StatusOr<CheckedCheckpoint> current =
      CheckCheckpoint(CheckpointPath(), &bad);
  if (current.ok()) {
    if (!current->sealed) {
      Note(absl::StrCat(CheckpointPath(),
                        " carries no checksums (an earlier version wrote "
                        "it): it and its model file cannot be verified; the "
                        "next round's checkpoint adds them"));
    }
    committed_body_ = current->body;
    return committed_body_;
  }
  const bool missing =
      absl::IsNotFound(current.status()) && bad == CheckpointPath();
  // An I/O error is not damage: no fallback on a file that may be fine.
  if (!missing && !absl::IsDataLoss(current.status())) return current.status();
  std::string previous_bad;
  absl::StatusOr<CheckedCheckpoint> previous =
      CheckCheckpoint(PreviousCheckpointPath(), &previous_bad);
  const bool no_previous = absl::IsNotFound(previous.status()) &&
                           previous_bad == PreviousCheckpointPath();
  if (missing && no_previous) return std::optional<nlohmann::json>();
  const std::string what = missing
                               ? absl::StrCat(CheckpointPath(), " is missing")
                               : std::string(current.status().message());
  if (!previous.ok()) {
    return absl::DataLossError(absl::StrCat(
        "cannot resume the run in ", state_dir_, ": ", what, "; and ",
        no_previous ? absl::StrCat("there is no previous checkpoint (",
                                   PreviousCheckpointPath(), ")")
                    : absl::StrCat("the previous checkpoint is bad too: ",
                                   previous.status().message()),
        ". Nothing was changed or removed: restore the damaged file, or move ",
        state_dir_, " aside to start the run afresh"));
  }
  RETURN_IF_ERROR(
      FallBack(what, missing ? std::string() : bad, *std::move(previous)));
  return committed_body_;
}

absl::Status FileRunStore::FallBack(const std::string& what_failed,
                                    const std::string& bad_file,
                                    CheckedCheckpoint previous) {
  const uint64_t to = previous.checkpoint.completed_round;
  nlohmann::json body = std::move(previous.body);
  nlohmann::json successor = body.value("successor", nlohmann::json::object());
  body.erase("successor");
  if (body.contains("dp")) {
    // Never under-count: keep the charge of the round committed after `to`
    // (released or not); refuse if a later release has no recorded charge.
    uint64_t charged = to;
    if (successor.contains("dp") && successor.contains("round") &&
        successor["round"].is_number_unsigned()) {
      charged = successor["round"].get<uint64_t>();
    }
    ASSIGN_OR_RETURN(const auto lines, MetricsLinesAfter(MetricsPath(), to));
    uint64_t released = lines.empty() ? 0 : lines.back().first;
    std::error_code ec;
    for (const fs::directory_entry& e :
         fs::directory_iterator(state_dir_ + "/models", ec)) {
      std::optional<uint64_t> r =
          RoundOfFile(e.path().filename().string(), ".fmodel");
      if (r && *r > released) released = *r;
    }
    if (released > charged) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot resume the run in ", state_dir_, ": ", what_failed,
          "; the previous checkpoint (round ", to,
          ") records the privacy "
          "charge up to round ",
          charged, ", but round ", released,
          " was released (its model file or metrics line is on disk), so "
          "the privacy spent is unknown. Nothing was changed or removed"));
    }
    if (charged > to) {
      ASSIGN_OR_RETURN(
          DpState after,
          DpStateFromJson(successor["dp"], PreviousCheckpointPath()));
      ASSIGN_OR_RETURN(const DpState before,
                       DpStateFromJson(body["dp"], PreviousCheckpointPath()));
      after.clip_norm = before.clip_norm;  // round `to`'s: the redo's
      body["dp"] = DpStateToJson(after);
    }
  }
  Note(absl::StrCat("checkpoint check failed: ", what_failed,
                    ". Falling back to the previous good checkpoint ",
                    PreviousCheckpointPath(), ": the run resumes after round ",
                    to,
                    body.contains("dp") && successor.contains("dp")
                        ? absl::StrCat("; the privacy ledger keeps the "
                                       "charge of round ",
                                       successor.value("round", to),
                                       " (it may have been released), "
                                       "so redoing it is charged again")
                        : std::string()));
  if (!bad_file.empty() && bad_file != CheckpointPath()) {
    ASSIGN_OR_RETURN(const std::string aside, MoveAside(bad_file, ".corrupt"));
    Note(absl::StrCat("kept the damaged ", bad_file, " as ", aside));
  }
  std::error_code ec;
  if (fs::exists(CheckpointPath(), ec)) {
    ASSIGN_OR_RETURN(
        const std::string aside,
        MoveAside(CheckpointPath(),
                  bad_file == CheckpointPath() ? ".corrupt" : ".rolled-back"));
    Note(absl::StrCat("kept ", CheckpointPath(), " as ", aside));
  }
  RETURN_IF_ERROR(MoveAsideMetricsAfter(to));
  RETURN_IF_ERROR(MoveAsideRoundsAfter(to));
  body["fallback"] = {{"reason", what_failed},
                      {"unix_ms", WallClockUnixMillis()}};
  RETURN_IF_ERROR(BeforeStep(StoreStep::kWriteCheckpoint, CheckpointPath()));
  RETURN_IF_ERROR(WriteFileAtomically(CheckpointPath(), SealCheckpoint(body)));
  committed_body_ = std::move(body);
  return absl::OkStatus();
}

absl::Status FileRunStore::MoveAsideMetricsAfter(uint64_t round) {
  ASSIGN_OR_RETURN(const auto lines, MetricsLinesAfter(MetricsPath(), round));
  if (lines.empty()) return absl::OkStatus();
  const std::string aside = state_dir_ + "/metrics.rolled-back.jsonl";
  for (const auto& [r, line] : lines) {
    RETURN_IF_ERROR(AppendLineDurably(aside, line));
  }
  Note(absl::StrCat("copied the metrics lines of rounds ", lines.front().first,
                    "..", lines.back().first, " (after round ", round, ") to ",
                    aside, "; those rounds are redone"));
  return absl::OkStatus();
}

absl::Status FileRunStore::MoveAsideRoundsAfter(uint64_t round) {
  for (const auto& [sub, suffix] :
       {std::pair<const char*, const char*>{"/models", ".fmodel"},
        {"/strategy", ".fstate"}}) {
    std::error_code ec;
    std::vector<fs::path> later;
    for (const fs::directory_entry& e :
         fs::directory_iterator(state_dir_ + sub, ec)) {
      std::optional<uint64_t> r =
          RoundOfFile(e.path().filename().string(), suffix);
      if (r && *r > round) later.push_back(e.path());
    }
    for (const fs::path& path : later) {
      ASSIGN_OR_RETURN(const std::string aside,
                       MoveAside(path.string(), ".rolled-back"));
      Note(absl::StrCat("moved ", path.string(), " (a round after round ",
                        round, ", redone) aside to ", aside));
    }
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
