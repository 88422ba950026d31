// What a client sends for federated evaluation (common/evaluation/): the
// plain report vectors the coordinator checks with SiteEvalReport::FromVector
// + ValidateSiteReport, and the unmasked sum of secure reports it decodes
// with EvalVectorCodec::DecodeSum. The input (front to back, little-endian):
//   u8 mode (bit 0: 0 plain reports, 1 secure sum), the layout as an
//   EvaluationSpec carries it (u8 num_classes, u16 score/accuracy/loss
//   bins, u8 groups, f64 max_loss, f64 accuracy_threshold, through
//   EvalLayout::FromContract), u64 max_examples; then
//   plain:  u8 reports, each u16 n + n x u64 values;
//   secure: u8 modulus_bits, u16 max_clients, u16 n + n x u32 sum.
// (fuzz_seed_corpus writes honest reports and sums in this format.)
// Nothing may crash; an accepted report set must summarize to numbers that
// are finite or NaN (fractions in [0, 1]) and serialize to JSON; a decoded
// sum must lie within max_clients x the bounds and re-encode: split into at
// most max_clients reports within the bounds, their encodings sum back to
// the same sum.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/evaluation/eval_statistics.h"
#include "common/evaluation/eval_statistics_json.h"
#include "common/evaluation/eval_vector_codec.h"
#include "common/evaluation/site_eval_report.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

namespace fedlearn {
namespace {

using fuzz::FuzzCheck;

// Consumes little-endian integers from the front; zeros once exhausted.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t Uint(int bytes) {
    uint64_t v = 0;
    for (int b = 0; b < bytes && pos_ < size_; ++b) {
      v |= uint64_t{data_[pos_++]} << (8 * b);
    }
    return v;
  }
  double Double() {
    const uint64_t bits = Uint(8);
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  size_t remaining() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

absl::StatusOr<EvalLayout> ConsumeLayout(Reader& in) {
  v1::RunContract contract;
  contract.mutable_model()->set_num_classes(static_cast<int>(in.Uint(1)));
  v1::EvaluationSpec& e = *contract.mutable_evaluation();
  e.set_score_bins(static_cast<uint32_t>(in.Uint(2)));
  e.set_accuracy_bins(static_cast<uint32_t>(in.Uint(2)));
  e.set_loss_bins(static_cast<uint32_t>(in.Uint(2)));
  const int groups = static_cast<int>(in.Uint(1));
  for (int g = 0; g < groups; ++g) e.add_groups("g" + std::to_string(g));
  e.set_max_loss(in.Double());
  e.set_accuracy_threshold(in.Double());
  return EvalLayout::FromContract(contract);
}

std::vector<std::string> GroupNames(const EvalLayout& layout) {
  std::vector<std::string> names;
  for (int g = 0; g < layout.num_groups; ++g) {
    names.push_back("g" + std::to_string(g));
  }
  return names;
}

void CheckNumber(double v, const char* what) {
  FuzzCheck(std::isfinite(v) || std::isnan(v), what);
}

// A fraction: NaN (undefined) or in [0, 1].
void CheckFraction(double v, bool bounded, const char* what) {
  CheckNumber(v, what);
  if (bounded && !std::isnan(v)) FuzzCheck(v >= 0 && v <= 1, what);
}

void CheckSpread(const SpreadStatistics& s, bool fractions) {
  for (double v : {s.weighted_mean, s.unweighted_mean, s.min, s.worst10_mean,
                   s.p10, s.p50, s.p90}) {
    CheckFraction(v, fractions, "spread value out of range");
    if (!fractions && !std::isnan(v)) FuzzCheck(v >= 0, "negative loss");
  }
  CheckNumber(s.stddev, "spread stddev not finite");
  if (!std::isnan(s.stddev)) FuzzCheck(s.stddev >= 0, "negative stddev");
}

// `bounded`: the statistics come from honest-shaped reports, so every
// fraction lies in [0, 1].
void CheckStatistics(const EvalStatistics& s, bool bounded) {
  CheckFraction(s.accuracy, bounded, "accuracy out of range");
  CheckNumber(s.loss, "loss not finite");
  CheckSpread(s.accuracy_spread, bounded);
  CheckSpread(s.loss_spread, false);
  if (s.binary.has_value()) {
    const BinaryStatistics& b = *s.binary;
    for (double v : {b.precision, b.recall, b.f1, b.roc_auc, b.pr_auc}) {
      CheckFraction(v, bounded, "binary metric out of range");
    }
  }
  for (const GroupStatistics& g : s.groups) {
    for (double v : {g.accuracy, g.positive_rate, g.true_positive_rate}) {
      CheckFraction(v, bounded, "group metric out of range");
    }
  }
  for (const auto& gap : {s.accuracy_gap, s.demographic_parity_difference,
                          s.equal_opportunity_difference}) {
    if (gap.has_value()) CheckFraction(*gap, bounded, "gap out of range");
  }
  // NaN goes out as null; dump() throws on anything it cannot write.
  const std::string json = EvalStatisticsToJson(s).dump();
  FuzzCheck(!json.empty(), "empty JSON");
}

bool SameNumber(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

void PlainReports(const EvalLayout& layout, Reader& in) {
  const uint64_t max_examples = in.Uint(8);
  if (max_examples >= (uint64_t{1} << 60)) return;  // REQUIRES
  const int count = static_cast<int>(in.Uint(1) % 17);
  std::vector<SiteEvalReport> valid;
  for (int r = 0; r < count; ++r) {
    std::vector<uint64_t> values(in.Uint(2));
    for (uint64_t& v : values) v = in.Uint(8);
    absl::StatusOr<SiteEvalReport> report =
        SiteEvalReport::FromVector(layout, values);
    if (!report.ok()) continue;
    FuzzCheck(report->ToVector(layout) == values, "FromVector round trip");
    if (!ValidateSiteReport(layout, *report, max_examples).ok()) continue;
    valid.push_back(*std::move(report));
  }
  if (valid.empty()) return;
  const std::vector<std::string> names = GroupNames(layout);
  SiteEvalReport sum = SiteEvalReport::Zero(layout);
  for (const SiteEvalReport& r : valid) {
    // An overflowing report is left out of the sum, as SummarizeSites does.
    const absl::Status added = sum.Add(r);
    FuzzCheck(added.ok() || added.code() == absl::StatusCode::kOutOfRange,
              "valid reports of one layout cannot be added");
    CheckStatistics(SummarizeSite(layout, r, names), true);
  }
  const EvalStatistics from_sum = SummarizeSum(layout, sum, names);
  const EvalStatistics from_sites = SummarizeSites(layout, valid, names);
  CheckStatistics(from_sum, true);
  CheckStatistics(from_sites, true);
  FuzzCheck(from_sum.examples == from_sites.examples &&
                from_sum.sites == from_sites.sites &&
                SameNumber(from_sum.accuracy, from_sites.accuracy) &&
                SameNumber(from_sum.loss, from_sites.loss),
            "SummarizeSites disagrees with SummarizeSum of the sum");
}

// Splits `values` (each <= n x bounds) into at most n vectors within the
// bounds, greedily.
std::vector<std::vector<uint64_t>> Split(const std::vector<uint64_t>& values,
                                         const std::vector<uint64_t>& bounds,
                                         uint64_t n) {
  std::vector<std::vector<uint64_t>> parts;
  std::vector<uint64_t> rest = values;
  for (uint64_t p = 0; p < n; ++p) {
    bool any = false;
    std::vector<uint64_t> part(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      part[i] = std::min(rest[i], bounds[i]);
      rest[i] -= part[i];
      any = any || part[i] != 0;
    }
    if (!any) break;
    parts.push_back(std::move(part));
  }
  for (uint64_t r : rest) FuzzCheck(r == 0, "decoded sum cannot be split");
  return parts;
}

void Reencode(const EvalLayout& layout, const EvalVectorCodec& codec,
              int modulus_bits, uint64_t max_clients,
              const SiteEvalReport& decoded) {
  const std::vector<uint64_t> values = decoded.ToVector(layout);
  const std::vector<uint64_t>& bounds = codec.bounds();
  FuzzCheck(values.size() == bounds.size(), "decoded sum has the wrong shape");
  for (size_t i = 0; i < values.size(); ++i) {
    FuzzCheck(static_cast<unsigned __int128>(values[i]) <=
                  static_cast<unsigned __int128>(bounds[i]) * max_clients,
              "decoded value above max_clients x its bound");
  }
  const uint64_t mask = (uint64_t{1} << modulus_bits) - 1;
  std::vector<uint64_t> total(codec.length(), 0);
  for (const std::vector<uint64_t>& part : Split(values, bounds, max_clients)) {
    absl::StatusOr<SiteEvalReport> r = SiteEvalReport::FromVector(layout, part);
    FuzzCheck(r.ok(), "a split part has the wrong length");
    absl::StatusOr<std::vector<uint32_t>> encoded = codec.Encode(*r);
    FuzzCheck(encoded.ok() && encoded->size() == codec.length(),
              "a report within the bounds does not encode");
    for (size_t k = 0; k < total.size(); ++k) {
      FuzzCheck(((*encoded)[k] & ~mask) == 0, "an encoding exceeds 2^b");
      total[k] = (total[k] + (*encoded)[k]) & mask;
    }
  }
  const std::vector<uint32_t> resum(total.begin(), total.end());
  absl::StatusOr<SiteEvalReport> again = codec.DecodeSum(resum);
  FuzzCheck(again.ok() && *again == decoded,
            "the re-encoded sum does not decode to the same report");
}

void SecureSum(const EvalLayout& layout, Reader& in) {
  const uint64_t max_examples = in.Uint(8);
  const int modulus_bits = static_cast<int>(in.Uint(1));
  const int max_clients = static_cast<int>(in.Uint(2));
  absl::StatusOr<EvalVectorCodec> codec =
      EvalVectorCodec::Create(layout, modulus_bits, max_clients, max_examples);
  if (!codec.ok()) return;
  FuzzCheck(codec->limb_bits() >= 1 && codec->limb_bits() < modulus_bits,
            "limb bits out of range");
  std::vector<uint32_t> sum(in.Uint(2));
  for (uint32_t& v : sum) v = static_cast<uint32_t>(in.Uint(4));
  absl::StatusOr<SiteEvalReport> decoded = codec->DecodeSum(sum);
  if (!decoded.ok()) return;
  FuzzCheck(sum.size() == codec->length(), "decoded a sum of the wrong length");
  // A decoded sum is not one honest report: no range check, only finite.
  CheckStatistics(SummarizeSum(layout, *decoded, GroupNames(layout)), false);
  // Keep the split cheap: the number of parts is at most max_clients.
  if (max_clients <= 256) {
    Reencode(layout, *codec, modulus_bits, static_cast<uint64_t>(max_clients),
             *decoded);
  }
}

}  // namespace
}  // namespace fedlearn

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fedlearn::Reader in(data, size);
  const bool secure = (in.Uint(1) & 1) != 0;
  absl::StatusOr<fedlearn::EvalLayout> layout = fedlearn::ConsumeLayout(in);
  if (!layout.ok()) return 0;
  if (secure) {
    fedlearn::SecureSum(*layout, in);
  } else {
    fedlearn::PlainReports(*layout, in);
  }
  return 0;
}
