// The coordinator's differential-privacy policy: DP-FedAvg (McMahan et al.
// 2018) with client-level (epsilon, delta) guarantees, accounted by the RDP
// accountant (common/dp/rdp_accountant.h) under Poisson client sampling.
//
// Per round it
//   * samples the cohort: each live client independently with probability q,
//     using the CSPRNG (the accountant's assumption; a fixed-size sample
//     would not match it);
//   * plans what clients must do (clip to C; in distributed mode, how much
//     discrete Gaussian noise each adds so that the sum of at least
//     min_clients of them carries the target noise);
//   * releases the round: adds the Gaussian noise itself (central mode),
//     divides the noised sum by the fixed denominator q * population (not by
//     the number of participants, which would leak it), updates the clip
//     norm towards a target quantile (adaptive clipping, Andrew et al. 2021,
//     with a noised count) and charges the accountant one step;
//   * refuses to start a round whose release would exceed the budget.
//
// Accounting. Central rounds are the Poisson-sampled Gaussian mechanism
// (RdpAccountant, Mironov et al. 2019). Distributed rounds release sums of
// discrete Gaussians: their unsampled RDP is Kairouz et al.'s bound for the
// actual encoder (sensitivity after rounding, the exact sampled variance,
// min_survivors noise shares, dimension), and Poisson sampling is accounted
// with the generic bound of Zhu & Wang 2019, as the paper's authors do
// (common/dp/distributed_dp_accounting.h); the Gaussian-specific sampled
// formula is not applied to a discrete mechanism.
//
// Noise multiplier z is the TOTAL one the accountant charges. With adaptive
// clipping the clip-count query shares it (Andrew et al. 2021, Thm. 1): the
// update gets z_update = (z^-2 - (2 sigma_b)^-2)^(-1/2) and the count sum of
// (b_i - 1/2) gets N(0, sigma_b^2), which composes to exactly z.
//
// Thread-compatible: the round engine calls it under its lock.
#ifndef FEDLEARN_SERVER_ROUND_DP_PLANNER_H_
#define FEDLEARN_SERVER_ROUND_DP_PLANNER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dp/distributed_dp_accounting.h"
#include "common/dp/noise_source.h"
#include "common/dp/private_input_codec.h"
#include "common/dp/rdp_accountant.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

struct DpConfig {
  enum class Mode { kOff, kCentral, kDistributed };
  Mode mode = Mode::kOff;
  // Total noise multiplier z; 0 means "calibrate from target_epsilon".
  double noise_multiplier = 0;
  // Calibrate z so that all rounds together reach this epsilon (with delta).
  double target_epsilon = 0;
  double delta = 1e-5;
  // No round starts whose release would push epsilon above this. 0 means
  // target_epsilon when set, else no budget.
  double epsilon_budget = 0;
  double sampling_rate = 0.1;  // q: Poisson inclusion probability
  double clip_norm = 1.0;      // C (initial C when adaptive)
  bool adaptive_clipping = false;
  double target_unclipped_quantile = 0.5;  // gamma in Andrew et al.
  double clip_learning_rate = 0.2;         // eta_C
  // sigma_b: noise of the unclipped count; 0 = DefaultCountNoiseStddev.
  double count_noise_stddev = 0;
  // Distributed: noise is sized for ceil((1 - tol) * cohort) survivors; a
  // round with fewer survivors is not released.
  double dropout_tolerance = 0.2;
  // Testing only: derive all noise and sampling from this seed.
  std::optional<uint64_t> testing_seed;

  bool enabled() const { return mode != Mode::kOff; }
  // `num_rounds` is needed to check a target epsilon is reachable.
  absl::Status Validate(int num_rounds, bool secure_aggregation) const;
};

const char* DpModeName(DpConfig::Mode mode);

// sigma_b when dp.count_noise_stddev is 0: max(expected clients / 20, z),
// Andrew et al.'s suggestion, raised so the update keeps most of the budget.
double DefaultCountNoiseStddev(double expected_clients, double z);

// What survives a restart: the accountant's ledger and the clip norm.
struct DpState {
  struct Step {
    double sampling_rate = 0;
    double noise_multiplier = 0;
    int64_t count = 0;
  };
  std::vector<Step> ledger;  // central rounds
  // Distributed rounds: accumulated RDP at DistributedDiscreteGaussianOrders()
  // and how many rounds it holds.
  std::vector<double> distributed_rdp;
  int64_t distributed_rounds = 0;
  double clip_norm = 0;  // for the next round; 0 = the configured one
};

struct DpRoundPlan {
  v1::DpTaskConfig task;        // sent to every client of the round
  double expected_clients = 0;  // q * population: the fixed denominator
  int min_survivors = 1;
  // Stddev of the noise in the sum of updates and in the sum of +-1
  // indicators (0 when the clip is fixed).
  double update_noise_stddev = 0;
  double indicator_noise_stddev = 0;
  // Distributed: this round's Poisson-sampled RDP per DDG order.
  std::vector<double> round_rdp;
};

struct DpRelease {
  std::vector<float> mean_update;  // noised sum / expected_clients
  double epsilon = 0;              // after this round
  double delta = 0;
  double clip_norm = 0;       // used this round
  double next_clip_norm = 0;  // for the next round
  // Noised estimate of the fraction of clients whose update was not clipped
  // (adaptive clipping only; NaN otherwise).
  double unclipped_fraction = 0;
};

class DpPlanner {
 public:
  // Calibrates z when only target_epsilon is given; restores `state`.
  static absl::StatusOr<std::unique_ptr<DpPlanner>> Create(
      const DpConfig& config, int num_rounds, bool secure_aggregation,
      const DpState& state);

  const DpConfig& config() const { return config_; }
  double noise_multiplier() const { return noise_multiplier_; }
  double clip_norm() const { return clip_norm_; }

  // Poisson sample of `live` at rate q (order preserved).
  std::vector<std::string> SampleCohort(const std::vector<std::string>& live);

  // OK if releasing the planned round keeps epsilon within the budget; else
  // ResourceExhausted saying how far the run got.
  absl::Status CheckBudget(const DpRoundPlan& plan) const;
  double EpsilonSpent() const;
  int64_t RoundsReleased() const;

  // `dimension` is the model's number of values.
  absl::StatusOr<DpRoundPlan> PlanRound(int population, int cohort_size,
                                        int modulus_bits, size_t dimension);

  // Releases one round from the sum of clipped updates (noised already in
  // distributed mode). FailedPrecondition, with nothing charged, if fewer
  // than the plan's min_survivors contributed to a distributed sum.
  absl::StatusOr<DpRelease> Release(const DpRoundPlan& plan, PrivateSum sum,
                                    int participants);

  DpState state() const;

 private:
  DpPlanner(const DpConfig& config, double z, NoiseSource rng,
            RdpAccountant accountant, double clip_norm);

  double CountNoiseStddev(double expected_clients) const;
  // Epsilon after the released rounds plus `plan` (null: none).
  absl::StatusOr<double> EpsilonWith(const DpRoundPlan* plan) const;

  const DpConfig config_;
  double budget_;
  const double noise_multiplier_;
  NoiseSource rng_;
  RdpAccountant accountant_;
  std::vector<DpState::Step> ledger_;
  std::vector<double> distributed_rdp_;
  int64_t distributed_rounds_ = 0;
  double clip_norm_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_DP_PLANNER_H_
