#include "server/strategy/fedadam.h"

#include <cmath>

namespace fedlearn {

double FedAdamOptimizer::StepSize(uint64_t t) const {
  if (bias_correction_ == BiasCorrection::kNone) return params_.eta;
  const double exponent = static_cast<double>(t) +
                          (bias_correction_ == BiasCorrection::kFlower ? 1 : 0);
  return params_.eta * std::sqrt(1.0 - std::pow(params_.beta_2, exponent)) /
         (1.0 - std::pow(params_.beta_1, exponent));
}

}  // namespace fedlearn
