// Reads a coordinator's state directory (server/run_store.h) into the data
// of a run report: one record per completed round from metrics.jsonl, the
// checkpoint's run id and round, the effective configuration the
// coordinator wrote to run-config.toml at start (server/coordinator.cc),
// and the evaluation-only rounds of evaluation.jsonl, if any
// (federated_eval_report.h).
//
// An evaluation-only job's directory (fedlearn-coordinator --evaluate-model
// records no run: no checkpoint.json and no metrics.jsonl, only
// evaluation.jsonl) loads too: RunReport::evaluation_job is set, rounds are
// empty, and the run id is the evaluations' (their first line's).
// Strict about bad input, each error naming the file (and line):
//   * a missing directory or checkpoint.json (of a directory that is not an
//     evaluation job's) is NotFound, and so is a missing metrics.jsonl once
//     the checkpoint records a round (before round 1 completes there is
//     none: the report has no rounds);
//   * a metrics line that is not a JSON object, lacks an integer "round",
//     holds a known key of the wrong type ("federated_eval" not an object
//     included), names another run, or goes back to an earlier round is
//     DataLoss with its line number; so is a bad evaluation.jsonl line
//     (federated_eval_report.h ParseEvaluationJsonl);
//   * a corrupt checkpoint.json or run-config.toml is DataLoss.
// Tolerated, each as a warning in RunReport::warnings (shown in the report):
//   * a torn LAST line (not newline-terminated, not valid JSON): a crash in
//     the middle of an append; the line is left out;
//   * a round recorded twice in a row (the coordinator redid it after a
//     restart): the later record is kept;
//   * metrics.jsonl and checkpoint.json disagreeing on the last round.
// A missing run-config.toml (a run started by an older coordinator) is not
// an error: RunReport::config is empty and the report says so.
// Keys absent from a run (no "dp" in a run without differential privacy, no
// test metrics without an evaluation set) are simply absent: RoundSeries
// gives NaN there and the report plots nothing for them.
// Thread-safety: pure functions over their arguments.
#ifndef FEDLEARN_SERVER_REPORT_RUN_REPORT_H_
#define FEDLEARN_SERVER_REPORT_RUN_REPORT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace fedlearn {

// One completed round: its metrics.jsonl object (RoundSummaryToJson).
struct RoundRecord {
  int line = 0;  // 1-based, in metrics.jsonl
  uint64_t round = 0;
  nlohmann::json fields;
};

// What the report needs from run-config.toml, and the file itself.
struct RunConfigFile {
  std::string text;  // as written, for the report to show (escaped)
  std::optional<int64_t> rounds;             // run.rounds
  std::optional<std::string> dp_mode;        // dp.mode
  std::optional<double> epsilon_budget;      // dp.epsilon_budget, else
                                             // dp.target_epsilon; unset if 0
  std::optional<double> delta;               // dp.delta
  std::optional<bool> secure_aggregation;    // secagg.enabled
  std::optional<double> accuracy_threshold;  // evaluation.accuracy_threshold
};

struct RunReport {
  std::string state_dir;
  std::string run_id;                    // checkpoint.json (see above)
  uint64_t completed_round = 0;          // checkpoint.json
  bool evaluation_job = false;           // an evaluation-only job's (above)
  std::vector<RoundRecord> rounds;       // ascending, one per round
  std::vector<RoundRecord> evaluations;  // evaluation.jsonl, file order
  std::optional<RunConfigFile> config;   // absent: no run-config.toml
  std::vector<std::string> warnings;
};

// The state directory's report data (see the contract above).
absl::StatusOr<RunReport> LoadRunReport(const std::string& state_dir);

// DataLoss "origin:line: message".
absl::Status JsonLineError(const std::string& origin, int line,
                           const std::string& message);

// Reads the JSON-lines file `text` line by line: `parse(body, line)` makes
// each line's record and `keep` takes it. An empty line is DataLoss. A last
// line without its newline that `parse` refuses is a torn append (a crash
// or a full disk cut it short): it is left out with a warning. Any other
// failure of `parse` or `keep` is returned.
absl::Status ForEachJsonLine(
    std::string_view text, const std::string& origin,
    std::vector<std::string>* warnings,
    const std::function<absl::StatusOr<RoundRecord>(std::string_view, int)>&
        parse,
    const std::function<absl::Status(RoundRecord)>& keep);

// The records of metrics.jsonl `text`; `origin` names the file in errors.
// Warnings (torn last line, repeated round) are appended to `warnings`.
absl::StatusOr<std::vector<RoundRecord>> ParseMetricsJsonl(
    std::string_view text, const std::string& origin,
    std::vector<std::string>* warnings);

// run-config.toml `text`; DataLoss naming `origin` and the line if it is not
// TOML or a key the report reads has the wrong type.
absl::StatusOr<RunConfigFile> ParseRunConfig(std::string_view text,
                                             const std::string& origin);

// The value at JSON pointer `pointer` (e.g. "/dp/epsilon") of every round:
// a number as is, a boolean as 0/1, an array as its length; NaN where the
// key is absent or null.
std::vector<double> RoundSeries(const RunReport& report,
                                const std::string& pointer);
// The round numbers, as the x of RoundSeries.
std::vector<double> RoundNumbers(const RunReport& report);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_REPORT_RUN_REPORT_H_
