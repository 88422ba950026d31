#include "server/run_store.h"

#include <unistd.h>

#include <cerrno>
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
    case StoreStep::kWritePreviousCheckpoint:
      return "write previous checkpoint";
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
  if (absl::Status s = MakeDirectories(state_dir + "/models"); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("cannot use the state directory ", state_dir,
                               ": ", s.message()));
  }
  std::unique_ptr<FileRunStore> store(
      new FileRunStore(std::move(state_dir), std::move(options)));
  RETURN_IF_ERROR(store->ProbeWritable());
  RETURN_IF_ERROR(store->Recover());
  return store;
}

absl::Status FileRunStore::ProbeWritable() const {
  // A full disk or a read-only mount fails here, at startup, with the path
  // and errno, before any round runs; the probe is a real write (a
  // zero-byte file would not meet ENOSPC), then removed. Nothing else in
  // the directory is touched.
  const std::string probe = state_dir_ + "/write-probe";
  absl::Status s = WriteFileAtomically(
      probe, "fedlearn-coordinator checks the state directory is writable\n");
  if (s.ok() && ::unlink(probe.c_str()) != 0) {
    s = absl::InternalError(
        absl::StrCat("remove ", probe, ": ", DescribeErrno(errno)));
  }
  if (s.ok()) return s;
  return absl::Status(s.code(),
                      absl::StrCat("the state directory ", state_dir_,
                                   " is not writable: ", s.message(),
                                   "; its last good state is unchanged"));
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

absl::StatusOr<std::string> FileRunStore::StageModel(const std::string& run_id,
                                                     uint64_t round,
                                                     const FlatModel& model) {
  const std::string staged = StagedModelPath(round);
  RETURN_IF_ERROR(BeforeStep(StoreStep::kStageModel, staged));
  RETURN_IF_ERROR(WriteModelFile(staged, Ref(run_id, round), model));
  // The digest of the bytes on disk (read back from the page cache), so
  // the checkpoint vouches for the file itself.
  ASSIGN_OR_RETURN(const std::string bytes, ReadFileToString(staged));
  return Sha256Hex(bytes);
}

absl::Status FileRunStore::SaveInitialModel(const std::string& run_id,
                                            const FlatModel& model) {
  CheckpointContent c;
  c.run_id = run_id;
  ASSIGN_OR_RETURN(c.model_sha256, StageModel(run_id, 0, model));
  RETURN_IF_ERROR(WriteCheckpoint(c));
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
  CheckpointContent c;
  c.run_id = summary.run_id;
  c.round = round;
  ASSIGN_OR_RETURN(c.model_sha256, StageModel(summary.run_id, round, global));
  std::optional<nlohmann::json> strategy;
  if (summary.strategy_state != nullptr) {
    ASSIGN_OR_RETURN(strategy, SaveStrategyState(summary));
  }
  // Step 3, the commit: the round, its privacy charge and its record.
  c.dp = summary.dp ? &summary.dp->state : nullptr;
  c.strategy = strategy ? &*strategy : nullptr;
  c.metrics = &record;
  return WriteCheckpoint(c);
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
