#include "apps/simulation/synthetic_sites.h"

#include <chrono>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "common/wire/proto_conversion.h"

namespace fedlearn {

SyntheticUpdateTrainer::SyntheticUpdateTrainer(ModelSpec spec,
                                               SyntheticUpdates options,
                                               int client)
    : spec_(std::move(spec)), options_(options), client_(client) {}

absl::StatusOr<TrainingResult> SyntheticUpdateTrainer::Train(
    const FlatVector& global, const TrainingConfig& config,
    const std::atomic<bool>& cancel) {
  const auto started = std::chrono::steady_clock::now();
  const size_t n = static_cast<size_t>(spec_.NumElements());
  if (global.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic update: the task's model has ", global.size(),
                     " values, the contract's spec ", n));
  }
  if (cancel.load()) return absl::CancelledError("training cancelled");
  TrainingResult result;
  result.delta = FlatVector(n);
  if (options_.fixed_value != 0.0f) {
    for (size_t i = 0; i < n; ++i) result.delta[i] = options_.fixed_value;
  } else {
    // splitmix-style mixing keeps nearby clients' streams apart.
    std::mt19937_64 rng(options_.seed * 0x9E3779B97F4A7C15ull ^
                        (static_cast<uint64_t>(client_) + 1) *
                            0xBF58476D1CE4E5B9ull ^
                        config.seed);
    std::uniform_real_distribution<float> value(-options_.scale,
                                                options_.scale);
    for (size_t i = 0; i < n; ++i) result.delta[i] = value(rng);
  }
  result.num_examples = options_.num_examples;
  result.train_loss = 0.0;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  return result;
}

absl::StatusOr<LocalTrainer*> SyntheticSitePreparer::Prepare(
    const v1::RunContract& contract) {
  ASSIGN_OR_RETURN(ModelSpec spec, FromProto(contract.model().spec()));
  if (spec.NumElements() <= 0) {
    return absl::FailedPreconditionError(
        "synthetic updates: the run's contract declares no model tensors");
  }
  trainer_ = std::make_unique<SyntheticUpdateTrainer>(std::move(spec), options_,
                                                      client_);
  return trainer_.get();
}

VirtualSites SyntheticVirtualSites(const SyntheticUpdates& options,
                                   ClientRange range) {
  VirtualSites sites;
  for (int i = range.begin; i < range.end; ++i) {
    sites.preparers.push_back(
        std::make_unique<SyntheticSitePreparer>(options, i));
  }
  return sites;
}

}  // namespace fedlearn
