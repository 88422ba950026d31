#include "server/run_store.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/sha256.h"
#include "common/util/atomic_file.h"
#include "common/util/clock.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"
#include "common/wire/model_file.h"
#include "nlohmann/json.hpp"
#include "server/round/federated_evaluation.h"

namespace fedlearn {
namespace {

v1::RoundRef Ref(const std::string& run_id, uint64_t round) {
  v1::RoundRef ref;
  ref.set_run_id(run_id);
  ref.set_round(round);
  ref.set_model_version(round);
  return ref;
}

}  // namespace

const char* StoreStepName(StoreStep step) {
  switch (step) {
    case StoreStep::kStageModel:
      return "stage model";
    case StoreStep::kWriteStrategy:
      return "write optimizer state";
    case StoreStep::kWriteCheckpoint:
      return "write checkpoint";
    case StoreStep::kPublishModel:
      return "publish model";
    case StoreStep::kAppendMetrics:
      return "append metrics line";
    case StoreStep::kAppendEvaluation:
      return "append evaluation line";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<FileRunStore>> FileRunStore::Open(
    std::string state_dir, FileRunStoreOptions options) {
  if (state_dir.empty()) {
    return absl::InvalidArgumentError("state directory is empty");
  }
  RETURN_IF_ERROR(MakeDirectories(state_dir + "/models"));
  std::unique_ptr<FileRunStore> store(
      new FileRunStore(std::move(state_dir), std::move(options)));
  RETURN_IF_ERROR(store->Recover());
  return store;
}

absl::Status FileRunStore::BeforeStep(StoreStep step, const std::string& path,
                                      std::string_view bytes) const {
  if (!options_.before_step_for_testing) return absl::OkStatus();
  return options_.before_step_for_testing(step, path, bytes);
}

std::string FileRunStore::ModelPath(uint64_t round) const {
  return absl::StrFormat("%s/models/round-%06d.fmodel", state_dir_, round);
}

std::string FileRunStore::StagedModelPath(uint64_t round) const {
  return ModelPath(round) + ".staged";
}

std::string FileRunStore::StrategyStatePath(uint64_t round) const {
  return absl::StrFormat("%s/strategy/round-%06d.fstate", state_dir_, round);
}

absl::StatusOr<nlohmann::json> FileRunStore::SaveStrategyState(
    const RoundSummary& summary) const {
  const ServerOptimizerState& state = *summary.strategy_state;
  const std::string bytes = EncodeOptimizerState(
      SavedOptimizerState{summary.run_id, summary.round, state});
  RETURN_IF_ERROR(MakeDirectories(state_dir_ + "/strategy"));
  RETURN_IF_ERROR(
      BeforeStep(StoreStep::kWriteStrategy, StrategyStatePath(summary.round)));
  RETURN_IF_ERROR(WriteFileAtomically(StrategyStatePath(summary.round), bytes));
  // The file name relative to the state directory, so a moved directory
  // still resumes; the digest binds this checkpoint to this very file.
  return nlohmann::json{
      {"optimizer", state.optimizer},
      {"steps", state.steps},
      {"file", absl::StrFormat("strategy/round-%06d.fstate", summary.round)},
      {"sha256", Sha256Hex(bytes)}};
}

absl::Status FileRunStore::LoadStrategyState(const nlohmann::json& j,
                                             RunCheckpoint* cp) const {
  if (!j.is_object() || !j.contains("file") || !j["file"].is_string() ||
      !j.contains("sha256") || !j["sha256"].is_string()) {
    return absl::DataLossError(absl::StrCat(
        CheckpointPath(), ": its server optimizer entry is corrupt"));
  }
  const std::string file = j["file"].get<std::string>();
  const std::string path = absl::StrCat(state_dir_, "/", file);
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) {
    return absl::DataLossError(
        absl::StrCat("checkpoint names the server optimizer state ", path,
                     " but it cannot be read: ", bytes.status().message()));
  }
  if (Sha256Hex(*bytes) != j["sha256"].get<std::string>()) {
    return absl::DataLossError(
        absl::StrCat(path,
                     " is not the optimizer state the checkpoint names (its "
                     "SHA-256 differs): it is corrupt or was replaced"));
  }
  absl::StatusOr<SavedOptimizerState> saved = DecodeOptimizerState(*bytes);
  if (!saved.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", saved.status().message()));
  }
  if (saved->run_id != cp->run_id || saved->round != cp->completed_round) {
    return absl::DataLossError(absl::StrCat(
        path, " holds the optimizer state of run '",
        EscapeUntrusted(saved->run_id, 64), "' round ", saved->round,
        ", not of round ", cp->completed_round, " of this run"));
  }
  cp->strategy = std::move(saved->state);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<RunCheckpoint>> FileRunStore::LoadCheckpoint()
    const {
  absl::StatusOr<std::string> text = ReadFileToString(CheckpointPath());
  if (absl::IsNotFound(text.status())) return std::optional<RunCheckpoint>();
  if (!text.ok()) return text.status();
  nlohmann::json j =
      nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("run_id") ||
      !j.contains("completed_round") || !j["run_id"].is_string() ||
      !j["completed_round"].is_number_unsigned()) {
    return absl::DataLossError(absl::StrCat(
        CheckpointPath(), " is corrupt; move it aside to start afresh"));
  }
  RunCheckpoint cp;
  cp.run_id = j["run_id"].get<std::string>();
  cp.completed_round = j["completed_round"].get<uint64_t>();
  absl::StatusOr<SavedModel> saved =
      ReadModelFile(ModelPath(cp.completed_round));
  if (!saved.ok()) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint names round ", cp.completed_round,
        " but its model cannot be read: ", saved.status().message()));
  }
  if (saved->ref.run_id() != cp.run_id) {
    return absl::DataLossError(absl::StrCat(
        "model file of round ", cp.completed_round, " belongs to run '",
        EscapeUntrusted(saved->ref.run_id(), 64), "', checkpoint to '",
        EscapeUntrusted(cp.run_id, 64), "'"));
  }
  cp.model = std::move(saved->model);
  if (j.contains("strategy"))
    RETURN_IF_ERROR(LoadStrategyState(j["strategy"], &cp));
  if (j.contains("dp")) {
    const nlohmann::json& d = j["dp"];
    auto corrupt = [&] {
      return absl::DataLossError(absl::StrCat(
          CheckpointPath(),
          ": its privacy ledger is corrupt; the privacy "
          "spent so far is unknown, so the run cannot safely continue"));
    };
    if (!d.is_object() || !d.contains("clip_norm") ||
        !d["clip_norm"].is_number() || !d.contains("ledger") ||
        !d["ledger"].is_array()) {
      return corrupt();
    }
    DpState state;
    state.clip_norm = d["clip_norm"].get<double>();
    for (const nlohmann::json& e : d["ledger"]) {
      if (!e.is_object() || !e.contains("sampling_rate") ||
          !e.contains("noise_multiplier") || !e.contains("rounds") ||
          !e["sampling_rate"].is_number() ||
          !e["noise_multiplier"].is_number() ||
          !e["rounds"].is_number_unsigned()) {
        return corrupt();
      }
      state.ledger.push_back({e["sampling_rate"].get<double>(),
                              e["noise_multiplier"].get<double>(),
                              e["rounds"].get<int64_t>()});
    }
    if (d.contains("distributed_rdp")) {
      if (!d["distributed_rdp"].is_array() ||
          !d.contains("distributed_rounds") ||
          !d["distributed_rounds"].is_number_unsigned()) {
        return corrupt();
      }
      for (const nlohmann::json& r : d["distributed_rdp"]) {
        if (!r.is_number()) return corrupt();
        state.distributed_rdp.push_back(r.get<double>());
      }
      state.distributed_rounds = d["distributed_rounds"].get<int64_t>();
    }
    cp.dp = std::move(state);
  }
  return std::optional<RunCheckpoint>(std::move(cp));
}

absl::Status FileRunStore::WriteCheckpoint(const std::string& run_id,
                                           uint64_t round, const DpState* dp,
                                           const nlohmann::json* strategy,
                                           const nlohmann::json* metrics) {
  nlohmann::json j;
  j["run_id"] = run_id;
  j["completed_round"] = round;
  j["model_file"] = ModelPath(round);
  if (dp != nullptr) {
    // Doubles are written with round-trip precision, so a resumed
    // accountant is bit-identical to one that never stopped.
    nlohmann::json ledger = nlohmann::json::array();
    for (const DpState::Step& step : dp->ledger) {
      ledger.push_back({{"sampling_rate", step.sampling_rate},
                        {"noise_multiplier", step.noise_multiplier},
                        {"rounds", step.count}});
    }
    j["dp"] = {{"clip_norm", dp->clip_norm}, {"ledger", ledger}};
    if (dp->distributed_rounds > 0) {
      j["dp"]["distributed_rdp"] = dp->distributed_rdp;
      j["dp"]["distributed_rounds"] = dp->distributed_rounds;
    }
  }
  if (strategy != nullptr) j["strategy"] = *strategy;
  // The round's metrics line, so a crash between this commit and the
  // append cannot lose it (Open re-appends it).
  if (metrics != nullptr) j["metrics"] = *metrics;
  j["written_unix_ms"] = WallClockUnixMillis();
  RETURN_IF_ERROR(BeforeStep(StoreStep::kWriteCheckpoint, CheckpointPath()));
  return WriteFileAtomically(CheckpointPath(), j.dump(2) + "\n");
}

absl::Status FileRunStore::SaveInitialModel(const std::string& run_id,
                                            const FlatModel& model) {
  RETURN_IF_ERROR(BeforeStep(StoreStep::kStageModel, StagedModelPath(0)));
  RETURN_IF_ERROR(WriteModelFile(StagedModelPath(0), Ref(run_id, 0), model));
  RETURN_IF_ERROR(WriteCheckpoint(run_id, 0));
  return PublishModel(0);
}

absl::Status FileRunStore::OnRoundCompleted(const RoundSummary& summary,
                                            const FlatModel& global) {
  const uint64_t round = summary.round;
  const std::string line = RoundSummaryToJson(summary, WallClockUnixMillis());
  const nlohmann::json record = nlohmann::json::parse(line);
  if (absl::Status s = StageAndCommit(summary, global, record); !s.ok()) {
    AbandonRound(round);
    return s;
  }
  // Steps 4-5 publish what is committed; Open completes them after a crash.
  absl::Status status = PublishModel(round);
  if (status.ok()) {
    status = BeforeStep(StoreStep::kAppendMetrics, MetricsPath(), line + "\n");
  }
  if (status.ok()) status = AppendLineDurably(MetricsPath(), line);
  if (!status.ok()) {
    return absl::Status(
        status.code(),
        absl::StrCat("round ", round,
                     " is committed (checkpoint written) but not yet fully "
                     "published: ",
                     status.message(),
                     "; restarting the coordinator completes it"));
  }
  return absl::OkStatus();
}

absl::Status FileRunStore::StageAndCommit(const RoundSummary& summary,
                                          const FlatModel& global,
                                          const nlohmann::json& record) {
  const uint64_t round = summary.round;
  // Steps 1-2: nothing here is part of the run until the checkpoint is.
  RETURN_IF_ERROR(BeforeStep(StoreStep::kStageModel, StagedModelPath(round)));
  RETURN_IF_ERROR(WriteModelFile(StagedModelPath(round),
                                 Ref(summary.run_id, round), global));
  std::optional<nlohmann::json> strategy;
  if (summary.strategy_state != nullptr) {
    ASSIGN_OR_RETURN(strategy, SaveStrategyState(summary));
  }
  // Step 3, the commit: the round, its privacy charge and its record.
  return WriteCheckpoint(summary.run_id, round,
                         summary.dp ? &summary.dp->state : nullptr,
                         strategy ? &*strategy : nullptr, &record);
}

void FileRunStore::AbandonRound(uint64_t round) {
  // A checkpoint renamed into place before a later failure (its directory
  // fsync) does commit the round: then Open completes it instead.
  absl::StatusOr<std::string> text = ReadFileToString(CheckpointPath());
  if (text.ok()) {
    const nlohmann::json j =
        nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("completed_round", uint64_t{0}) == round &&
        round > 0) {
      return;
    }
  }
  std::error_code ec;
  std::filesystem::remove(StagedModelPath(round), ec);
  std::filesystem::remove(StrategyStatePath(round), ec);
}

std::string RoundSummaryToJson(const RoundSummary& summary, int64_t unix_ms) {
  nlohmann::json j;
  j["run_id"] = summary.run_id;
  j["round"] = summary.round;
  j["attempt"] = summary.attempt;
  j["model_version"] = summary.model_version;
  j["selected"] = summary.selected;
  j["participants"] = summary.participants;
  j["rejected"] = summary.rejected;
  j["examples"] = summary.total_examples;
  j["train_loss"] = summary.train_loss;
  j["seconds"] = summary.seconds;
  j["secure_aggregation"] = summary.secure;
  j["dropped"] = summary.dropped;
  if (summary.strategy_state != nullptr) {
    j["strategy"] = summary.strategy_state->optimizer;
  }
  if (!summary.failed_sites.empty()) {
    nlohmann::json failed = nlohmann::json::array();
    for (const DepartedClient& d : summary.failed_sites) {
      failed.push_back({{"client", d.client_id}, {"reason", d.reason}});
    }
    j["failed_sites"] = failed;
  }
  if (summary.quantization_error) {
    // Bounds of common/secagg/input_encoding.h; +inf (no bound) as null.
    const QuantizationErrorBound& q = *summary.quantization_error;
    auto finite = [](double x) {
      return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json();
    };
    j["quantization_error"] = {{"max_abs", finite(q.max_abs_error)},
                               {"max_relative", finite(q.max_relative_error)},
                               {"rms_relative", finite(q.rms_relative_error)}};
  }
  if (summary.dp) {
    const RoundSummary::Dp& dp = *summary.dp;
    j["dp"] = {{"mode", dp.mode},
               {"epsilon", dp.epsilon},
               {"delta", dp.delta},
               {"noise_multiplier", dp.noise_multiplier},
               {"sampling_rate", dp.sampling_rate},
               {"expected_clients", dp.expected_clients},
               {"clip_norm", dp.clip_norm},
               {"next_clip_norm", dp.state.clip_norm},
               {"unclipped_fraction", dp.unclipped_fraction}};
  }
  if (summary.federated_eval) {
    const FederatedEvalSummary& e = *summary.federated_eval;
    j["federated_eval"] =
        FederatedEvalJson(e.model_version, e.secure, e.stats, e.per_site);
  }
  if (summary.eval) {
    j["test_accuracy"] = summary.eval->accuracy;
    j["test_loss"] = summary.eval->loss;
    j["test_examples"] = summary.eval->num_examples;
  }
  j["unix_ms"] = unix_ms;
  return j.dump();
}

}  // namespace fedlearn
