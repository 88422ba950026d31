// The text of checkpoint.json and checkpoint.previous.json (run_store.h):
// a JSON object that carries the SHA-256 of its own bytes, so a torn,
// truncated or bit-flipped checkpoint is told apart from a good one.
//
// A sealed checkpoint is `body.dump(2)` with its closing "\n}" replaced by
//   ,\n  "checkpoint_sha256": "<SHA-256 of body.dump(2)>"\n}\n
// so it is still one JSON object (readers such as fedlearn-report parse it
// as before) and the digest covers every byte before the trailer. The body
// also holds "format": 2 and "model_sha256"; a file whose top level has
// none of the three keys is a checkpoint of an earlier version, accepted
// unverified. One damaged byte can rename at most one of the three keys, so
// a sealed file is never mistaken for an unsealed one.
//
// Thread-safe: pure functions.
#ifndef FEDLEARN_SERVER_RUN_STORE_CHECKPOINT_H_
#define FEDLEARN_SERVER_RUN_STORE_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/round/dp_planner.h"

namespace fedlearn {

inline constexpr int kCheckpointFormat = 2;

// The sealed text of `body` (its "format" set, any old digest dropped).
std::string SealCheckpoint(nlohmann::json body);

struct UnsealedCheckpoint {
  nlohmann::json body;  // without "checkpoint_sha256"
  bool sealed = false;  // false: an earlier version's, not verified
};
// DataLoss naming `path`, its size and what is wrong (parse error, missing
// trailer, expected vs actual SHA-256) for anything but a sealed checkpoint
// whose digest matches or a well-formed unsealed one.
absl::StatusOr<UnsealedCheckpoint> UnsealCheckpoint(const std::string& text,
                                                    const std::string& path);

// The "dp" entry: clip norm, ledger and the distributed RDP, doubles with
// round-trip precision.
nlohmann::json DpStateToJson(const DpState& dp);
// DataLoss naming `path` if `j` is not such an entry.
absl::StatusOr<DpState> DpStateFromJson(const nlohmann::json& j,
                                        const std::string& path);

// The round of a state file named "round-NNNNNN<suffix>" (suffix
// ".fmodel", ".fmodel.staged", ".fstate"), or nullopt for any other name.
std::optional<uint64_t> RoundOfFile(const std::string& name,
                                    const std::string& suffix);

// fsync(2) of directory `dir`, so a rename in it is durable.
absl::Status FsyncDirectory(const std::string& dir);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_RUN_STORE_CHECKPOINT_H_
