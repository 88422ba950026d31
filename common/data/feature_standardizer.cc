#include "common/data/feature_standardizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace fedlearn {
namespace {

constexpr char kFormat[] = "fedlearn.feature_standardizer.v1";

absl::Status JsonError(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("feature standardizer JSON: ", what));
}

absl::StatusOr<std::vector<float>> FloatArray(const nlohmann::json& doc,
                                              const char* key) {
  const auto it = doc.find(key);
  if (it == doc.end() || !it->is_array()) {
    return JsonError(absl::StrCat("\"", key, "\" is missing or not an array"));
  }
  std::vector<float> out;
  out.reserve(it->size());
  for (const nlohmann::json& v : *it) {
    if (!v.is_number()) {
      return JsonError(
          absl::StrCat("\"", key, "\"[", out.size(), "] is not a number"));
    }
    const float f = static_cast<float>(v.get<double>());
    if (!std::isfinite(f)) {
      return JsonError(absl::StrCat("\"", key, "\"[", out.size(),
                                    "] is not a finite float"));
    }
    out.push_back(f);
  }
  return out;
}

}  // namespace

FeatureStandardizer FeatureStandardizer::Fit(const Dataset& data) {
  return Fit(data, std::vector<bool>(data.SampleNumel(), true));
}

FeatureStandardizer FeatureStandardizer::Fit(
    const Dataset& data, const std::vector<bool>& fit_position) {
  const size_t numel = data.SampleNumel();
  const size_t n = data.size();
  FeatureStandardizer out;
  out.mean.assign(numel, 0.0f);
  out.stddev.assign(numel, 1.0f);
  if (n == 0) return out;
  std::vector<double> sum(numel, 0.0);
  for (size_t i = 0; i < n * numel; ++i) sum[i % numel] += data.features[i];
  std::vector<double> squares(numel, 0.0);
  for (size_t i = 0; i < n * numel; ++i) {
    const double d = data.features[i] - sum[i % numel] / n;
    squares[i % numel] += d * d;
  }
  for (size_t j = 0; j < numel; ++j) {
    if (!fit_position[j]) continue;
    out.mean[j] = static_cast<float>(sum[j] / n);
    const double sd = std::sqrt(squares[j] / n);
    if (sd > 0) out.stddev[j] = static_cast<float>(sd);
  }
  return out;
}

absl::Status FeatureStandardizer::Apply(Dataset* data) const {
  const size_t numel = mean.size();
  if (data->SampleNumel() != width()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "feature standardizer has width ", numel, " but the data has ",
        data->SampleNumel(), " features per sample"));
  }
  for (size_t i = 0; i < data->features.size(); ++i) {
    data->features[i] =
        (data->features[i] - mean[i % numel]) / stddev[i % numel];
  }
  return absl::OkStatus();
}

std::string FeatureStandardizer::ToJson() const {
  nlohmann::json doc;
  doc["format"] = kFormat;
  // Stored as double: nlohmann prints the shortest text that reads back to
  // the same double, and float -> double -> float is exact.
  doc["mean"] = std::vector<double>(mean.begin(), mean.end());
  doc["stddev"] = std::vector<double>(stddev.begin(), stddev.end());
  return doc.dump();
}

absl::StatusOr<FeatureStandardizer> FeatureStandardizer::FromJson(
    absl::string_view json, int64_t expected_width) {
  const nlohmann::json doc =
      nlohmann::json::parse(json.begin(), json.end(), nullptr,
                            /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return JsonError("not a JSON object");
  }
  const auto format = doc.find("format");
  if (format == doc.end() || !format->is_string() ||
      format->get<std::string>() != kFormat) {
    return JsonError(absl::StrCat("\"format\" is not \"", kFormat, "\""));
  }
  FeatureStandardizer out;
  ASSIGN_OR_RETURN(std::vector<float> mean, FloatArray(doc, "mean"));
  ASSIGN_OR_RETURN(std::vector<float> stddev, FloatArray(doc, "stddev"));
  if (mean.size() != stddev.size()) {
    return JsonError(absl::StrCat("\"mean\" has ", mean.size(),
                                  " entries but \"stddev\" has ",
                                  stddev.size()));
  }
  for (size_t j = 0; j < stddev.size(); ++j) {
    if (!(stddev[j] > 0)) {
      return JsonError(absl::StrCat("\"stddev\"[", j, "] is not positive"));
    }
  }
  if (static_cast<int64_t>(mean.size()) != expected_width) {
    return absl::FailedPreconditionError(absl::StrCat(
        "saved feature standardizer has width ", mean.size(),
        " but the model input has ", expected_width,
        " features: the table schema changed since it was fitted; refit it"));
  }
  out.mean = std::move(mean);
  out.stddev = std::move(stddev);
  return out;
}

}  // namespace fedlearn
