#include "server/audit/audit_chain.h"

#include <ctime>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using json = nlohmann::json;

bool IsHexDigest(const json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Why `line` is not entry `seq` chained to `prev`, or "" (and *hash set).
std::string CheckLine(const std::string& line, uint64_t seq,
                      const std::string& prev, std::string* hash) {
  json entry = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (entry.is_discarded() || !entry.is_object()) return "not a JSON object";
  static const std::set<std::string> kKeys = {
      "client", "details", "event", "hash", "prev", "seq", "time"};
  std::set<std::string> keys;
  for (const auto& item : entry.items()) keys.insert(item.key());
  if (keys != kKeys) {
    return "its keys are not client, details, event, hash, prev, seq, time";
  }
  if (!entry["seq"].is_number_unsigned() || !entry["time"].is_string() ||
      !entry["event"].is_string() || !entry["client"].is_string() ||
      !entry["details"].is_object() || !IsHexDigest(entry["prev"]) ||
      !IsHexDigest(entry["hash"])) {
    return "a field has the wrong type";
  }
  if (CanonicalAuditJson(entry) != line) {
    return "not in canonical form (edited by hand?)";
  }
  const uint64_t got = entry["seq"].get<uint64_t>();
  if (got != seq) {
    return absl::StrCat("its seq is ", got, ", expected ", seq,
                        " (a line deleted, inserted or moved?)");
  }
  if (entry["prev"].get_ref<const std::string&>() != prev) {
    return absl::StrCat("its prev is not the hash of ",
                        seq == 1 ? "the genesis value" : "the line before",
                        " (a line deleted, inserted or moved?)");
  }
  std::string recorded = entry["hash"].get<std::string>();
  entry.erase("hash");
  if (Sha256Hex(CanonicalAuditJson(entry)) != recorded) {
    return "its hash does not match its content (edited?)";
  }
  *hash = std::move(recorded);
  return "";
}

}  // namespace

std::string CanonicalAuditJson(const json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/true,
                    json::error_handler_t::replace);
}

std::string Rfc3339UtcMillis(int64_t unix_ms) {
  int64_t seconds = unix_ms / 1000;
  int64_t millis = unix_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  return absl::StrFormat("%s.%03dZ", text, millis);
}

std::string MakeAuditLine(uint64_t seq, int64_t unix_ms,
                          const AuditEvent& event, const std::string& prev,
                          std::string* hash) {
  json entry = json::object();
  entry["seq"] = seq;
  entry["time"] = Rfc3339UtcMillis(unix_ms);
  entry["event"] = event.event;
  entry["client"] = event.client_id;
  entry["details"] = event.details.is_object() ? event.details
                                               : json{{"value", event.details}};
  entry["prev"] = prev;
  *hash = Sha256Hex(CanonicalAuditJson(entry));
  entry["hash"] = *hash;
  return CanonicalAuditJson(entry);
}

std::string AuditHeadPath(const std::string& log_path) {
  return log_path + ".head";
}

absl::StatusOr<std::optional<AuditHead>> ReadAuditHead(
    const std::string& log_path) {
  const std::string path = AuditHeadPath(log_path);
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (absl::IsNotFound(text.status())) return std::optional<AuditHead>();
  RETURN_IF_ERROR(text.status());
  const json head = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (head.is_discarded() || !head.is_object() || head.size() != 2 ||
      !head.contains("seq") || !head["seq"].is_number_unsigned() ||
      !head.contains("hash") || !IsHexDigest(head["hash"])) {
    return absl::DataLossError(
        absl::StrCat(path, " is not an audit head ({\"hash\", \"seq\"})"));
  }
  return AuditHead{head["seq"].get<uint64_t>(),
                   head["hash"].get<std::string>()};
}

absl::Status WriteAuditHead(const std::string& log_path,
                            const AuditHead& head) {
  const json j = {{"seq", head.seq}, {"hash", head.hash}};
  return WriteFileAtomically(AuditHeadPath(log_path),
                             CanonicalAuditJson(j) + "\n", 0600);
}

absl::StatusOr<AuditHead> ParseAuditHeadArgument(const std::string& text,
                                                 bool* seq_known) {
  AuditHead head;
  *seq_known = false;
  std::string hash = text;
  const size_t colon = text.find(':');
  if (colon != std::string::npos) {
    const std::string seq = text.substr(0, colon);
    if (!absl::SimpleAtoi(seq, &head.seq)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", seq, "' is not an entry number"));
    }
    *seq_known = true;
    hash = text.substr(colon + 1);
  }
  head.hash = absl::AsciiStrToLower(hash);
  if (!IsHexDigest(json(head.hash))) {
    return absl::InvalidArgumentError(
        "a head is SEQ:HASH or HASH, HASH being 64 hex digits");
  }
  return head;
}

absl::StatusOr<AuditChainScan> ScanAuditChain(
    const std::string& path, const std::vector<uint64_t>& find_seqs,
    const std::string& find_hash) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  AuditChainScan scan;
  const std::set<uint64_t> wanted(find_seqs.begin(), find_seqs.end());
  if (wanted.count(0) > 0) scan.hash_at[0] = kAuditGenesisHash;
  std::string line;
  while (std::getline(in, line)) {
    const uint64_t seq = scan.entries + 1;
    if (in.eof()) {
      scan.first_bad_line = seq;
      scan.problem =
          "the final line is incomplete (no newline: a write cut short by "
          "a crash, or a truncation)";
      scan.torn_tail = true;
      break;
    }
    std::string hash;
    std::string problem = CheckLine(line, seq, scan.head.hash, &hash);
    if (!problem.empty()) {
      scan.first_bad_line = seq;
      scan.problem = std::move(problem);
      break;
    }
    if (wanted.count(seq) > 0) scan.hash_at[seq] = hash;
    if (!find_hash.empty() && hash == find_hash && scan.found_seq == 0) {
      scan.found_seq = seq;
    }
    scan.entries = seq;
    scan.head = AuditHead{seq, std::move(hash)};
    scan.valid_bytes += line.size() + 1;
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("cannot read ", path));
  }
  return scan;
}

std::string CheckAuditHead(const AuditChainScan& scan, const AuditHead& head,
                           const std::string& what, uint64_t max_lag,
                           uint64_t* line) {
  if (head.seq > scan.entries) {
    *line = scan.entries + 1;
    return absl::StrCat("the log ends after line ", scan.entries, " but ", what,
                        " names entry ", head.seq, ": lines ", scan.entries + 1,
                        "..", head.seq, " are missing (the log was truncated)");
  }
  const auto at = scan.hash_at.find(head.seq);
  if (at == scan.hash_at.end() || at->second != head.hash) {
    *line = head.seq;
    return absl::StrCat("entry ", head.seq, " is not the one ", what,
                        " names (the log was rewritten at or before line ",
                        head.seq, ", or truncated and extended)");
  }
  if (scan.entries - head.seq > max_lag) {
    *line = head.seq + max_lag + 1;
    return absl::StrCat("lines ", *line, "..", scan.entries,
                        " were appended without updating ", what);
  }
  return "";
}

namespace {

void Fail(AuditVerification& v, uint64_t line, std::string problem) {
  v.ok = false;
  v.first_bad_line = line;
  v.problem = std::move(problem);
}

}  // namespace

absl::StatusOr<AuditVerification> VerifyAuditLog(
    const std::string& path, const std::optional<AuditHead>& expected,
    bool expected_seq_known) {
  absl::StatusOr<std::optional<AuditHead>> sidecar = ReadAuditHead(path);
  std::vector<uint64_t> seqs;
  if (sidecar.ok() && sidecar->has_value()) seqs.push_back((*sidecar)->seq);
  if (expected.has_value() && expected_seq_known) seqs.push_back(expected->seq);
  ASSIGN_OR_RETURN(
      const AuditChainScan scan,
      ScanAuditChain(path, seqs,
                     expected.has_value() ? expected->hash : std::string()));
  AuditVerification v;
  v.ok = true;
  v.entries = scan.entries;
  v.head = scan.head;
  if (!scan.problem.empty()) {
    Fail(v, scan.first_bad_line,
         absl::StrCat("line ", scan.first_bad_line, ": ", scan.problem));
    return v;
  }
  const std::string sidecar_name = AuditHeadPath(path);
  uint64_t line = 0;
  if (!sidecar.ok()) {
    Fail(v, 0, std::string(sidecar.status().message()));
  } else if (!sidecar->has_value()) {
    Fail(v, 0,
         absl::StrCat(sidecar_name,
                      " is missing: a truncated tail could not be detected"));
  } else if (std::string why = CheckAuditHead(scan, **sidecar, sidecar_name,
                                              /*max_lag=*/1, &line);
             !why.empty()) {
    Fail(v, line, std::move(why));
  } else if ((*sidecar)->seq < scan.entries) {
    v.notes.push_back(absl::StrCat(
        sidecar_name, " is one entry behind (a crash between the two writes)"));
  }
  if (!v.ok || !expected.has_value()) return v;
  const std::string what = "the expected head";
  if (expected_seq_known) {
    if (std::string why = CheckAuditHead(scan, *expected, what,
                                         /*max_lag=*/UINT64_MAX, &line);
        !why.empty()) {
      Fail(v, line, std::move(why));
    }
  } else if (expected->hash != kAuditGenesisHash && scan.found_seq == 0) {
    Fail(v, 0,
         absl::StrCat("no entry has the expected hash ", expected->hash,
                      ": the log was truncated or rewritten before it"));
  } else {
    v.notes.push_back(absl::StrCat("the expected head is entry ",
                                   scan.found_seq, " of ", scan.entries));
  }
  return v;
}

}  // namespace fedlearn
