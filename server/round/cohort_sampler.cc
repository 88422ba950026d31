#include "server/round/cohort_sampler.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"

namespace fedlearn {

CohortSampler::CohortSampler(Options options, DpPlanner* dp)
    : options_(options), dp_(dp) {}

size_t CohortSampler::FixedSize(size_t live) const {
  const size_t k =
      options_.clients_per_round > 0
          ? static_cast<size_t>(options_.clients_per_round)
          : static_cast<size_t>(std::ceil(options_.fraction * live));
  return std::clamp<size_t>(k, 1, live);
}

absl::Status CohortSampler::CheckCanReach(size_t live, int min_updates) const {
  if (dp_ != nullptr) return absl::OkStatus();
  const size_t k = FixedSize(live);
  if (static_cast<int>(k) < min_updates) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sampling ", k, " cannot reach min_updates ", min_updates));
  }
  return absl::OkStatus();
}

std::vector<std::string> CohortSampler::Sample(std::vector<std::string> live,
                                               uint64_t round, int attempt) {
  if (dp_ != nullptr) return dp_->SampleCohort(live);
  const size_t k = FixedSize(live.size());
  std::mt19937_64 rng(options_.seed ^ (round << 20) ^ uint64_t(attempt));
  std::shuffle(live.begin(), live.end(), rng);
  live.resize(k);
  return live;
}

}  // namespace fedlearn
