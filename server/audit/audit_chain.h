// The audit log's on-disk format and its verification: one JSON object per
// line, each hash-chained to the one before, plus a head sidecar that pins
// the latest entry so that a cut-off tail is detectable too.
//
// An entry (line N, N >= 1) is the canonical JSON of
//   {"client", "details", "event", "hash", "prev", "seq", "time"}
// where seq = N, time is RFC 3339 UTC with milliseconds, prev is the previous
// entry's hash (kAuditGenesisHash for line 1), and hash is the lowercase hex
// SHA-256 of the canonical JSON of the entry without "hash". Canonical JSON
// is nlohmann::json::dump() with no indentation: keys in byte order (its
// default std::map), no whitespace, ASCII only (\uXXXX escapes), invalid
// UTF-8 replaced by U+FFFD, NaN and infinities as null. A line must be
// exactly the canonical JSON of what it parses to, so every byte of it is
// covered: an edit either breaks the JSON, the canonical form, the hash, or
// the next line's prev.
//
// The head sidecar (<log>.head) holds {"hash", "seq"} of the latest entry
// (seq 0 and the genesis hash for an empty log), replaced atomically after
// each entry is durable. It may lag the log by one entry (a crash between
// the two writes), never more.
//
// What this detects and what it cannot: see docs/security.md, "Audit log".
// In short, the chain detects an edited, deleted, inserted or reordered line
// and a torn final line; the head detects a truncated tail and a rewritten
// one. Neither is a signature: whoever can write the state directory can
// recompute the whole chain and its head. Only a head recorded elsewhere
// (the coordinator's log, a ticket, --expect-head) pins the history up to
// it.
//
// Thread-safety: free functions without shared state.
#ifndef FEDLEARN_SERVER_AUDIT_AUDIT_CHAIN_H_
#define FEDLEARN_SERVER_AUDIT_AUDIT_CHAIN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/sha256.h"  // IWYU pragma: export (Sha256Hex)
#include "nlohmann/json.hpp"
#include "server/audit/audit_sink.h"

namespace fedlearn {

// The "prev" of line 1: 64 zeros.
inline constexpr char kAuditGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The latest entry of a log: its seq (= line number) and hash. {0, genesis}
// for an empty log.
struct AuditHead {
  uint64_t seq = 0;
  std::string hash = kAuditGenesisHash;
};

// Canonical JSON (see above).
std::string CanonicalAuditJson(const nlohmann::json& value);
// "2023-11-14T22:13:20.000Z".
std::string Rfc3339UtcMillis(int64_t unix_ms);

// The line (without its '\n') recording `event` as entry `seq`, chained to
// `prev`. Sets *hash to the entry's hash.
std::string MakeAuditLine(uint64_t seq, int64_t unix_ms,
                          const AuditEvent& event, const std::string& prev,
                          std::string* hash);

// <log_path>.head
std::string AuditHeadPath(const std::string& log_path);
// nullopt if the sidecar does not exist; DataLoss if it is not a head.
absl::StatusOr<std::optional<AuditHead>> ReadAuditHead(
    const std::string& log_path);
// Replaces the sidecar atomically (mode 0600).
absl::Status WriteAuditHead(const std::string& log_path, const AuditHead& head);
// "SEQ:HEX" or "HEX" (seq unknown: 0, and `*seq_known` false).
absl::StatusOr<AuditHead> ParseAuditHeadArgument(const std::string& text,
                                                 bool* seq_known);

// One pass over a log's lines.
struct AuditChainScan {
  uint64_t entries = 0;         // valid lines before the first bad one
  AuditHead head;               // the last valid entry
  uint64_t first_bad_line = 0;  // 0: every line is valid
  std::string problem;          // why first_bad_line is bad
  uint64_t valid_bytes = 0;     // offset just after the last valid line
  // The only problem is a final line without its '\n' (a torn write).
  bool torn_tail = false;
  // The hashes of the valid entries asked for by seq, and the seq of the
  // valid entry whose hash is `find_hash` (0: none).
  std::map<uint64_t, std::string> hash_at;
  uint64_t found_seq = 0;
};
// NotFound if `path` does not exist; a broken chain is reported in the scan.
absl::StatusOr<AuditChainScan> ScanAuditChain(
    const std::string& path, const std::vector<uint64_t>& find_seqs = {},
    const std::string& find_hash = "");

// Why `scan` (a chain without problems) does not end at `head`, or "".
// `max_lag` is how many entries the log may hold beyond the head (1 for the
// sidecar: the crash window; unlimited for a head recorded elsewhere, which
// pins only the history up to it). Sets *line to the first line at fault.
std::string CheckAuditHead(const AuditChainScan& scan, const AuditHead& head,
                           const std::string& what, uint64_t max_lag,
                           uint64_t* line);

struct AuditVerification {
  bool ok = false;
  uint64_t entries = 0;
  AuditHead head;               // the last valid entry
  uint64_t first_bad_line = 0;  // 0 if ok, or if no line is at fault
  std::string problem;          // empty if ok
  std::vector<std::string> notes;
};

// Verifies the chain of `path`, its head sidecar (required: a missing one
// is a failure, since truncation could not be ruled out) and, if given,
// `expected`: a head recorded elsewhere, which must be an entry of the
// chain (found by hash if `expected_seq_known` is false). NotFound if the
// log does not exist.
absl::StatusOr<AuditVerification> VerifyAuditLog(
    const std::string& path, const std::optional<AuditHead>& expected,
    bool expected_seq_known = true);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_AUDIT_AUDIT_CHAIN_H_
