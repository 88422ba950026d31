#include "server/round/fedavg_aggregator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace fedlearn {

FedAvgAggregator::FedAvgAggregator(size_t dimension)
    : dimension_(dimension), sum_(dimension, 0.0) {}

absl::Status FedAvgAggregator::Add(absl::Span<const float> update,
                                   double weight) {
  if (update.size() != sum_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "update has ", update.size(), " values, model has ", sum_.size()));
  }
  if (!(weight > 0) || !std::isfinite(weight)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "update weight must be positive and finite, got ", weight));
  }
  // A plain loop the compiler vectorises: this runs at memory bandwidth.
  double* __restrict sum = sum_.data();
  const float* __restrict x = update.data();
  const size_t n = sum_.size();
  for (size_t i = 0; i < n; ++i) sum[i] += weight * static_cast<double>(x[i]);
  total_weight_ += weight;
  ++count_;
  return absl::OkStatus();
}

absl::StatusOr<FlatVector> FedAvgAggregator::WeightedMean() const {
  if (count_ == 0) {
    return absl::FailedPreconditionError("no updates to average");
  }
  FlatVector mean(sum_.size());
  const double inv = 1.0 / total_weight_;
  for (size_t i = 0; i < sum_.size(); ++i) {
    mean[i] = static_cast<float>(sum_[i] * inv);
  }
  return mean;
}

absl::Status FedAvgAggregator::AddWeightedMeanTo(absl::Span<float> target,
                                                 double scale) const {
  if (count_ == 0) {
    return absl::FailedPreconditionError("no updates to average");
  }
  if (target.size() != sum_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target has ", target.size(), " values, aggregate has ", sum_.size()));
  }
  const double factor = scale / total_weight_;
  for (size_t i = 0; i < sum_.size(); ++i) {
    target[i] = static_cast<float>(target[i] + factor * sum_[i]);
  }
  return absl::OkStatus();
}

std::vector<float> FedAvgAggregator::TakeSum() {
  std::vector<float> taken(sum_.begin(), sum_.end());
  sum_.clear();
  sum_.shrink_to_fit();
  total_weight_ = 0.0;
  count_ = 0;
  return taken;
}

absl::StatusOr<std::vector<float>> FedAvgAggregator::TakeMean() {
  if (count_ == 0) {
    return absl::FailedPreconditionError("no updates to average");
  }
  const double inv = 1.0 / total_weight_;
  std::vector<float> mean(sum_.size());
  for (size_t i = 0; i < sum_.size(); ++i) {
    mean[i] = static_cast<float>(sum_[i] * inv);
  }
  TakeSum();
  return mean;
}

void FedAvgAggregator::Reset() {
  sum_.assign(dimension_, 0.0);
  total_weight_ = 0.0;
  count_ = 0;
}

}  // namespace fedlearn
