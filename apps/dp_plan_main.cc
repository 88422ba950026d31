// fedlearn-dp: plans differential-privacy noise for federated rounds with the
// Renyi-DP accountant of common/dp/rdp_accountant.h: every client is sampled
// independently with probability q per round (Poisson), the clipped sum gets
// Gaussian noise of stddev z * clip_norm, and (eps, delta) comes from the
// improved RDP conversion over Opacus's default orders. With --mode
// distributed it plans as the coordinator accounts distributed-DP rounds
// (common/dp/distributed_dp_accounting.h: the discrete Gaussian sum with
// Zhu-Wang subsampling), which needs more noise for the same epsilon.
//
//   fedlearn-dp calibrate --epsilon 3 --delta 1e-6 --rounds 1000
//       --clients-per-round 100 --population 10000 --clip-norm 1.0
//   fedlearn-dp epsilon --noise-multiplier 1.1 --delta 1e-5 --rounds 1000
//       --sampling-rate 0.01 --table
//
// Output is one "key: value" per line (a table with --table); errors go to
// stderr with a non-zero exit status.
#include <cmath>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/dp/distributed_dp_accounting.h"
#include "common/dp/rdp_accountant.h"
#include "common/util/status_macros.h"
#include "common/util/version.h"

namespace fedlearn {
namespace {

// Flags shared by both subcommands.
struct PlanFlags {
  double delta = 0;
  int rounds = 0;
  std::optional<double> sampling_rate;
  std::optional<int64_t> clients_per_round;
  std::optional<int64_t> population;
  std::optional<double> clip_norm;
  bool table = false;
  std::string mode = "central";
};

// The validated plan: sampling rate and, when known, the population.
struct Plan {
  double delta;
  int rounds;
  double q;
  std::optional<int64_t> population;
  std::optional<double> clip_norm;
  bool distributed = false;
};

int Fail(const absl::Status& status) {
  std::cerr << "fedlearn-dp: " << status.message() << "\n";
  return 1;
}

absl::StatusOr<Plan> Validate(const PlanFlags& f) {
  if (!(f.delta > 0.0 && f.delta < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--delta must be in (0, 1), got ", f.delta));
  }
  if (f.rounds < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rounds must be >= 1, got ", f.rounds));
  }
  Plan plan{f.delta,      f.rounds,    0.0,
            f.population, f.clip_norm, f.mode == "distributed"};
  if (f.population.has_value() && *f.population < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--population must be >= 1, got ", *f.population));
  }
  if (f.sampling_rate.has_value()) {
    if (!(*f.sampling_rate > 0.0 && *f.sampling_rate <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--sampling-rate must be in (0, 1], got ", *f.sampling_rate));
    }
    plan.q = *f.sampling_rate;
  } else if (f.clients_per_round.has_value()) {
    if (!f.population.has_value()) {
      return absl::InvalidArgumentError(
          "--clients-per-round needs --population");
    }
    if (*f.clients_per_round < 1 || *f.clients_per_round > *f.population) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--clients-per-round must be in [1, --population = ", *f.population,
          "], got ", *f.clients_per_round));
    }
    plan.q = static_cast<double>(*f.clients_per_round) /
             static_cast<double>(*f.population);
  } else {
    return absl::InvalidArgumentError(
        "give --sampling-rate, or --clients-per-round with --population");
  }
  if (f.clip_norm.has_value()) {
    if (!(*f.clip_norm > 0.0) || !std::isfinite(*f.clip_norm)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--clip-norm must be finite and > 0, got ", *f.clip_norm));
    }
    if (!f.population.has_value()) {
      return absl::InvalidArgumentError(
          "--clip-norm needs --population (the noise on the average is "
          "z * clip / (q * population))");
    }
  }
  return plan;
}

absl::StatusOr<RdpAccountant::Spent> Spend(const Plan& plan, double z,
                                           int rounds,
                                           RdpConversion conversion) {
  if (plan.distributed) {
    ASSIGN_OR_RETURN(EpsilonAndOrder e, DistributedGaussianShapedEpsilon(
                                            z, plan.q, rounds, plan.delta));
    return RdpAccountant::Spent{e.epsilon, e.order};
  }
  const double q = plan.q, delta = plan.delta;
  RdpAccountant acc;
  RETURN_IF_ERROR(acc.AddSteps(q, z, rounds));
  return acc.GetPrivacySpent(delta, conversion);
}

void PrintPlan(const Plan& plan, double z, const RdpAccountant::Spent& spent) {
  std::cout << absl::StrFormat("mode: %s\n",
                               plan.distributed ? "distributed" : "central")
            << absl::StrFormat("sampling_rate: %.8g\n", plan.q);
  if (plan.population.has_value()) {
    std::cout << absl::StrFormat("expected_clients_per_round: %.8g\n",
                                 plan.q * *plan.population);
  }
  std::cout << absl::StrFormat("rounds: %d\ndelta: %g\n", plan.rounds,
                               plan.delta)
            << absl::StrFormat("noise_multiplier: %.8g\n", z)
            << absl::StrFormat("epsilon: %.8g\n", spent.epsilon)
            << absl::StrFormat("optimal_order: %g\n", spent.order);
  if (plan.clip_norm.has_value()) {
    const double on_sum = z * *plan.clip_norm;
    std::cout << absl::StrFormat("clip_norm: %g\n", *plan.clip_norm)
              << absl::StrFormat("noise_stddev_on_sum: %.8g\n", on_sum)
              << absl::StrFormat("noise_stddev_on_average: %.8g\n",
                                 on_sum / (plan.q * *plan.population));
  }
}

// eps after rounds 1, 2, 5, 10, 20, 50, ... and after plan.rounds.
absl::Status PrintTable(const Plan& plan, double z, RdpConversion conversion) {
  std::vector<int64_t> marks;
  for (int64_t decade = 1; decade <= plan.rounds; decade *= 10) {
    for (int64_t m : {1, 2, 5}) {
      if (m * decade < plan.rounds) marks.push_back(m * decade);
    }
    if (decade > INT64_MAX / 10) break;
  }
  marks.push_back(plan.rounds);
  std::cout << absl::StrFormat("%10s  %14s  %13s\n", "rounds", "epsilon",
                               "optimal_order");
  for (int64_t mark : marks) {
    ASSIGN_OR_RETURN(RdpAccountant::Spent spent,
                     Spend(plan, z, static_cast<int>(mark), conversion));
    std::cout << absl::StrFormat("%10d  %14.8g  %13g\n", mark, spent.epsilon,
                                 spent.order);
  }
  return absl::OkStatus();
}

int RunCalibrate(const PlanFlags& flags, double target_epsilon) {
  absl::StatusOr<Plan> plan = Validate(flags);
  if (!plan.ok()) return Fail(plan.status());
  if (!(target_epsilon > 0.0) || !std::isfinite(target_epsilon)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--epsilon must be finite and > 0, got ", target_epsilon)));
  }
  absl::StatusOr<double> z =
      plan->distributed
          ? CalibrateDistributedNoiseMultiplier(target_epsilon, plan->delta,
                                                plan->q, plan->rounds)
          : CalibrateNoiseMultiplier(target_epsilon, plan->delta, plan->q,
                                     plan->rounds);
  if (!z.ok()) return Fail(z.status());
  absl::StatusOr<RdpAccountant::Spent> spent =
      Spend(*plan, *z, plan->rounds, RdpConversion::kImproved);
  if (!spent.ok()) return Fail(spent.status());
  std::cout << absl::StrFormat("target_epsilon: %g\n", target_epsilon);
  PrintPlan(*plan, *z, *spent);
  if (flags.table) {
    if (absl::Status s = PrintTable(*plan, *z, RdpConversion::kImproved);
        !s.ok()) {
      return Fail(s);
    }
  }
  return 0;
}

int RunEpsilon(const PlanFlags& flags, double z, const std::string& conv) {
  absl::StatusOr<Plan> plan = Validate(flags);
  if (!plan.ok()) return Fail(plan.status());
  if (!(z > 0.0) || !std::isfinite(z)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--noise-multiplier must be finite and > 0, got ", z)));
  }
  const RdpConversion conversion =
      conv == "classic" ? RdpConversion::kClassic : RdpConversion::kImproved;
  if (plan->distributed && conversion == RdpConversion::kClassic) {
    return Fail(absl::InvalidArgumentError(
        "--conversion classic is for reproducing published central-DP "
        "numbers; distributed rounds use the improved conversion"));
  }
  absl::StatusOr<RdpAccountant::Spent> spent =
      Spend(*plan, z, plan->rounds, conversion);
  if (!spent.ok()) return Fail(spent.status());
  PrintPlan(*plan, z, *spent);
  if (flags.table) {
    if (absl::Status s = PrintTable(*plan, z, conversion); !s.ok()) {
      return Fail(s);
    }
  }
  return 0;
}

void AddPlanFlags(CLI::App* cmd, PlanFlags* f) {
  cmd->add_option("--delta", f->delta, "Target delta, in (0, 1)")->required();
  cmd->add_option("--rounds", f->rounds, "Number of rounds (>= 1)")->required();
  CLI::Option* rate = cmd->add_option(
      "--sampling-rate", f->sampling_rate,
      "Probability q that a client takes part in a round (Poisson)");
  CLI::Option* k =
      cmd->add_option("--clients-per-round", f->clients_per_round,
                      "Expected clients per round; q = this / --population");
  rate->excludes(k);
  cmd->add_option("--population", f->population,
                  "Number of clients that may be sampled");
  cmd->add_option("--clip-norm", f->clip_norm,
                  "L2 clip norm C: also print the noise stddev on the sum "
                  "(z C) and on the average (z C / (q population))");
  cmd->add_option("--mode", f->mode,
                  "central (Gaussian, coordinator adds noise) or distributed "
                  "(discrete Gaussian inside secure aggregation)")
      ->check(CLI::IsMember({"central", "distributed"}))
      ->capture_default_str();
  cmd->add_flag("--table", f->table,
                "Also print epsilon after rounds 1, 2, 5, 10, 20, 50, ...");
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  CLI::App app{
      "Plans differential-privacy noise for fedlearn rounds (Renyi DP of the "
      "Poisson-sampled Gaussian mechanism)."};
  app.set_version_flag("--version", fedlearn::VersionLine("dp"));
  app.require_subcommand(1);

  fedlearn::PlanFlags calibrate_flags;
  double target_epsilon = 0;
  CLI::App* calibrate = app.add_subcommand(
      "calibrate",
      "Smallest noise multiplier reaching (--epsilon, --delta) after --rounds");
  calibrate->add_option("--epsilon", target_epsilon, "Target epsilon (> 0)")
      ->required();
  fedlearn::AddPlanFlags(calibrate, &calibrate_flags);

  fedlearn::PlanFlags epsilon_flags;
  double noise_multiplier = 0;
  std::string conversion = "improved";
  CLI::App* epsilon = app.add_subcommand(
      "epsilon", "Epsilon spent after --rounds at a given noise multiplier");
  epsilon
      ->add_option("--noise-multiplier", noise_multiplier,
                   "Noise stddev / clip norm (> 0)")
      ->required();
  epsilon
      ->add_option("--conversion", conversion,
                   "RDP -> (eps, delta): improved (Balle et al. 2020, as TF "
                   "Privacy and Opacus today) or classic (Mironov 2017)")
      ->check(CLI::IsMember({"improved", "classic"}))
      ->capture_default_str();
  fedlearn::AddPlanFlags(epsilon, &epsilon_flags);

  CLI11_PARSE(app, argc, argv);

  if (*calibrate)
    return fedlearn::RunCalibrate(calibrate_flags, target_epsilon);
  return fedlearn::RunEpsilon(epsilon_flags, noise_multiplier, conversion);
}
