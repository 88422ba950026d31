#include "server/report/run_report.h"

#include <sys/stat.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"
#include "server/report/federated_eval_report.h"
#include "toml++/toml.h"

namespace fedlearn {
namespace {

constexpr size_t kQuoteChars = 64;  // of a value echoed in an error

// Keys of RoundSummaryToJson that must be numbers (or null) when present.
constexpr const char* kNumberKeys[] = {"/attempt",
                                       "/selected",
                                       "/participants",
                                       "/rejected",
                                       "/seconds",
                                       "/train_loss",
                                       "/examples",
                                       "/test_accuracy",
                                       "/test_loss",
                                       "/test_examples",
                                       "/model_version",
                                       "/unix_ms",
                                       "/dp/epsilon",
                                       "/dp/delta",
                                       "/dp/noise_multiplier",
                                       "/dp/clip_norm",
                                       "/dp/sampling_rate",
                                       "/dp/expected_clients",
                                       "/dp/next_clip_norm",
                                       "/dp/unclipped_fraction"};

std::string TypeName(const nlohmann::json& j) { return j.type_name(); }

// The types of the keys the report reads (see kNumberKeys).
absl::Status CheckRecordTypes(const nlohmann::json& j,
                              const std::string& origin, int line) {
  for (const char* key : {"dp", "federated_eval"}) {
    if (j.contains(key) && !j[key].is_object() && !j[key].is_null()) {
      return JsonLineError(origin, line,
                           absl::StrCat("'", key, "' must be an object, got ",
                                        TypeName(j[key])));
    }
  }
  for (const char* pointer : kNumberKeys) {
    const nlohmann::json::json_pointer p(pointer);
    if (!j.contains(p)) continue;
    const nlohmann::json& v = j[p];
    if (!v.is_number() && !v.is_null()) {
      return JsonLineError(
          origin, line,
          absl::StrCat("'", std::string(pointer).substr(1),
                       "' must be a number, got ", TypeName(v)));
    }
  }
  if (j.contains("dropped") && !j["dropped"].is_array()) {
    return JsonLineError(origin, line, "'dropped' must be an array");
  }
  if (j.contains("secure_aggregation") &&
      !j["secure_aggregation"].is_boolean()) {
    return JsonLineError(origin, line,
                         "'secure_aggregation' must be a boolean");
  }
  const nlohmann::json::json_pointer mode("/dp/mode");
  if (j.contains(mode) && !j[mode].is_string()) {
    return JsonLineError(origin, line, "'dp/mode' must be a string");
  }
  return absl::OkStatus();
}

// One parsed line, checked; `first` is the first record kept (its run id
// is the run's), null for the first line.
absl::StatusOr<RoundRecord> ParseRecord(std::string_view text,
                                        const std::string& origin, int line,
                                        const RoundRecord* first) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) return JsonLineError(origin, line, "not valid JSON");
  if (!j.is_object()) {
    return JsonLineError(
        origin, line,
        absl::StrCat("expected a JSON object, got ", TypeName(j)));
  }
  if (!j.contains("round") || !j["round"].is_number_unsigned() ||
      j["round"].get<uint64_t>() == 0) {
    return JsonLineError(origin, line,
                         "'round' (a round number >= 1) is missing or not an "
                         "integer");
  }
  if (j.contains("run_id") && !j["run_id"].is_string()) {
    return JsonLineError(origin, line, "'run_id' must be a string");
  }
  RETURN_IF_ERROR(CheckRecordTypes(j, origin, line));
  const std::string run_id = j.value("run_id", "");
  if (first != nullptr && run_id != first->fields.value("run_id", "")) {
    return JsonLineError(
        origin, line,
        absl::StrCat(
            "run_id '", EscapeUntrusted(run_id, kQuoteChars),
            "' differs from '",
            EscapeUntrusted(first->fields.value("run_id", ""), kQuoteChars),
            "' of line ", first->line, "; a state directory holds one run"));
  }
  RoundRecord r;
  r.line = line;
  r.round = j["round"].get<uint64_t>();
  r.fields = std::move(j);
  return r;
}

// Adds `r` after the records so far (see the contract: a repeat replaces).
absl::Status AppendRecord(RoundRecord r, const std::string& origin,
                          std::vector<RoundRecord>* records,
                          std::vector<std::string>* warnings) {
  if (!records->empty() && r.round <= records->back().round) {
    const RoundRecord& last = records->back();
    if (r.round < last.round) {
      return JsonLineError(
          origin, r.line,
          absl::StrCat("round ", r.round, " after round ", last.round,
                       " (line ", last.line, "): rounds must not go back"));
    }
    warnings->push_back(absl::StrCat(
        origin, ": round ", r.round, " is recorded twice (lines ", last.line,
        " and ", r.line,
        "): the coordinator redid it after a restart; the later record is "
        "shown"));
    records->back() = std::move(r);
    return absl::OkStatus();
  }
  records->push_back(std::move(r));
  return absl::OkStatus();
}

std::optional<double> TomlNumber(const toml::table& root, const char* path) {
  const toml::node_view<const toml::node> node = root.at_path(path);
  if (const auto* d = node.as_floating_point()) return d->get();
  if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
  return std::nullopt;
}

// The checkpoint's run id and round (the model file is not read).
absl::Status ReadCheckpoint(const std::string& path, RunReport* report) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  nlohmann::json j =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("run_id") ||
      !j["run_id"].is_string() || !j.contains("completed_round") ||
      !j["completed_round"].is_number_unsigned()) {
    return absl::DataLossError(
        absl::StrCat(path,
                     " is corrupt: expected a JSON object with run_id and "
                     "completed_round"));
  }
  report->run_id = j["run_id"].get<std::string>();
  report->completed_round = j["completed_round"].get<uint64_t>();
  return absl::OkStatus();
}

// metrics.jsonl against checkpoint.json: one run, the same last round.
absl::Status CrossCheck(const std::string& metrics_path, RunReport* report) {
  if (report->rounds.empty()) {
    if (report->completed_round > 0) {
      report->warnings.push_back(absl::StrCat(
          metrics_path, " records no round, but checkpoint.json says ",
          report->completed_round, " completed"));
    }
    return absl::OkStatus();
  }
  const RoundRecord& last = report->rounds.back();
  const std::string run_id = last.fields.value("run_id", "");
  if (run_id != report->run_id) {
    return absl::DataLossError(absl::StrCat(
        metrics_path, " belongs to run '", EscapeUntrusted(run_id, kQuoteChars),
        "', checkpoint.json to '", EscapeUntrusted(report->run_id, kQuoteChars),
        "'"));
  }
  if (last.round > report->completed_round) {
    report->warnings.push_back(absl::StrCat(
        metrics_path, " records round ", last.round,
        " but checkpoint.json only round ", report->completed_round,
        ": the coordinator stopped between the two writes and redoes round ",
        report->completed_round + 1, " when it resumes"));
  } else if (last.round < report->completed_round) {
    report->warnings.push_back(
        absl::StrCat("checkpoint.json says round ", report->completed_round,
                     " completed, but ", metrics_path,
                     " records rounds only up to ", last.round));
  }
  return absl::OkStatus();
}

// evaluation.jsonl into report->evaluations, if the file exists; its lines
// must name `run_id` ("" = the first line's run, see ParseEvaluationJsonl).
absl::Status ReadEvaluations(const std::string& path, const std::string& run_id,
                             RunReport* report) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (absl::IsNotFound(text.status())) return absl::OkStatus();
  RETURN_IF_ERROR(text.status());
  ASSIGN_OR_RETURN(
      report->evaluations,
      ParseEvaluationJsonl(*text, path, run_id, &report->warnings));
  return absl::OkStatus();
}

// run-config.toml into report->config, if the file exists.
absl::Status ReadRunConfig(const std::string& path, RunReport* report) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (absl::IsNotFound(text.status())) return absl::OkStatus();
  RETURN_IF_ERROR(text.status());
  ASSIGN_OR_RETURN(report->config, ParseRunConfig(*text, path));
  return absl::OkStatus();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// An evaluation-only job's directory (contract in run_report.h): its
// evaluations name the run.
absl::StatusOr<RunReport> LoadEvaluationJob(RunReport report) {
  report.evaluation_job = true;
  RETURN_IF_ERROR(
      ReadEvaluations(report.state_dir + "/evaluation.jsonl", "", &report));
  if (!report.evaluations.empty()) {
    report.run_id = report.evaluations.front().fields.value("run_id", "");
  }
  RETURN_IF_ERROR(
      ReadRunConfig(report.state_dir + "/run-config.toml", &report));
  return report;
}

}  // namespace

absl::Status JsonLineError(const std::string& origin, int line,
                           const std::string& message) {
  return absl::DataLossError(absl::StrCat(origin, ":", line, ": ", message));
}

absl::Status ForEachJsonLine(
    std::string_view text, const std::string& origin,
    std::vector<std::string>* warnings,
    const std::function<absl::StatusOr<RoundRecord>(std::string_view, int)>&
        parse,
    const std::function<absl::Status(RoundRecord)>& keep) {
  int line = 0;
  for (size_t start = 0; start < text.size();) {
    ++line;
    const size_t newline = text.find('\n', start);
    const bool terminated = newline != std::string_view::npos;
    const size_t end = terminated ? newline : text.size();
    const std::string_view body = text.substr(start, end - start);
    start = end + 1;
    if (body.empty()) return JsonLineError(origin, line, "empty line");
    absl::StatusOr<RoundRecord> r = parse(body, line);
    if (!r.ok() && !terminated) {
      warnings->push_back(absl::StrCat(
          origin, ":", line,
          ": the last line is incomplete (torn write) and is left out"));
      break;
    }
    if (!r.ok()) return r.status();
    RETURN_IF_ERROR(keep(*std::move(r)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RoundRecord>> ParseMetricsJsonl(
    std::string_view text, const std::string& origin,
    std::vector<std::string>* warnings) {
  std::vector<RoundRecord> records;
  RETURN_IF_ERROR(ForEachJsonLine(
      text, origin, warnings,
      [&](std::string_view body, int line) {
        return ParseRecord(body, origin, line,
                           records.empty() ? nullptr : &records.front());
      },
      [&](RoundRecord r) {
        return AppendRecord(std::move(r), origin, &records, warnings);
      }));
  return records;
}

absl::StatusOr<RunConfigFile> ParseRunConfig(std::string_view text,
                                             const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    return absl::DataLossError(
        absl::StrCat(origin, ": not valid TOML: ", std::string(e.description()),
                     " at ", where.str()));
  }
  RunConfigFile c;
  c.text = std::string(text);
  if (const auto* v = root.at_path("run.rounds").as_integer()) {
    c.rounds = v->get();
  }
  if (const auto* v = root.at_path("dp.mode").as_string()) c.dp_mode = v->get();
  if (const auto* v = root.at_path("secagg.enabled").as_boolean()) {
    c.secure_aggregation = v->get();
  }
  c.delta = TomlNumber(root, "dp.delta");
  c.accuracy_threshold = TomlNumber(root, "evaluation.accuracy_threshold");
  // The budget the engine enforces: epsilon_budget, else target_epsilon.
  for (const char* key : {"dp.epsilon_budget", "dp.target_epsilon"}) {
    std::optional<double> v = TomlNumber(root, key);
    if (v.has_value() && *v > 0) {
      c.epsilon_budget = v;
      break;
    }
  }
  return c;
}

absl::StatusOr<RunReport> LoadRunReport(const std::string& state_dir) {
  struct stat st {};
  if (::stat(state_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("state directory ", state_dir, " does not exist"));
  }
  RunReport report;
  report.state_dir = state_dir;
  const std::string checkpoint = state_dir + "/checkpoint.json";
  const std::string metrics = state_dir + "/metrics.jsonl";
  if (!Exists(checkpoint)) {
    if (!Exists(metrics) && Exists(state_dir + "/evaluation.jsonl")) {
      return LoadEvaluationJob(std::move(report));
    }
    return absl::NotFoundError(absl::StrCat(
        checkpoint, " does not exist: is ", state_dir,
        " a coordinator's state directory? (It holds neither a run's "
        "checkpoint nor an evaluation-only job's evaluation.jsonl.)"));
  }
  RETURN_IF_ERROR(ReadCheckpoint(checkpoint, &report));
  // The first round's append creates metrics.jsonl: before it, a started
  // run (checkpoint at round 0) has none.
  absl::StatusOr<std::string> text = ReadFileToString(metrics);
  if (absl::IsNotFound(text.status()) && report.completed_round == 0) {
    text = std::string();
  } else if (absl::IsNotFound(text.status())) {
    return absl::NotFoundError(absl::StrCat(
        metrics, " does not exist, but checkpoint.json says round ",
        report.completed_round, " completed"));
  }
  if (!text.ok()) return text.status();
  ASSIGN_OR_RETURN(report.rounds,
                   ParseMetricsJsonl(*text, metrics, &report.warnings));
  RETURN_IF_ERROR(CrossCheck(metrics, &report));
  RETURN_IF_ERROR(
      ReadEvaluations(state_dir + "/evaluation.jsonl", report.run_id, &report));
  RETURN_IF_ERROR(ReadRunConfig(state_dir + "/run-config.toml", &report));
  return report;
}

std::vector<double> RoundSeries(const RunReport& report,
                                const std::string& pointer) {
  const nlohmann::json::json_pointer p(pointer);
  std::vector<double> out;
  out.reserve(report.rounds.size());
  for (const RoundRecord& r : report.rounds) {
    double v = std::numeric_limits<double>::quiet_NaN();
    if (r.fields.contains(p)) {
      const nlohmann::json& j = r.fields[p];
      if (j.is_number()) v = j.get<double>();
      if (j.is_boolean()) v = j.get<bool>() ? 1 : 0;
      if (j.is_array()) v = static_cast<double>(j.size());
    }
    out.push_back(v);
  }
  return out;
}

std::vector<double> RoundNumbers(const RunReport& report) {
  std::vector<double> out;
  for (const RoundRecord& r : report.rounds) {
    out.push_back(static_cast<double>(r.round));
  }
  return out;
}

}  // namespace fedlearn
