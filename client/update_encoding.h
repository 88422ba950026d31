// Turns a trained update into what may leave this client in a round:
//   1. DP rounds: the update is clipped to the round's L2 norm C
//      (common/dp/l2_clipping.h) before anything else touches it;
//   2. secure rounds: it becomes the integer vector secure aggregation
//      masks: InputEncoder without DP, PrivateInputCodec with DP (which in
//      distributed mode adds this client's share of the discrete Gaussian
//      noise, drawn from the OS CSPRNG).
// Torch-free and transport-free.
#ifndef FEDLEARN_CLIENT_UPDATE_ENCODING_H_
#define FEDLEARN_CLIENT_UPDATE_ENCODING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/coordinator_transport.h"
#include "client/training/local_trainer.h"
#include "common/crypto/secret_bytes.h"
#include "common/dp/l2_clipping.h"

namespace fedlearn {

// A site's own privacy floor, checked before it trains on a task: the
// coordinator can offer stronger protection, never weaker.
struct PrivacyRequirement {
  enum class Level {
    kNone,
    kDp,             // some differential privacy (central or distributed)
    kDistributedDp,  // noise added here, inside secure aggregation
  };
  Level level = Level::kNone;
  // kDistributedDp: the noise the task asks clients to put in the sum, as a
  // multiple of its clip norm, must be at least this.
  double min_noise_multiplier = 0;
};

// FailedPrecondition, saying what is missing, if `task` falls short of
// `required`.
absl::Status CheckPrivacyRequirement(const ReceivedTask& task,
                                     const PrivacyRequirement& required);

// Clips `result->delta` in place when the task is differentially private
// (a no-op returning a default ClipOutcome otherwise).
absl::StatusOr<ClipOutcome> ClipUpdateForRound(const ReceivedTask& task,
                                               TrainingResult* result);

// q-FFL tasks (QfflEnabled(task.training)): replaces result->delta by the
// q-FedAvg values and the example count by 1 (client/training/
// qffl_transform.h; refused with DP, and in a secure round when the
// denominator value exceeds the encoding's clip range). OK and a no-op for
// any other task.
absl::Status PrepareQfflUpdate(const ReceivedTask& task,
                               TrainingResult* result);

// The vector to mask for a secure round. `clip` is ClipUpdateForRound's
// outcome (its `clipped` bit feeds adaptive clipping in DP rounds).
// `rounding_seed` null: stochastic rounding from the OS CSPRNG (every
// deployment). Set only by fedlearn-sim for a reproducible seeded run
// (SimulationRoundingSeed); DP rounds ignore it: their noise and rounding
// always come from the OS.
absl::StatusOr<std::vector<uint32_t>> EncodeForSecureAggregation(
    const ReceivedTask& task, const TrainingResult& result,
    const ClipOutcome& clip, const SecretBytes* rounding_seed = nullptr);

// The rounding seed of one client's update in a seeded simulation:
// SHA-256 of (domain, simulation seed, client id, run id, round), so every
// client and round has its own coins and a rerun draws the same ones.
SecretBytes SimulationRoundingSeed(uint64_t simulation_seed,
                                   const std::string& client_id,
                                   const std::string& run_id, uint64_t round);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_UPDATE_ENCODING_H_
