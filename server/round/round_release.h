// The one close path every round takes, whatever collected it: the
// attempt's aggregate becomes the next global model and the round's
// summary.
//
//   next = ServerOptimizer::Step(global, update)
//        = global + server_learning_rate * update    (FedAvg, the default)
//
// where the update is the aggregate's weighted mean, or in DP rounds what
// the DpPlanner releases from the private sum (noised, divided by the fixed
// denominator, charged to the accountant): every server optimizer is
// post-processing of that mean (server/strategy/server_optimizer.h). The
// summary is filled here and nowhere else (the engine adds only the
// evaluation and the elapsed time, which are measured after release).
//
// Refuses (and charges nothing): a DP release the planner refuses, e.g. a
// distributed sum carrying too few clients' noise. Refuses (OutOfRange) a
// next model with a value that is not finite: it is never released, so never
// saved or built upon (a DP round's budget is then charged, which only
// overstates what was spent). The engine retries the round either way.
// Stateless apart from the DpPlanner and optimizer it is given;
// thread-compatible.
#ifndef FEDLEARN_SERVER_ROUND_ROUND_RELEASE_H_
#define FEDLEARN_SERVER_ROUND_ROUND_RELEASE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/flat/flat_vector.h"
#include "server/round/dp_planner.h"
#include "server/round/round_collector.h"
#include "server/round/round_types.h"
#include "server/strategy/server_optimizer.h"

namespace fedlearn {

// What to change when a DP round may not be released.
inline constexpr char kDpReleaseAdvice[] =
    "raise dp.dropout_tolerance or secagg.phase_timeout_s, or add clients";

// What to change when the aggregated model is not finite.
inline constexpr char kNonFiniteModelAdvice[] =
    "lower rounds.max_update_l2_norm, rounds.server_learning_rate or "
    "strategy.eta";

// The advice for a failed ReleaseRound().
const char* ReleaseFailureAdvice(const absl::Status& failure);

struct ReleaseContext {
  std::string run_id;
  uint64_t round = 0;
  int attempt = 0;
  double server_learning_rate = 1.0;
  // DP rounds: the planner and this round's plan (both null otherwise).
  DpPlanner* dp = nullptr;
  const DpRoundPlan* dp_plan = nullptr;
  std::vector<DepartedClient> failed_sites;
  // The run's server optimizer (stepped on success); null: FedAvg with
  // server_learning_rate.
  ServerOptimizer* optimizer = nullptr;
};

struct ReleasedRound {
  FlatModel next;
  RoundSummary summary;
};

// REQUIRES: the aggregate holds a private sum iff `context.dp` is set, and
// its update has `global`'s size (q-FFL: one more value, its denominator;
// server/strategy/qffl.h).
absl::StatusOr<ReleasedRound> ReleaseRound(RoundAggregate aggregate,
                                           const FlatModel& global,
                                           ReleaseContext context);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROUND_RELEASE_H_
