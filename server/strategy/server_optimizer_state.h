// A server optimizer's state between rounds, and its file format.
//
//   "FLOPTST1" | u32 version (1) | u32 len + optimizer name | u32 len +
//   run id | u64 round | u64 steps | u64 |m| | u64 |v| | |m| float32 |
//   |v| float32 | SHA-256 (64 hex chars) of every byte before it
//
// All integers and floats little-endian. The state is held in float32 (as
// Flower's numpy state is) and written as is, so a restored optimizer
// continues bit for bit. Decode refuses (DataLoss, saying which) a file
// with another magic or version, a truncated or oversized file, and one
// whose checksum does not match: a corrupt state is never used.
// Value types and pure functions; thread-compatible.
#ifndef FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_STATE_H_
#define FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_STATE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fedlearn {

struct ServerOptimizerState {
  std::string optimizer;  // ServerOptimizerName() of the optimizer
  uint64_t steps = 0;     // rounds applied so far (Adam's t)
  // FedAvgM: the momentum buffer; adaptive: the first moment. Empty before
  // the first step is never persisted: the engine saves only after a step.
  std::vector<float> m;
  std::vector<float> v;  // adaptive: the second moment; FedAvgM: empty

  bool operator==(const ServerOptimizerState& o) const {
    return optimizer == o.optimizer && steps == o.steps && m == o.m && v == o.v;
  }
};

// The state as saved after `round` of run `run_id`.
struct SavedOptimizerState {
  std::string run_id;
  uint64_t round = 0;
  ServerOptimizerState state;
};

std::string EncodeOptimizerState(const SavedOptimizerState& saved);
absl::StatusOr<SavedOptimizerState> DecodeOptimizerState(
    std::string_view bytes);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_STATE_H_
