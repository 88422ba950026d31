// Chooses each round attempt's cohort from the live clients.
//
// Without differential privacy: a fixed-size sample (clients_per_round, or
// ceil(fraction * live)), clamped to [1, live], drawn by a Mersenne twister
// seeded from (seed, round, attempt), so a run's cohorts are reproducible
// and a retried attempt draws a fresh sample. With DP: Poisson sampling by
// the DpPlanner (each client independently at dp.sampling_rate, from its
// CSPRNG), the assumption its privacy accounting makes.
//
// Thread-compatible: the round engine calls it under its lock.
#ifndef FEDLEARN_SERVER_ROUND_COHORT_SAMPLER_H_
#define FEDLEARN_SERVER_ROUND_COHORT_SAMPLER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/round/dp_planner.h"

namespace fedlearn {

class CohortSampler {
 public:
  struct Options {
    int clients_per_round = 0;  // a count if > 0, else `fraction` of live
    double fraction = 1.0;
    uint64_t seed = 0;
  };

  // `dp` (may be null: no DP) must outlive the sampler.
  CohortSampler(Options options, DpPlanner* dp);

  bool poisson() const { return dp_ != nullptr; }
  // FailedPrecondition when a fixed-size sample of `live` clients cannot
  // reach `min_updates` (so a round must wait for more clients). Always OK
  // with Poisson sampling, whose size is random.
  absl::Status CheckCanReach(size_t live, int min_updates) const;
  // `live` is sorted. Fixed-size samples come out shuffled; Poisson samples
  // keep `live`'s order.
  std::vector<std::string> Sample(std::vector<std::string> live, uint64_t round,
                                  int attempt);

 private:
  // Without DP: clients_per_round (or fraction of `live`), within [1, live].
  size_t FixedSize(size_t live) const;

  const Options options_;
  DpPlanner* const dp_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_COHORT_SAMPLER_H_
