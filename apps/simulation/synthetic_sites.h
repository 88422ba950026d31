// Light virtual sites for load tests and benchmarks (fedlearn-sim
// --synthetic-updates): NOT TRAINING. Each site needs no dataset: it takes
// the model's spec from the run's contract and, for every task, sends a
// vector of the model's size, either a fixed value in every coordinate or
// uniform in [-scale, scale] seeded by (seed, client, the task's training
// seed), with a fixed example count. Everything after the "training" is
// the real stack: the session's checks, clipping and DP noise if the run
// asks for them, secure aggregation's masking, mutual TLS.
//
// Guarantees: the same seed, client and task give the same vector; the
// vector has exactly the task's model size (else InvalidArgument).
// Thread-compatible (one trainer per site, one Train at a time).
#ifndef FEDLEARN_APPS_SIMULATION_SYNTHETIC_SITES_H_
#define FEDLEARN_APPS_SIMULATION_SYNTHETIC_SITES_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "apps/simulation/sim_flags.h"
#include "apps/simulation/virtual_sites.h"
#include "client/run_preparer.h"
#include "client/training/local_trainer.h"

namespace fedlearn {

struct SyntheticUpdates {
  uint64_t num_examples = 100;  // the FedAvg weight each site declares
  // Nonzero: every coordinate is this value; 0: seeded uniform values in
  // [-scale, scale].
  float fixed_value = 0.0f;
  float scale = 0.01f;
  uint64_t seed = 1;
};

class SyntheticUpdateTrainer final : public LocalTrainer {
 public:
  SyntheticUpdateTrainer(ModelSpec spec, SyntheticUpdates options, int client);
  const ModelSpec& Spec() const override { return spec_; }
  uint64_t NumExamples() const override { return options_.num_examples; }
  absl::StatusOr<TrainingResult> Train(
      const FlatVector& global, const TrainingConfig& config,
      const std::atomic<bool>& cancel) override;

 private:
  const ModelSpec spec_;
  const SyntheticUpdates options_;
  const int client_;
};

// Builds a SyntheticUpdateTrainer from each contract it is offered.
class SyntheticSitePreparer final : public RunPreparer {
 public:
  SyntheticSitePreparer(SyntheticUpdates options, int client)
      : options_(options), client_(client) {}
  absl::StatusOr<LocalTrainer*> Prepare(
      const v1::RunContract& contract) override;

 private:
  const SyntheticUpdates options_;
  const int client_;
  std::unique_ptr<SyntheticUpdateTrainer> trainer_;
};

// One SyntheticSitePreparer per client of `range` (mean_label_skew 0).
VirtualSites SyntheticVirtualSites(const SyntheticUpdates& options,
                                   ClientRange range);

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_SIMULATION_SYNTHETIC_SITES_H_
