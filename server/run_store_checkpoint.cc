// FileRunStore's checkpoints: the sealed text (run_store_checkpoint.h),
// writing the commit and its previous good checkpoint, and reading one back
// with every file it names checked against its digest (run_store.h).
#include "server/run_store_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/crypto/sha256.h"
#include "common/util/atomic_file.h"
#include "common/util/clock.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"
#include "common/wire/model_file.h"
#include "server/run_store.h"

namespace fedlearn {
namespace {

constexpr char kTrailer[] = ",\n  \"checkpoint_sha256\": \"";
constexpr char kEnd[] = "\"\n}\n";
constexpr size_t kHexDigits = 64;

absl::Status Corrupt(const std::string& path, size_t size,
                     absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat(path, " (", size, " bytes) is corrupt: ", why));
}

}  // namespace

std::string SealCheckpoint(nlohmann::json body) {
  body.erase("checkpoint_sha256");
  body["format"] = kCheckpointFormat;
  const std::string text = body.dump(2);  // "{\n ... \n}"
  return absl::StrCat(text.substr(0, text.size() - 2), kTrailer,
                      Sha256Hex(text), kEnd);
}

absl::StatusOr<UnsealedCheckpoint> UnsealCheckpoint(const std::string& text,
                                                    const std::string& path) {
  UnsealedCheckpoint out;
  try {
    out.body = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(path, text.size(),
                   absl::StrCat("not JSON (truncated or damaged): ", e.what()));
  }
  if (!out.body.is_object()) {
    return Corrupt(path, text.size(), "not a JSON object");
  }
  out.sealed = out.body.contains("checkpoint_sha256") ||
               out.body.contains("format") || out.body.contains("model_sha256");
  if (!out.sealed) return out;
  const size_t trailer = std::strlen(kTrailer);
  const size_t at = text.rfind(kTrailer);
  if (at == std::string::npos ||
      text.size() != at + trailer + kHexDigits + std::strlen(kEnd) ||
      text.compare(at + trailer + kHexDigits, std::string::npos, kEnd) != 0) {
    return Corrupt(path, text.size(),
                   "its checksum (\"checkpoint_sha256\", the last field) is "
                   "missing or damaged");
  }
  const std::string body_text = text.substr(0, at) + "\n}";
  const std::string expected = text.substr(at + trailer, kHexDigits);
  const std::string actual = Sha256Hex(body_text);
  if (actual != expected) {
    return Corrupt(path, text.size(),
                   absl::StrCat("its content has SHA-256 ", actual,
                                " but the file records ", expected));
  }
  out.body.erase("checkpoint_sha256");
  return out;
}

nlohmann::json DpStateToJson(const DpState& dp) {
  // Doubles are written with round-trip precision, so a resumed
  // accountant is bit-identical to one that never stopped.
  nlohmann::json ledger = nlohmann::json::array();
  for (const DpState::Step& step : dp.ledger) {
    ledger.push_back({{"sampling_rate", step.sampling_rate},
                      {"noise_multiplier", step.noise_multiplier},
                      {"rounds", step.count}});
  }
  nlohmann::json j = {{"clip_norm", dp.clip_norm}, {"ledger", ledger}};
  if (dp.distributed_rounds > 0) {
    j["distributed_rdp"] = dp.distributed_rdp;
    j["distributed_rounds"] = dp.distributed_rounds;
  }
  return j;
}

absl::StatusOr<DpState> DpStateFromJson(const nlohmann::json& d,
                                        const std::string& path) {
  auto corrupt = [&] {
    return absl::DataLossError(absl::StrCat(
        path,
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
        !e["sampling_rate"].is_number() || !e["noise_multiplier"].is_number() ||
        !e["rounds"].is_number_unsigned()) {
      return corrupt();
    }
    state.ledger.push_back({e["sampling_rate"].get<double>(),
                            e["noise_multiplier"].get<double>(),
                            e["rounds"].get<int64_t>()});
  }
  if (d.contains("distributed_rdp")) {
    if (!d["distributed_rdp"].is_array() || !d.contains("distributed_rounds") ||
        !d["distributed_rounds"].is_number_unsigned()) {
      return corrupt();
    }
    for (const nlohmann::json& r : d["distributed_rdp"]) {
      if (!r.is_number()) return corrupt();
      state.distributed_rdp.push_back(r.get<double>());
    }
    state.distributed_rounds = d["distributed_rounds"].get<int64_t>();
  }
  return state;
}

absl::Status FileRunStore::LoadStrategyState(const nlohmann::json& j,
                                             const std::string& checkpoint,
                                             RunCheckpoint* cp,
                                             std::string* bad_file) const {
  if (!j.is_object() || !j.contains("file") || !j["file"].is_string() ||
      !j.contains("sha256") || !j["sha256"].is_string()) {
    return absl::DataLossError(
        absl::StrCat(checkpoint, ": its server optimizer entry is corrupt"));
  }
  const std::string file = j["file"].get<std::string>();
  const std::string path = absl::StrCat(state_dir_, "/", file);
  *bad_file = path;
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) {
    return absl::DataLossError(
        absl::StrCat("checkpoint names the server optimizer state ", path,
                     " but it cannot be read: ", bytes.status().message()));
  }
  const std::string actual = Sha256Hex(*bytes);
  if (actual != j["sha256"].get<std::string>()) {
    return absl::DataLossError(absl::StrCat(
        path,
        " is not the optimizer state the checkpoint names (its "
        "SHA-256 differs): it is corrupt or was replaced; expected ",
        EscapeUntrusted(j["sha256"].get<std::string>(), 64), ", actual ",
        actual, " (", bytes->size(), " bytes)"));
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

absl::Status FileRunStore::LoadModel(nlohmann::json& body, RunCheckpoint* cp,
                                     std::string* bad_file) const {
  // A committed round whose rename (step 4) is still to do: its staged file.
  std::string path = ModelPath(cp->completed_round);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) &&
      std::filesystem::exists(StagedModelPath(cp->completed_round), ec)) {
    path = StagedModelPath(cp->completed_round);
  }
  *bad_file = path;
  auto unreadable = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("checkpoint names round ", cp->completed_round,
                     " but its model cannot be read: ", std::string(why)));
  };
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return unreadable(bytes.status().message());
  const std::string actual = Sha256Hex(*bytes);
  if (body.contains("model_sha256")) {
    const std::string expected = body["model_sha256"].is_string()
                                     ? body["model_sha256"].get<std::string>()
                                     : std::string("(not a string)");
    if (actual != expected) {
      return unreadable(absl::StrCat("model file ", path, " (", bytes->size(),
                                     " bytes) has SHA-256 ", actual,
                                     " but the checkpoint records ",
                                     EscapeUntrusted(expected, 64)));
    }
  }
  absl::StatusOr<SavedModel> saved = ReadModelFile(path);
  if (!saved.ok()) return unreadable(saved.status().message());
  if (saved->ref.run_id() != cp->run_id) {
    return absl::DataLossError(absl::StrCat(
        "model file of round ", cp->completed_round, " belongs to run '",
        EscapeUntrusted(saved->ref.run_id(), 64), "', checkpoint to '",
        EscapeUntrusted(cp->run_id, 64), "'"));
  }
  // An earlier version's checkpoint: its copy as the previous good one
  // carries the digest of the model it was checked against.
  body["model_sha256"] = actual;
  cp->model = std::move(saved->model);
  return absl::OkStatus();
}

absl::StatusOr<FileRunStore::CheckedCheckpoint> FileRunStore::CheckCheckpoint(
    const std::string& path, std::string* bad_file) const {
  *bad_file = path;
  ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  ASSIGN_OR_RETURN(UnsealedCheckpoint unsealed, UnsealCheckpoint(text, path));
  CheckedCheckpoint out;
  out.sealed = unsealed.sealed;
  out.body = std::move(unsealed.body);
  nlohmann::json& j = out.body;
  if (!j.contains("run_id") || !j.contains("completed_round") ||
      !j["run_id"].is_string() || !j["completed_round"].is_number_unsigned()) {
    return absl::DataLossError(
        absl::StrCat(path, " is corrupt; move it aside to start afresh"));
  }
  RunCheckpoint& cp = out.checkpoint;
  cp.run_id = j["run_id"].get<std::string>();
  cp.completed_round = j["completed_round"].get<uint64_t>();
  RETURN_IF_ERROR(LoadModel(j, &cp, bad_file));
  if (j.contains("strategy")) {
    RETURN_IF_ERROR(LoadStrategyState(j["strategy"], path, &cp, bad_file));
  }
  *bad_file = path;
  if (j.contains("dp")) {
    ASSIGN_OR_RETURN(cp.dp, DpStateFromJson(j["dp"], path));
  }
  bad_file->clear();
  return out;
}

absl::StatusOr<std::optional<RunCheckpoint>> FileRunStore::LoadCheckpoint()
    const {
  std::string bad_file;
  absl::StatusOr<CheckedCheckpoint> checked =
      CheckCheckpoint(CheckpointPath(), &bad_file);
  if (absl::IsNotFound(checked.status()) && bad_file == CheckpointPath()) {
    return std::optional<RunCheckpoint>();
  }
  RETURN_IF_ERROR(checked.status());
  return std::optional<RunCheckpoint>(std::move(checked->checkpoint));
}

absl::Status FileRunStore::WriteCheckpoint(const CheckpointContent& c) {
  nlohmann::json j;
  j["run_id"] = c.run_id;
  j["completed_round"] = c.round;
  j["model_file"] = ModelPath(c.round);
  j["model_sha256"] = c.model_sha256;
  if (c.dp != nullptr) j["dp"] = DpStateToJson(*c.dp);
  if (c.strategy != nullptr) j["strategy"] = *c.strategy;
  // The round's metrics line, so a crash between this commit and the
  // append cannot lose it (Open re-appends it).
  if (c.metrics != nullptr) j["metrics"] = *c.metrics;
  j["written_unix_ms"] = WallClockUnixMillis();
  if (committed_body_.has_value() &&
      committed_body_->value("completed_round", uint64_t{0}) < c.round) {
    // Step 3a: the previous good checkpoint, with the ledger after the
    // round being committed: resuming from it after that round's
    // checkpoint is lost charges the round (run_store.h, fallback).
    nlohmann::json previous = *committed_body_;
    previous["successor"] = {{"round", c.round}};
    if (c.dp != nullptr) previous["successor"]["dp"] = DpStateToJson(*c.dp);
    RETURN_IF_ERROR(BeforeStep(StoreStep::kWritePreviousCheckpoint,
                               PreviousCheckpointPath()));
    RETURN_IF_ERROR(WriteFileAtomically(PreviousCheckpointPath(),
                                        SealCheckpoint(std::move(previous))));
  }
  RETURN_IF_ERROR(BeforeStep(StoreStep::kWriteCheckpoint, CheckpointPath()));
  RETURN_IF_ERROR(WriteFileAtomically(CheckpointPath(), SealCheckpoint(j)));
  committed_body_ = std::move(j);
  return absl::OkStatus();
}

}  // namespace fedlearn
