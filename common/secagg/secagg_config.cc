#include "common/secagg/secagg_config.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

bool IsValidClientId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  };
  if (!alnum(id[0])) return false;
  for (char c : id) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> NewSecAggSessionId(SecurePrng& prng) {
  std::string id(kSecAggSessionIdBytes, '\0');
  RETURN_IF_ERROR(prng.Fill(
      absl::MakeSpan(reinterpret_cast<uint8_t*>(id.data()), id.size())));
  return id;
}

absl::StatusOr<SecAggParameters> SecAggParameters::FromProto(
    const v1::SecAggConfig& config) {
  if (config.session_id().size() != kSecAggSessionIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("session_id must be ", kSecAggSessionIdBytes,
                     " bytes, got ", config.session_id().size()));
  }
  const int n = config.cohort_size();
  if (n < kSecAggMinClients) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cohort has ", n, " clients, secure aggregation needs at least ",
        kSecAggMinClients));
  }
  for (int i = 0; i < n; ++i) {
    if (!IsValidClientId(config.cohort(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("cohort entry ", i, " is not a valid client id"));
    }
    if (i > 0 && !(config.cohort(i - 1) < config.cohort(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cohort must be sorted and unique; entry ", i, " ('",
          config.cohort(i), "') does not follow '", config.cohort(i - 1), "'"));
    }
  }
  if (config.degree() < 1 || config.degree() > static_cast<uint32_t>(n - 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("degree ", config.degree(), " outside [1, ", n - 1, "]"));
  }
  const int k = static_cast<int>(config.degree());
  const int t = static_cast<int>(config.threshold());
  if (config.threshold() > static_cast<uint32_t>(k + 1) || 2 * t <= k + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "threshold ", config.threshold(), " must be an honest majority of the ",
        k + 1, " holders of each secret: in [", (k + 1) / 2 + 1, ", ", k + 1,
        "]"));
  }
  if (config.modulus_bits() < 1 || config.modulus_bits() > 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "modulus_bits ", config.modulus_bits(), " outside [1, 32]"));
  }
  if (config.vector_length() < 1 ||
      config.vector_length() > kSecAggMaxVectorLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("vector_length ", config.vector_length(), " outside [1, ",
                     kSecAggMaxVectorLength, "]"));
  }
  ASSIGN_OR_RETURN(SecAggGraph graph,
                   SecAggGraph::Create(config.session_id(), n, k));

  SecAggParameters params(std::move(graph));
  params.session_id = config.session_id();
  params.round = config.round();
  params.cohort.assign(config.cohort().begin(), config.cohort().end());
  params.degree = k;
  params.threshold = t;
  params.modulus_bits = static_cast<int>(config.modulus_bits());
  params.vector_length = config.vector_length();
  if (config.min_survivors() > static_cast<uint32_t>(n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_survivors ", config.min_survivors(),
                     " exceeds the cohort of ", n));
  }
  params.min_survivors = std::max(t, static_cast<int>(config.min_survivors()));
  for (int i = 0; i < n; ++i) params.index_.emplace(params.cohort[i], i);
  return params;
}

std::optional<int> SecAggParameters::IndexOf(
    const std::string& client_id) const {
  auto it = index_.find(client_id);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

uint32_t SecAggParameters::modulus_mask() const {
  return modulus_bits >= 32 ? 0xffffffffu : ((uint32_t{1} << modulus_bits) - 1);
}

}  // namespace fedlearn
