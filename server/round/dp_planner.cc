#include "server/round/dp_planner.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/dp/distributed_dp_accounting.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool Finite(double x) { return std::isfinite(x); }

absl::StatusOr<double> DistributedEpsilon(const std::vector<double>& rdp,
                                          double delta) {
  ASSIGN_OR_RETURN(const EpsilonAndOrder e,
                   EpsilonFromRdp(DistributedDiscreteGaussianOrders(), rdp,
                                  delta, RdpConversion::kImproved));
  return e.epsilon;
}

}  // namespace

double DefaultCountNoiseStddev(double expected_clients, double z) {
  // Andrew et al. suggest expected/20. At large z that leaves the count too
  // little of the budget (2 sigma_b must exceed z, and the update's share
  // z_update = (z^-2 - (2 sigma_b)^-2)^(-1/2) blows up as 2 sigma_b -> z),
  // so never go below z: then z_update <= 1.155 z.
  return std::max(expected_clients / 20.0, z);
}

const char* DpModeName(DpConfig::Mode mode) {
  switch (mode) {
    case DpConfig::Mode::kOff:
      return "off";
    case DpConfig::Mode::kCentral:
      return "central";
    case DpConfig::Mode::kDistributed:
      return "distributed";
  }
  return "?";
}

absl::Status DpConfig::Validate(int num_rounds, bool secure_aggregation) const {
  if (!enabled()) return absl::OkStatus();
  if (mode == Mode::kDistributed && !secure_aggregation) {
    return absl::InvalidArgumentError(
        "dp.mode = \"distributed\" needs secure aggregation (each client's "
        "noise only protects it inside a sum): set secagg.enabled = true or "
        "use dp.mode = \"central\"");
  }
  if (!(sampling_rate > 0 && sampling_rate <= 1)) {
    return absl::InvalidArgumentError("dp.sampling_rate must be in (0, 1]");
  }
  if (!(delta > 0 && delta < 1)) {
    return absl::InvalidArgumentError("dp.delta must be in (0, 1)");
  }
  if (!(clip_norm > 0) || !Finite(clip_norm)) {
    return absl::InvalidArgumentError("dp.clip_norm must be positive");
  }
  if (!(noise_multiplier >= 0) || !Finite(noise_multiplier)) {
    return absl::InvalidArgumentError("dp.noise_multiplier must be >= 0");
  }
  if (!(target_epsilon >= 0) || !Finite(target_epsilon) ||
      !(epsilon_budget >= 0) || !Finite(epsilon_budget)) {
    return absl::InvalidArgumentError(
        "dp.target_epsilon and dp.epsilon_budget must be >= 0");
  }
  if (noise_multiplier == 0 && target_epsilon == 0) {
    return absl::InvalidArgumentError(
        "dp is on but has no noise: set dp.noise_multiplier, or "
        "dp.target_epsilon to have it calibrated for the run's rounds");
  }
  if (noise_multiplier > 0 && target_epsilon > 0) {
    return absl::InvalidArgumentError(
        "set either dp.noise_multiplier or dp.target_epsilon, not both");
  }
  if (!(target_unclipped_quantile > 0 && target_unclipped_quantile < 1)) {
    return absl::InvalidArgumentError(
        "dp.target_unclipped_quantile must be in (0, 1)");
  }
  if (!(clip_learning_rate > 0) || !Finite(clip_learning_rate)) {
    return absl::InvalidArgumentError("dp.clip_learning_rate must be positive");
  }
  if (!(count_noise_stddev >= 0) || !Finite(count_noise_stddev)) {
    return absl::InvalidArgumentError("dp.count_noise_stddev must be >= 0");
  }
  if (!(dropout_tolerance >= 0 && dropout_tolerance < 1)) {
    return absl::InvalidArgumentError("dp.dropout_tolerance must be in [0, 1)");
  }
  if (num_rounds < 1) {
    return absl::InvalidArgumentError("num_rounds must be >= 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DpPlanner>> DpPlanner::Create(
    const DpConfig& config, int num_rounds, bool secure_aggregation,
    const DpState& state) {
  RETURN_IF_ERROR(config.Validate(num_rounds, secure_aggregation));
  double z = config.noise_multiplier;
  if (z == 0) {
    absl::StatusOr<double> calibrated =
        config.mode == DpConfig::Mode::kDistributed
            ? CalibrateDistributedNoiseMultiplier(
                  config.target_epsilon, config.delta, config.sampling_rate,
                  num_rounds)
            : CalibrateNoiseMultiplier(config.target_epsilon, config.delta,
                                       config.sampling_rate, num_rounds);
    if (!calibrated.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot calibrate dp noise for epsilon ", config.target_epsilon,
          " over ", num_rounds, " rounds: ", calibrated.status().message()));
    }
    z = *calibrated;
  }
  ASSIGN_OR_RETURN(NoiseSource rng,
                   config.testing_seed
                       ? NoiseSource::FromSeedForTesting(*config.testing_seed)
                       : NoiseSource::FromOsEntropy());
  RdpAccountant accountant;
  for (const DpState::Step& step : state.ledger) {
    if (absl::Status s =
            accountant.AddSteps(step.sampling_rate, step.noise_multiplier,
                                static_cast<int>(step.count));
        !s.ok()) {
      return absl::DataLossError(absl::StrCat(
          "checkpointed privacy ledger is invalid: ", s.message()));
    }
  }
  const size_t orders = DistributedDiscreteGaussianOrders().size();
  if (state.distributed_rounds < 0 ||
      (state.distributed_rounds > 0 &&
       state.distributed_rdp.size() != orders) ||
      (state.distributed_rounds == 0 && !state.distributed_rdp.empty() &&
       state.distributed_rdp.size() != orders)) {
    return absl::DataLossError(
        "checkpointed distributed privacy ledger is invalid");
  }
  for (double r : state.distributed_rdp) {
    if (!(r >= 0)) {
      return absl::DataLossError(
          "checkpointed distributed privacy ledger is invalid");
    }
  }
  // The two modes keep their ledgers at different orders, so a run must be
  // continued in the mode it spent its budget in, or the spent part would
  // silently drop out of the total.
  if (config.mode == DpConfig::Mode::kDistributed && !state.ledger.empty()) {
    return absl::FailedPreconditionError(
        "this run released central-DP rounds; resume it with dp.mode = "
        "\"central\" (or start a new run)");
  }
  if (config.mode == DpConfig::Mode::kCentral && state.distributed_rounds > 0) {
    return absl::FailedPreconditionError(
        "this run released distributed-DP rounds; resume it with dp.mode = "
        "\"distributed\" (or start a new run)");
  }
  const double clip = state.clip_norm > 0 ? state.clip_norm : config.clip_norm;
  std::unique_ptr<DpPlanner> planner(
      new DpPlanner(config, z, std::move(rng), std::move(accountant), clip));
  planner->ledger_ = state.ledger;
  planner->distributed_rdp_ = state.distributed_rdp;
  if (planner->distributed_rdp_.empty())
    planner->distributed_rdp_.assign(orders, 0.0);
  planner->distributed_rounds_ = state.distributed_rounds;
  return planner;
}

DpPlanner::DpPlanner(const DpConfig& config, double z, NoiseSource rng,
                     RdpAccountant accountant, double clip_norm)
    : config_(config),
      budget_(config.epsilon_budget > 0 ? config.epsilon_budget
                                        : config.target_epsilon),
      noise_multiplier_(z),
      rng_(std::move(rng)),
      accountant_(std::move(accountant)),
      clip_norm_(clip_norm) {}

std::vector<std::string> DpPlanner::SampleCohort(
    const std::vector<std::string>& live) {
  std::vector<std::string> cohort;
  for (const std::string& id : live) {
    if (rng_.UniformOpen01() < config_.sampling_rate) cohort.push_back(id);
  }
  return cohort;
}

int64_t DpPlanner::RoundsReleased() const {
  int64_t n = distributed_rounds_;
  for (const DpState::Step& step : ledger_) n += step.count;
  return n;
}

absl::StatusOr<double> DpPlanner::EpsilonWith(const DpRoundPlan* plan) const {
  if (config_.mode == DpConfig::Mode::kDistributed) {
    std::vector<double> rdp = distributed_rdp_;
    if (plan != nullptr) {
      for (size_t i = 0; i < rdp.size(); ++i) rdp[i] += plan->round_rdp[i];
    }
    return DistributedEpsilon(rdp, config_.delta);
  }
  if (plan == nullptr) {
    ASSIGN_OR_RETURN(const RdpAccountant::Spent spent,
                     accountant_.GetPrivacySpent(config_.delta));
    return spent.epsilon;
  }
  return accountant_.EpsilonIfAdded(config_.sampling_rate, noise_multiplier_, 1,
                                    config_.delta);
}

double DpPlanner::EpsilonSpent() const {
  absl::StatusOr<double> e = EpsilonWith(nullptr);
  return e.ok() ? *e : kNaN;
}

absl::Status DpPlanner::CheckBudget(const DpRoundPlan& plan) const {
  if (budget_ <= 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(const double next, EpsilonWith(&plan));
  if (next > budget_) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "privacy budget reached: %d round(s) released at epsilon %.4f; one "
        "more would spend %.4f > budget %.4f (delta %g)",
        RoundsReleased(), EpsilonSpent(), next, budget_, config_.delta));
  }
  return absl::OkStatus();
}

double DpPlanner::CountNoiseStddev(double expected_clients) const {
  if (!config_.adaptive_clipping) return 0;
  return config_.count_noise_stddev > 0
             ? config_.count_noise_stddev
             : DefaultCountNoiseStddev(expected_clients, noise_multiplier_);
}

absl::StatusOr<DpRoundPlan> DpPlanner::PlanRound(int population,
                                                 int cohort_size,
                                                 int modulus_bits,
                                                 size_t dimension) {
  if (population < 1 || cohort_size < 1) {
    return absl::FailedPreconditionError("no clients to plan a round for");
  }
  DpRoundPlan plan;
  plan.expected_clients = config_.sampling_rate * population;
  const double z = noise_multiplier_;
  // Split z between the update and the count query (Andrew et al., Thm. 1):
  // z^-2 = z_update^-2 + (2 sigma_b)^-2.
  const double sigma_b = CountNoiseStddev(plan.expected_clients);
  double z_update = z;
  if (sigma_b > 0) {
    const double rest = 1.0 / (z * z) - 1.0 / (4.0 * sigma_b * sigma_b);
    if (!(rest > 0)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "adaptive clipping's count noise (sigma_b = %.3g) is too small for "
          "noise multiplier %.3g: need 2 sigma_b > z; raise "
          "dp.count_noise_stddev or sample more clients",
          sigma_b, z));
    }
    z_update = 1.0 / std::sqrt(rest);
  }
  plan.update_noise_stddev = z_update * clip_norm_;
  plan.indicator_noise_stddev = 2.0 * sigma_b;  // on the sum of +-1
  v1::DpTaskConfig& task = plan.task;
  task.set_clip_norm(clip_norm_);
  task.set_indicator_noise_stddev(plan.indicator_noise_stddev);
  if (config_.mode == DpConfig::Mode::kCentral) {
    task.set_mode(v1::DpTaskConfig::CENTRAL);
    plan.min_survivors = 1;
    return plan;
  }
  task.set_mode(v1::DpTaskConfig::DISTRIBUTED);
  plan.min_survivors =
      std::max(1, static_cast<int>(std::ceil((1.0 - config_.dropout_tolerance) *
                                             cohort_size)));
  task.set_noise_stddev(plan.update_noise_stddev);
  task.set_min_clients(plan.min_survivors);
  task.set_max_clients(cohort_size);
  task.set_modulus_bits(modulus_bits);
  std::string seed(32, '\0');
  for (size_t i = 0; i < seed.size(); i += 8) {
    const uint64_t w = rng_.NextU64();
    for (size_t k = 0; k < 8; ++k)
      seed[i + k] = static_cast<char>(w >> (8 * k));
  }
  task.set_rotation_seed(seed);

  // What this round costs, from the encoder the clients will build.
  ASSIGN_OR_RETURN(
      const PrivateInputCodec codec,
      PrivateInputCodec::Create(task, v1::SecAggEncoding(), dimension));
  const DistributedDpEncoder& encoder = *codec.distributed();
  DistributedDiscreteGaussian update;
  update.l2_sensitivity = encoder.l2_sensitivity();
  update.sigma = std::sqrt(encoder.client_noise_variance());
  update.num_clients = plan.min_survivors;
  update.dimension = static_cast<int64_t>(encoder.encoded_length());
  std::optional<DistributedDiscreteGaussian> count;
  if (codec.indicator_noise_variance() > 0) {
    count = DistributedDiscreteGaussian{};
    count->l2_sensitivity = codec.indicator_scale();
    count->sigma = std::sqrt(codec.indicator_noise_variance());
    count->num_clients = plan.min_survivors;
    count->dimension = 1;
  }
  // Both sums are released together: their unsampled RDPs add.
  const int max_order =
      static_cast<int>(DistributedDiscreteGaussianOrders().back());
  std::vector<double> curve(max_order + 1, 0.0);
  for (int l = 2; l <= max_order; ++l) {
    ASSIGN_OR_RETURN(curve[l], DistributedDiscreteGaussianRdp(update, l));
    if (count) {
      ASSIGN_OR_RETURN(const double c,
                       DistributedDiscreteGaussianRdp(*count, l));
      curve[l] += c;
    }
  }
  ASSIGN_OR_RETURN(plan.round_rdp, PoissonSubsampledRdpAtDdgOrders(
                                       curve, config_.sampling_rate));
  return plan;
}

absl::StatusOr<DpRelease> DpPlanner::Release(const DpRoundPlan& plan,
                                             PrivateSum sum, int participants) {
  if (config_.mode == DpConfig::Mode::kDistributed) {
    if (!sum.noised) {
      return absl::InternalError("distributed DP sum arrived without noise");
    }
    if (participants < plan.min_survivors) {
      return absl::FailedPreconditionError(absl::StrCat(
          participants, " clients' noise is in the sum, the round needs ",
          plan.min_survivors, " to carry its privacy noise; not released"));
    }
  } else {
    rng_.AddGaussian(absl::MakeSpan(sum.update_sum), plan.update_noise_stddev);
    if (plan.indicator_noise_stddev > 0) {
      sum.indicator_sum += rng_.Gaussian(plan.indicator_noise_stddev);
    }
  }
  if (config_.mode == DpConfig::Mode::kDistributed) {
    for (size_t i = 0; i < distributed_rdp_.size(); ++i) {
      distributed_rdp_[i] += plan.round_rdp[i];
    }
    ++distributed_rounds_;
  } else {
    RETURN_IF_ERROR(
        accountant_.AddSteps(config_.sampling_rate, noise_multiplier_, 1));
    if (!ledger_.empty() &&
        ledger_.back().sampling_rate == config_.sampling_rate &&
        ledger_.back().noise_multiplier == noise_multiplier_) {
      ++ledger_.back().count;
    } else {
      ledger_.push_back({config_.sampling_rate, noise_multiplier_, 1});
    }
  }
  DpRelease out;
  const float inv = static_cast<float>(1.0 / plan.expected_clients);
  out.mean_update = std::move(sum.update_sum);
  for (float& v : out.mean_update) v *= inv;
  ASSIGN_OR_RETURN(out.epsilon, EpsilonWith(nullptr));
  out.delta = config_.delta;
  out.clip_norm = clip_norm_;
  out.unclipped_fraction = kNaN;
  if (config_.adaptive_clipping) {
    // sum of (b_i - 1/2) = indicator_sum / 2; fixed denominator.
    const double fraction =
        0.5 + 0.5 * sum.indicator_sum / plan.expected_clients;
    out.unclipped_fraction = fraction;
    clip_norm_ *= std::exp(-config_.clip_learning_rate *
                           (fraction - config_.target_unclipped_quantile));
  }
  out.next_clip_norm = clip_norm_;
  return out;
}

DpState DpPlanner::state() const {
  DpState s;
  s.ledger = ledger_;
  if (distributed_rounds_ > 0) {
    s.distributed_rdp = distributed_rdp_;
    s.distributed_rounds = distributed_rounds_;
  }
  s.clip_norm = clip_norm_;
  return s;
}

}  // namespace fedlearn
