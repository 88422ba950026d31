#include "common/dp/distributed_dp_encoding.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using uint128_t = unsigned __int128;

constexpr double kPi = 3.14159265358979323846;
// Relative slack on the input norm (float clipping is not exact).
constexpr double kNormTolerance = 1e-6;
// Create refuses when KLS21's tau d / 2 term exceeds this fraction of
// 1 / z_eff^2 (see the header).
constexpr double kMaxTauShare = 1e-6;

absl::Status Refuse(std::string_view knob, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "DistributedDpEncoder: ", absl::string_view(knob.data(), knob.size()),
      " ", absl::string_view(why.data(), why.size())));
}

// The sizing functions of the header, as functions of c = C / gamma.
struct Sizing {
  double d;  // padded dimension
  double z;  // noise multiplier noise_stddev / C
  double n_min;
  double n_max;
  double k;         // range_stddevs
  double limit;     // 2^(b-1) - 1
  double root_log;  // sqrt(2 ln(1/beta))

  // KLS21 Thm. 2: Delta_2^2.
  double Delta2Sq(double c) const {
    const double sqrt_d = std::sqrt(d);
    return std::min(c * c + d / 4 + root_log * (c + sqrt_d / 2),
                    (c + sqrt_d) * (c + sqrt_d));
  }
  // (N1).
  double ClientSigma(double c) const {
    return z * std::sqrt(Delta2Sq(c)) / std::sqrt(n_min);
  }
  // (R1)-(R2) with per-client noise variance v.
  bool Fits(double c, double v) const {
    const double tau_sq = n_max * n_max * c * c / d + n_max * v;
    return k * std::sqrt(tau_sq) + n_max <= limit;
  }
  bool Admissible(double c) const {
    const double sigma = ClientSigma(c);
    return sigma <= DistributedDpEncoder::kMaxClientNoiseStddev &&
           Fits(c, sigma * sigma);
  }
};

// Every knob of `p` within its documented range (the header's refusals).
absl::Status ValidateParameters(const DistributedDpParameters& p) {
  if (p.dimension < 1 || p.dimension > RandomizedHadamard::kMaxDimension) {
    return Refuse("dimension",
                  absl::StrCat("= ", p.dimension, " outside [1, ",
                               RandomizedHadamard::kMaxDimension, "]"));
  }
  if (p.modulus_bits < 2 || p.modulus_bits > 32) {
    return Refuse("modulus_bits",
                  absl::StrCat("= ", p.modulus_bits, " outside [2, 32]"));
  }
  if (!std::isfinite(p.clip_norm) || p.clip_norm <= 0) {
    return Refuse("clip_norm",
                  absl::StrCat("= ", p.clip_norm, " must be finite and > 0"));
  }
  if (!std::isfinite(p.noise_stddev) || p.noise_stddev < 0) {
    return Refuse("noise_stddev", absl::StrCat("= ", p.noise_stddev,
                                               " must be finite and >= 0"));
  }
  if (p.min_clients < 1) {
    return Refuse("min_clients", absl::StrCat("= ", p.min_clients, " < 1"));
  }
  if (p.max_clients < p.min_clients) {
    return Refuse(
        "max_clients",
        absl::StrCat("= ", p.max_clients, " < min_clients = ", p.min_clients));
  }
  if (!(p.beta > 0 && p.beta < 1)) {
    return Refuse("beta", absl::StrCat("= ", p.beta, " outside (0, 1)"));
  }
  if (!std::isfinite(p.range_stddevs) || p.range_stddevs <= 0) {
    return Refuse("range_stddevs", absl::StrCat("= ", p.range_stddevs,
                                                " must be finite and > 0"));
  }
  return absl::OkStatus();
}

// REQUIRES: ValidateParameters(p) is OK.
Sizing SizingFor(const DistributedDpParameters& p, size_t padded_dimension) {
  Sizing s;
  s.d = static_cast<double>(padded_dimension);
  s.z = p.noise_stddev / p.clip_norm;
  s.n_min = p.min_clients;
  s.n_max = p.max_clients;
  s.k = p.range_stddevs;
  s.limit = std::ldexp(1.0, p.modulus_bits - 1) - 1;
  s.root_log = std::sqrt(2 * std::log(1 / p.beta));
  return s;
}

// The refusal when no granularity with c >= c_min = sqrt(d) fits (R2).
absl::Status TooFewBits(const DistributedDpParameters& p, const Sizing& s,
                        double c_min) {
  return Refuse(
      "modulus_bits",
      absl::StrCat(
          "= ", p.modulus_bits, " cannot hold the sum of max_clients = ",
          p.max_clients, " updates of padded dimension ", s.d,
          " with range_stddevs = ", p.range_stddevs, " and noise multiplier ",
          s.z,
          " at a granularity where rounding is negligible (C / gamma >= "
          "sqrt(d) = ",
          c_min, "): raise modulus_bits or lower max_clients"));
}

// The granularity search: the largest admissible c, by bisection.
// REQUIRES: s.Admissible(c_min).
double FinestAdmissibleClip(const Sizing& s, double c_min) {
  // At hi the signal term alone reaches the limit, so hi is not admissible.
  double lo = c_min;
  double hi = s.limit * std::sqrt(s.d) / (s.k * s.n_max);
  for (int i = 0; i < 200 && hi - lo > 1e-13 * lo; ++i) {
    const double mid = lo + (hi - lo) / 2;
    if (s.Admissible(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// What the encoder is built from once gamma is fixed.
struct FittedEncoding {
  double gamma = 0;
  double delta2_sq = 0;
  std::optional<DiscreteGaussianSampler> noise;  // None without noise.
};

// The per-client sampler for sensitivity Delta_2^2 = delta2_sq: (N1)'s
// sigma_int, rounded up to an exactly sampled variance; none without noise.
absl::StatusOr<std::optional<DiscreteGaussianSampler>> SamplerFor(
    const Sizing& s, double delta2_sq) {
  if (s.z <= 0) return std::optional<DiscreteGaussianSampler>();
  const double sigma = s.z * std::sqrt(delta2_sq) / std::sqrt(s.n_min);
  absl::StatusOr<DiscreteGaussianSampler> sampler =
      DiscreteGaussianSampler::CreateAtLeast(sigma);
  if (!sampler.ok()) {
    return Refuse("noise_stddev",
                  absl::StrCat("gives a per-client discrete Gaussian "
                               "stddev the sampler refuses: ",
                               sampler.status().message()));
  }
  return std::optional<DiscreteGaussianSampler>(*std::move(sampler));
}

// Fixes gamma from the bisection's c = `c_fit`, then re-derives everything
// from c = C / gamma as the encoder will use it, with the sampler's exact
// (rounded-up) variance; steps back a hair if that rounding broke (R2).
// Refuses when KLS21 Thm. 1's tau term is not negligible (see the header).
absl::StatusOr<FittedEncoding> FitSampler(const DistributedDpParameters& p,
                                          const Sizing& s, double c_min,
                                          double c_fit) {
  for (int attempt = 0; attempt < 60; ++attempt) {
    FittedEncoding fit;
    fit.gamma = p.clip_norm / c_fit;
    const double c = p.clip_norm / fit.gamma;
    if (c < c_min) break;
    fit.delta2_sq = s.Delta2Sq(c);
    ASSIGN_OR_RETURN(fit.noise, SamplerFor(s, fit.delta2_sq));
    const double v = fit.noise ? fit.noise->variance() : 0.0;
    if (!s.Fits(c, v)) {
      c_fit *= 1 - std::ldexp(1e-12, attempt);
      continue;
    }
    if (s.z > 0) {
      const double tau = 10 * (s.n_min - 1) * std::exp(-kPi * kPi * v);
      const double inverse_z_eff_sq = fit.delta2_sq / (s.n_min * v);
      if (tau * s.d / 2 > kMaxTauShare * inverse_z_eff_sq) {
        return Refuse("noise_stddev",
                      absl::StrCat("= ", p.noise_stddev,
                                   " gives a per-client stddev ", std::sqrt(v),
                                   " integer units, too small for the sum of ",
                                   p.min_clients,
                                   " discrete Gaussians to be accounted as one "
                                   "Gaussian: raise noise_stddev or lower "
                                   "min_clients"));
      }
    }
    return fit;
  }
  return TooFewBits(p, s, c_min);
}

}  // namespace

DistributedDpEncoder::DistributedDpEncoder(
    RandomizedHadamard rotation, int modulus_bits, double clip_norm,
    int min_clients, double gamma, double delta2_sq,
    std::optional<DiscreteGaussianSampler> noise)
    : rotation_(std::move(rotation)),
      modulus_bits_(modulus_bits),
      clip_norm_(clip_norm),
      min_clients_(min_clients),
      gamma_(gamma),
      scaled_clip_(clip_norm / gamma),
      l2_sensitivity_(std::sqrt(delta2_sq)),
      delta2_sq_floor_(static_cast<uint128_t>(std::floor(delta2_sq))),
      noise_(std::move(noise)) {}

absl::StatusOr<DistributedDpEncoder> DistributedDpEncoder::Create(
    const DistributedDpParameters& p) {
  RETURN_IF_ERROR(ValidateParameters(p));
  ASSIGN_OR_RETURN(RandomizedHadamard rotation,
                   RandomizedHadamard::Create(p.dimension, p.rotation_seed));
  const Sizing s = SizingFor(p, rotation.padded_dimension());
  // The coarsest granularity we accept: c >= sqrt(d).
  const double c_min = std::sqrt(s.d);
  if (!s.Admissible(c_min)) return TooFewBits(p, s, c_min);
  ASSIGN_OR_RETURN(FittedEncoding fit,
                   FitSampler(p, s, c_min, FinestAdmissibleClip(s, c_min)));
  return DistributedDpEncoder(std::move(rotation), p.modulus_bits, p.clip_norm,
                              p.min_clients, fit.gamma, fit.delta2_sq,
                              std::move(fit.noise));
}

double DistributedDpEncoder::effective_noise_multiplier() const {
  return std::sqrt(min_clients_ * client_noise_variance()) / l2_sensitivity_;
}

absl::StatusOr<std::vector<uint32_t>> DistributedDpEncoder::Encode(
    absl::Span<const float> update, NoiseSource& rng) const {
  if (update.size() != dimension()) {
    return absl::InvalidArgumentError(
        absl::StrCat("DistributedDpEncoder::Encode: update has ", update.size(),
                     " values, want ", dimension()));
  }
  double norm_sq = 0;
  for (float x : update) {
    if (!std::isfinite(x)) {
      return absl::InvalidArgumentError(
          "DistributedDpEncoder::Encode: the update has a non-finite value");
    }
    norm_sq += static_cast<double>(x) * x;
  }
  const double norm = std::sqrt(norm_sq);
  if (norm > clip_norm_ * (1 + kNormTolerance)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DistributedDpEncoder::Encode: update norm ", norm,
        " exceeds clip_norm ", clip_norm_, "; clip before encoding"));
  }

  const size_t d = encoded_length();
  std::vector<double> y(d);
  RETURN_IF_ERROR(rotation_.Rotate(update, absl::MakeSpan(y)));
  // y = U x / gamma, projected onto the c-ball if x was within the tolerance
  // but outside the C-ball.
  double scale = 1 / gamma_;
  if (norm > clip_norm_) scale *= clip_norm_ / norm;
  for (double& v : y) v *= scale;

  // Conditional randomized rounding (KLS21 Alg. 1, step 3). Each attempt
  // draws fresh coins for every coordinate; y_j - floor(y_j) is exact in
  // double for |y_j| < 2^52.
  std::vector<int64_t> rounded(d);
  bool accepted = false;
  for (int attempt = 0; attempt < kMaxRoundingAttempts && !accepted;
       ++attempt) {
    uint128_t sq = 0;
    for (size_t j = 0; j < d; ++j) {
      const double f = std::floor(y[j]);
      const int64_t r =
          static_cast<int64_t>(f) + (rng.UniformOpen01() < y[j] - f ? 1 : 0);
      rounded[j] = r;
      const uint64_t a = static_cast<uint64_t>(r < 0 ? -r : r);
      sq += static_cast<uint128_t>(a) * a;
    }
    accepted = sq <= delta2_sq_floor_;
  }
  if (!accepted) {
    return absl::InternalError(absl::StrCat(
        "DistributedDpEncoder::Encode: conditional rounding failed ",
        kMaxRoundingAttempts, " times"));
  }

  if (noise_) noise_->AddTo(absl::MakeSpan(rounded), rng);

  const uint64_t mask = (uint64_t{1} << modulus_bits_) - 1;
  std::vector<uint32_t> out(d);
  for (size_t j = 0; j < d; ++j) {
    out[j] = static_cast<uint32_t>(static_cast<uint64_t>(rounded[j]) & mask);
  }
  return out;
}

absl::StatusOr<std::vector<float>> DistributedDpEncoder::DecodeSum(
    absl::Span<const uint32_t> sum) const {
  const size_t d = encoded_length();
  if (sum.size() != d) {
    return absl::InvalidArgumentError(
        absl::StrCat("DistributedDpEncoder::DecodeSum: sum has ", sum.size(),
                     " values, want ", d));
  }
  const int64_t modulus = int64_t{1} << modulus_bits_;
  const int64_t half = modulus / 2;
  std::vector<double> lifted(d);
  for (size_t j = 0; j < d; ++j) {
    const int64_t s = sum[j];
    if (s >= modulus) {
      return absl::InvalidArgumentError(
          absl::StrCat("DistributedDpEncoder::DecodeSum: value ", s, " at ", j,
                       " is not below 2^", modulus_bits_));
    }
    lifted[j] = static_cast<double>(s >= half ? s - modulus : s) * gamma_;
  }
  std::vector<float> out(dimension());
  RETURN_IF_ERROR(
      rotation_.InverseRotate(absl::MakeSpan(lifted), absl::MakeSpan(out)));
  return out;
}

}  // namespace fedlearn
