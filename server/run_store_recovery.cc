// FileRunStore's repair on open (the guarantees are in run_store.h) and the
// publishing step shared with the per-round write sequence.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "server/run_store.h"
#include "server/run_store_checkpoint.h"
#include "spdlog/spdlog.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoError(std::string_view what, const std::string& path,
                        int err) {
  return absl::InternalError(
      absl::StrCat(std::string(what), " ", path, ": ", DescribeErrno(err)));
}

// Cuts `path` to `size` bytes, durably.
absl::Status TruncateDurably(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  int rc = ::ftruncate(fd, static_cast<off_t>(size));
  if (rc == 0) rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("truncate", path, err);
  return absl::OkStatus();
}

absl::Status RemoveFile(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot remove ", path.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

// One complete line of metrics.jsonl: its end offset and round.
struct MetricsLine {
  size_t end = 0;  // just past its '\n'
  uint64_t round = 0;
};

}  // namespace

absl::Status FsyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync directory", dir, err);
  return absl::OkStatus();
}

std::optional<uint64_t> RoundOfFile(const std::string& name,
                                    const std::string& suffix) {
  static const std::regex kPattern("round-([0-9]{6,})(\\..*)");
  std::smatch m;
  if (!std::regex_match(name, m, kPattern) || m[2].str() != suffix) {
    return std::nullopt;
  }
  return std::stoull(m[1].str());
}

void FileRunStore::Note(std::string note) {
  spdlog::warn("{}: {}", state_dir_, note);
  recovery_notes_.push_back(std::move(note));
}

absl::Status FileRunStore::PublishModel(uint64_t round) {
  const std::string from = StagedModelPath(round);
  const std::string to = ModelPath(round);
  RETURN_IF_ERROR(BeforeStep(StoreStep::kPublishModel, to));
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoError(absl::StrCat("rename ", from, " to"), to, errno);
  }
  return FsyncDirectory(state_dir_ + "/models");
}

absl::Status FileRunStore::Recover() {
  RETURN_IF_ERROR(RemoveStaleTemporaries());
  RETURN_IF_ERROR(RepairEvaluations());
  ASSIGN_OR_RETURN(const std::optional<nlohmann::json> j, ChooseCheckpoint());
  if (!j.has_value()) {
    RETURN_IF_ERROR(RemoveUncommittedFiles(std::nullopt));
    return RepairMetrics(0, nullptr);
  }
  const uint64_t committed = (*j)["completed_round"].get<uint64_t>();
  RETURN_IF_ERROR(RemoveUncommittedFiles(committed));
  const nlohmann::json* record =
      j->contains("metrics") && (*j)["metrics"].is_object() ? &(*j)["metrics"]
                                                            : nullptr;
  return RepairMetrics(committed, record);
}

absl::Status FileRunStore::RemoveStaleTemporaries() {
  // WriteFileAtomically's names: <target>.tmp.<pid>.<counter>. A process
  // that died mid-write leaves one; nothing else in the state directory
  // is named so.
  static const std::regex kTemporary(".+\\.tmp\\.[0-9]+\\.[0-9]+");
  for (const char* sub : {"", "/models", "/strategy"}) {
    const fs::path dir = state_dir_ + sub;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file(ec) || !std::regex_match(name, kTemporary)) {
        continue;
      }
      RETURN_IF_ERROR(RemoveFile(e.path()));
      Note(absl::StrCat("removed ", e.path().string(),
                        ", a temporary file of an interrupted write"));
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status FileRunStore::RemoveUncommittedFiles(
    std::optional<uint64_t> committed) {
  std::error_code ec;
  std::vector<fs::path> models;
  for (const fs::directory_entry& e :
       fs::directory_iterator(state_dir_ + "/models", ec)) {
    models.push_back(e.path());
  }
  for (const fs::path& path : models) {
    const std::string name = path.filename().string();
    if (std::optional<uint64_t> r = RoundOfFile(name, ".fmodel.staged")) {
      if (committed == *r && !fs::exists(ModelPath(*r))) {
        RETURN_IF_ERROR(PublishModel(*r));
        Note(absl::StrCat("round ", *r,
                          " was committed but its model file not yet "
                          "renamed; completed: ",
                          ModelPath(*r)));
      } else {
        RETURN_IF_ERROR(RemoveFile(path));
        Note(absl::StrCat("removed ", path.string(),
                          ", the model of a round that was never committed"));
      }
    } else if (std::optional<uint64_t> f = RoundOfFile(name, ".fmodel");
               f && committed && *f > *committed) {
      // Only state directories of earlier versions (model written first).
      RETURN_IF_ERROR(RemoveFile(path));
      Note(absl::StrCat("removed ", path.string(), ": round ", *f,
                        " is after the checkpoint's round ", *committed,
                        ", so it was never committed and will be redone"));
    }
  }
  if (!committed) return absl::OkStatus();
  for (const fs::directory_entry& e :
       fs::directory_iterator(state_dir_ + "/strategy", ec)) {
    std::optional<uint64_t> r =
        RoundOfFile(e.path().filename().string(), ".fstate");
    if (!r || *r <= *committed) continue;
    RETURN_IF_ERROR(RemoveFile(e.path()));
    Note(absl::StrCat("removed ", e.path().string(),
                      ", the optimizer state of uncommitted round ", *r));
  }
  return absl::OkStatus();
}

absl::Status FileRunStore::RepairMetrics(uint64_t committed,
                                         const nlohmann::json* record) {
  absl::StatusOr<std::string> text = ReadFileToString(MetricsPath());
  if (absl::IsNotFound(text.status())) text = std::string();
  RETURN_IF_ERROR(text.status());
  std::vector<MetricsLine> lines;
  size_t start = 0;
  while (start < text->size()) {
    const size_t nl = text->find('\n', start);
    const bool last = nl == std::string::npos || nl + 1 == text->size();
    const nlohmann::json j = nlohmann::json::parse(
        text->substr(start, nl == std::string::npos ? nl : nl - start), nullptr,
        /*allow_exceptions=*/false);
    const bool valid = nl != std::string::npos && j.is_object() &&
                       j.contains("round") && j["round"].is_number_unsigned();
    if (!valid && !last) {
      return absl::DataLossError(absl::StrCat(
          MetricsPath(), ": line ", lines.size() + 1,
          " is not a round's JSON record; repair or move the file aside"));
    }
    if (!valid) break;  // a torn last line, cut below
    lines.push_back({nl + 1, j["round"].get<uint64_t>()});
    start = nl + 1;
  }
  size_t keep = lines.size();
  while (keep > 0 && lines[keep - 1].round > committed) --keep;
  const size_t size = keep == 0 ? 0 : lines[keep - 1].end;
  if (size != text->size()) {
    RETURN_IF_ERROR(TruncateDurably(MetricsPath(), size));
    Note(keep < lines.size()
             ? absl::StrCat("cut ", MetricsPath(), " after round ", committed,
                            ": its later lines are of rounds after the "
                            "checkpoint's, which are redone")
             : absl::StrCat("cut a torn last line (", text->size() - size,
                            " bytes) from ", MetricsPath()));
  }
  const bool missing =
      committed > 0 && (keep == 0 || lines[keep - 1].round < committed);
  if (!missing) return absl::OkStatus();
  if (record == nullptr) {
    Note(absl::StrCat(MetricsPath(), " has no line for committed round ",
                      committed, " and the checkpoint holds no record of it"));
    return absl::OkStatus();
  }
  const std::string line = record->dump();
  RETURN_IF_ERROR(
      BeforeStep(StoreStep::kAppendMetrics, MetricsPath(), line + "\n"));
  RETURN_IF_ERROR(AppendLineDurably(MetricsPath(), line));
  Note(absl::StrCat("re-appended the metrics line of committed round ",
                    committed, " from the checkpoint"));
  return absl::OkStatus();
}

}  // namespace fedlearn
