#include "common/evaluation/site_eval_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"

namespace fedlearn {
namespace {

constexpr size_t kScalarFields = 11;

size_t ScoreBins(const EvalLayout& layout) {
  return layout.binary() ? static_cast<size_t>(layout.score_bins) : 0;
}

size_t BinaryGroups(const EvalLayout& layout) {
  return layout.binary() ? static_cast<size_t>(layout.num_groups) : 0;
}

// Every value of the report, in ToVector() order. REQUIRES: the vectors are
// sized (Zero() or FromVector()).
std::vector<uint64_t*> Fields(SiteEvalReport& r) {
  std::vector<uint64_t*> out = {&r.examples,
                                &r.correct,
                                &r.loss_units,
                                &r.true_positives,
                                &r.false_positives,
                                &r.true_negatives,
                                &r.false_negatives,
                                &r.sites,
                                &r.sites_below_threshold,
                                &r.accuracy_units,
                                &r.accuracy_sq_units};
  for (std::vector<uint64_t>* v :
       {&r.positive_score_bins, &r.negative_score_bins, &r.group_examples,
        &r.group_correct, &r.group_predicted_positive, &r.group_positives,
        &r.group_true_positives, &r.accuracy_histogram, &r.loss_histogram}) {
    for (uint64_t& x : *v) out.push_back(&x);
  }
  return out;
}

std::vector<const std::vector<uint64_t>*> Vectors(const SiteEvalReport& r) {
  return {
      &r.positive_score_bins,  &r.negative_score_bins,      &r.group_examples,
      &r.group_correct,        &r.group_predicted_positive, &r.group_positives,
      &r.group_true_positives, &r.accuracy_histogram,       &r.loss_histogram};
}

// The name of value `i` of ToVector(), e.g. "group_correct[2]".
std::string FieldName(const SiteEvalReport& shape, size_t i) {
  static constexpr const char* kScalars[kScalarFields] = {
      "examples",
      "correct",
      "loss_units",
      "true_positives",
      "false_positives",
      "true_negatives",
      "false_negatives",
      "sites",
      "sites_below_threshold",
      "accuracy_units",
      "accuracy_sq_units"};
  static constexpr const char* kVectors[] = {
      "positive_score_bins",  "negative_score_bins",      "group_examples",
      "group_correct",        "group_predicted_positive", "group_positives",
      "group_true_positives", "accuracy_histogram",       "loss_histogram"};
  if (i < kScalarFields) return kScalars[i];
  i -= kScalarFields;
  const auto vectors = Vectors(shape);
  for (size_t v = 0; v < vectors.size(); ++v) {
    if (i < vectors[v]->size()) return absl::StrCat(kVectors[v], "[", i, "]");
    i -= vectors[v]->size();
  }
  return "(beyond the layout)";
}

uint64_t Sum(const std::vector<uint64_t>& v) {
  uint64_t total = 0;
  for (uint64_t x : v) {
    if (x > std::numeric_limits<uint64_t>::max() - total) {
      return std::numeric_limits<uint64_t>::max();
    }
    total += x;
  }
  return total;
}

// The site-level accuracy fields SiteEvalBuilder writes for `correct` of
// `examples` > 0.
struct AccuracyFields {
  uint64_t units, sq_units, bin, below;
};

AccuracyFields AccuracyOf(const EvalLayout& layout, uint64_t correct,
                          uint64_t examples) {
  const double acc =
      static_cast<double>(correct) / static_cast<double>(examples);
  AccuracyFields f;
  f.units = static_cast<uint64_t>(std::llround(acc / kEvalFractionUnit));
  f.sq_units =
      static_cast<uint64_t>(std::llround(acc * acc / kEvalFractionUnit));
  f.bin = std::min<uint64_t>(
      static_cast<uint64_t>(std::floor(acc * layout.accuracy_bins)),
      layout.accuracy_bins - 1);
  f.below = acc < layout.accuracy_threshold ? 1 : 0;
  return f;
}

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("evaluation report field ", field, " ", why));
}

absl::Status CheckBinary(const EvalLayout& layout, const SiteEvalReport& r) {
  const uint64_t positives = r.true_positives + r.false_negatives;
  const uint64_t negatives = r.false_positives + r.true_negatives;
  if (!layout.binary()) {
    if (positives != 0 || negatives != 0) {
      return Invalid("true_positives", "must be zero in a multi-class task");
    }
    return absl::OkStatus();
  }
  if (positives + negatives != r.examples) {
    return Invalid("true_positives", "(confusion matrix) must sum to examples");
  }
  if (r.true_positives + r.true_negatives != r.correct) {
    return Invalid("correct", "must equal true positives + true negatives");
  }
  if (Sum(r.positive_score_bins) != positives) {
    return Invalid("positive_score_bins", "must sum to the positives");
  }
  if (Sum(r.negative_score_bins) != negatives) {
    return Invalid("negative_score_bins", "must sum to the negatives");
  }
  return absl::OkStatus();
}

absl::Status CheckGroups(const EvalLayout& layout, const SiteEvalReport& r) {
  if (Sum(r.group_examples) > r.examples) {
    return Invalid("group_examples", "sum to more than examples");
  }
  for (size_t g = 0; g < r.group_examples.size(); ++g) {
    const uint64_t n = r.group_examples[g];
    if (r.group_correct[g] > n) {
      return Invalid(absl::StrCat("group_correct[", g, "]"),
                     "exceeds the group's examples");
    }
    if (!layout.binary()) continue;
    if (r.group_predicted_positive[g] > n || r.group_positives[g] > n) {
      return Invalid(absl::StrCat("group_positives[", g, "]"),
                     "exceeds the group's examples");
    }
    if (r.group_true_positives[g] >
        std::min(r.group_positives[g], r.group_predicted_positive[g])) {
      return Invalid(absl::StrCat("group_true_positives[", g, "]"),
                     "exceeds the group's positives or predicted positives");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSiteLevel(const EvalLayout& layout, const SiteEvalReport& r) {
  if (r.sites != (r.examples > 0 ? 1u : 0u)) {
    return Invalid("sites", "must be 1 iff the site has examples");
  }
  if (Sum(r.accuracy_histogram) != r.sites) {
    return Invalid("accuracy_histogram", "must be one-hot");
  }
  if (Sum(r.loss_histogram) != r.sites) {
    return Invalid("loss_histogram", "must be one-hot");
  }
  if (r.sites == 0) {
    if (r.sites_below_threshold != 0 || r.accuracy_units != 0 ||
        r.accuracy_sq_units != 0) {
      return Invalid("accuracy_units", "must be zero without examples");
    }
    return absl::OkStatus();
  }
  const AccuracyFields f = AccuracyOf(layout, r.correct, r.examples);
  const auto near = [](uint64_t a, uint64_t b) {
    return a + 1 >= b && b + 1 >= a;
  };
  if (!near(r.accuracy_units, f.units)) {
    return Invalid("accuracy_units", "disagrees with correct / examples");
  }
  if (!near(r.accuracy_sq_units, f.sq_units)) {
    return Invalid("accuracy_sq_units", "disagrees with correct / examples");
  }
  if (r.accuracy_histogram[f.bin] != 1) {
    return Invalid("accuracy_histogram", "disagrees with correct / examples");
  }
  if (r.sites_below_threshold != f.below) {
    return Invalid("sites_below_threshold",
                   "disagrees with correct / examples");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EvalLayout> EvalLayout::FromContract(const v1::RunContract& c) {
  if (!c.has_evaluation()) {
    return absl::InvalidArgumentError(
        "the run's contract asks for no federated evaluation");
  }
  const v1::EvaluationSpec& e = c.evaluation();
  EvalLayout layout;
  layout.num_classes = c.model().num_classes();
  if (layout.num_classes < 2) {
    return absl::InvalidArgumentError(
        "federated evaluation needs model.num_classes >= 2");
  }
  const auto bins_ok = [](uint32_t bins) {
    return bins >= 1 && bins <= static_cast<uint32_t>(kMaxEvalBins);
  };
  if (layout.binary() && !bins_ok(e.score_bins())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation.score_bins must be in [1, ", kMaxEvalBins, "]"));
  }
  if (!bins_ok(e.accuracy_bins())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation.accuracy_bins must be in [1, ", kMaxEvalBins, "]"));
  }
  if (!bins_ok(e.loss_bins())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation.loss_bins must be in [1, ", kMaxEvalBins, "]"));
  }
  if (!(e.max_loss() > 0 && e.max_loss() <= kMaxEvalLoss)) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation.max_loss must be in (0, ", kMaxEvalLoss, "]"));
  }
  if (!(e.accuracy_threshold() >= 0 && e.accuracy_threshold() <= 1)) {
    return absl::InvalidArgumentError(
        "evaluation.accuracy_threshold must be in [0, 1]");
  }
  if (e.groups_size() > kMaxEvalGroups) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation.groups may name at most ", kMaxEvalGroups, " groups"));
  }
  layout.score_bins = layout.binary() ? static_cast<int>(e.score_bins()) : 0;
  layout.accuracy_bins = static_cast<int>(e.accuracy_bins());
  layout.loss_bins = static_cast<int>(e.loss_bins());
  layout.num_groups = e.groups_size();
  layout.max_loss = e.max_loss();
  layout.accuracy_threshold = e.accuracy_threshold();
  return layout;
}

size_t EvalLayout::length() const {
  return kScalarFields + 2 * ScoreBins(*this) +
         2 * static_cast<size_t>(num_groups) + 3 * BinaryGroups(*this) +
         static_cast<size_t>(accuracy_bins) + static_cast<size_t>(loss_bins);
}

SiteEvalReport SiteEvalReport::Zero(const EvalLayout& layout) {
  SiteEvalReport r;
  r.positive_score_bins.assign(ScoreBins(layout), 0);
  r.negative_score_bins.assign(ScoreBins(layout), 0);
  r.group_examples.assign(layout.num_groups, 0);
  r.group_correct.assign(layout.num_groups, 0);
  r.group_predicted_positive.assign(BinaryGroups(layout), 0);
  r.group_positives.assign(BinaryGroups(layout), 0);
  r.group_true_positives.assign(BinaryGroups(layout), 0);
  r.accuracy_histogram.assign(layout.accuracy_bins, 0);
  r.loss_histogram.assign(layout.loss_bins, 0);
  return r;
}

std::vector<uint64_t> SiteEvalReport::ToVector(const EvalLayout& layout) const {
  std::vector<uint64_t> out;
  out.reserve(layout.length());
  for (const uint64_t* x : Fields(const_cast<SiteEvalReport&>(*this))) {
    out.push_back(*x);
  }
  return out;
}

absl::StatusOr<SiteEvalReport> SiteEvalReport::FromVector(
    const EvalLayout& layout, absl::Span<const uint64_t> values) {
  if (values.size() != layout.length()) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation report has ", values.size(),
                     " values; the run's layout has ", layout.length()));
  }
  SiteEvalReport r = Zero(layout);
  const std::vector<uint64_t*> fields = Fields(r);
  for (size_t i = 0; i < fields.size(); ++i) *fields[i] = values[i];
  return r;
}

absl::Status SiteEvalReport::Add(const SiteEvalReport& other) {
  const auto mine = Vectors(*this);
  const auto theirs = Vectors(other);
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mine[i]->size() != theirs[i]->size()) {
      return absl::InvalidArgumentError(
          "evaluation reports of different layouts cannot be added");
    }
  }
  const std::vector<uint64_t*> a = Fields(*this);
  const std::vector<uint64_t*> b = Fields(const_cast<SiteEvalReport&>(other));
  for (size_t i = 0; i < a.size(); ++i) {
    if (*b[i] > std::numeric_limits<uint64_t>::max() - *a[i]) {
      return absl::OutOfRangeError("evaluation report sum overflows");
    }
  }
  for (size_t i = 0; i < a.size(); ++i) *a[i] += *b[i];
  return absl::OkStatus();
}

bool SiteEvalReport::operator==(const SiteEvalReport& other) const {
  const auto mine = Vectors(*this);
  const auto theirs = Vectors(other);
  for (size_t i = 0; i < mine.size(); ++i) {
    if (*mine[i] != *theirs[i]) return false;
  }
  const std::vector<uint64_t*> a = Fields(const_cast<SiteEvalReport&>(*this));
  const std::vector<uint64_t*> b = Fields(const_cast<SiteEvalReport&>(other));
  for (size_t i = 0; i < a.size(); ++i) {
    if (*a[i] != *b[i]) return false;
  }
  return true;
}

std::vector<uint64_t> SiteReportBounds(const EvalLayout& layout,
                                       uint64_t max_examples) {
  SiteEvalReport b = SiteEvalReport::Zero(layout);
  for (uint64_t* x : Fields(b)) *x = max_examples;
  const double loss_units = std::floor(static_cast<double>(max_examples) *
                                       layout.max_loss / kEvalLossUnit);
  b.loss_units = loss_units >= 0x1.0p63 ? std::numeric_limits<uint64_t>::max()
                                        : static_cast<uint64_t>(loss_units) + 1;
  b.sites = b.sites_below_threshold = 1;
  b.accuracy_units = b.accuracy_sq_units =
      static_cast<uint64_t>(std::llround(1 / kEvalFractionUnit));
  std::fill(b.accuracy_histogram.begin(), b.accuracy_histogram.end(), 1);
  std::fill(b.loss_histogram.begin(), b.loss_histogram.end(), 1);
  return b.ToVector(layout);
}

absl::Status ValidateSiteReport(const EvalLayout& layout,
                                const SiteEvalReport& report,
                                uint64_t max_examples) {
  const SiteEvalReport shape = SiteEvalReport::Zero(layout);
  const auto want = Vectors(shape);
  const auto got = Vectors(report);
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i]->size() != got[i]->size()) {
      return absl::InvalidArgumentError(
          "evaluation report does not match the run's layout");
    }
  }
  if (report.examples > max_examples) {
    return Invalid("examples",
                   absl::StrCat("exceeds max_examples ", max_examples));
  }
  // Every value within its bound first, so the sums below cannot wrap.
  const std::vector<uint64_t> bounds = SiteReportBounds(layout, max_examples);
  const std::vector<uint64_t> values = report.ToVector(layout);
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] > bounds[i]) {
      return Invalid(
          FieldName(shape, i),
          absl::StrCat("is ", values[i], ", above its bound ", bounds[i]));
    }
  }
  if (report.correct > report.examples) {
    return Invalid("correct", "exceeds examples");
  }
  const double max_units =
      static_cast<double>(report.examples) * layout.max_loss / kEvalLossUnit +
      1;
  if (static_cast<double>(report.loss_units) > max_units) {
    return Invalid("loss_units", "exceeds examples * max_loss");
  }
  if (absl::Status s = CheckBinary(layout, report); !s.ok()) return s;
  if (absl::Status s = CheckGroups(layout, report); !s.ok()) return s;
  return CheckSiteLevel(layout, report);
}

SiteEvalBuilder::SiteEvalBuilder(const EvalLayout& layout)
    : layout_(layout), report_(SiteEvalReport::Zero(layout)) {}

absl::Status SiteEvalBuilder::Add(int label, int predicted,
                                  double positive_probability, double loss,
                                  int group) {
  if (label < 0 || label >= layout_.num_classes) {
    return absl::InvalidArgumentError(absl::StrCat("evaluation label ", label,
                                                   " is outside [0, ",
                                                   layout_.num_classes, ")"));
  }
  if (predicted < 0 || predicted >= layout_.num_classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation prediction ", predicted, " is outside [0, ",
                     layout_.num_classes, ")"));
  }
  if (group < -1 || group >= layout_.num_groups) {
    return absl::InvalidArgumentError(absl::StrCat("evaluation group ", group,
                                                   " is outside [-1, ",
                                                   layout_.num_groups, ")"));
  }
  const double p = std::isnan(positive_probability)
                       ? 0.0
                       : std::clamp(positive_probability, 0.0, 1.0);
  const int prediction = layout_.binary() ? (p >= 0.5 ? 1 : 0) : predicted;
  const bool right = prediction == label;
  ++report_.examples;
  report_.correct += right ? 1 : 0;
  loss_sum_ += std::isnan(loss) ? layout_.max_loss
                                : std::clamp(loss, 0.0, layout_.max_loss);
  if (layout_.binary()) {
    const size_t bin = std::min<size_t>(
        static_cast<size_t>(std::floor(p * layout_.score_bins)),
        layout_.score_bins - 1);
    if (label == 1) {
      ++(prediction == 1 ? report_.true_positives : report_.false_negatives);
      ++report_.positive_score_bins[bin];
    } else {
      ++(prediction == 1 ? report_.false_positives : report_.true_negatives);
      ++report_.negative_score_bins[bin];
    }
  }
  if (group >= 0) {
    ++report_.group_examples[group];
    report_.group_correct[group] += right ? 1 : 0;
    if (layout_.binary()) {
      report_.group_predicted_positive[group] += prediction == 1 ? 1 : 0;
      report_.group_positives[group] += label == 1 ? 1 : 0;
      report_.group_true_positives[group] +=
          (label == 1 && prediction == 1) ? 1 : 0;
    }
  }
  return absl::OkStatus();
}

SiteEvalReport SiteEvalBuilder::Finish() {
  SiteEvalReport r = std::move(report_);
  report_ = SiteEvalReport::Zero(layout_);
  if (r.examples == 0) return SiteEvalReport::Zero(layout_);
  r.loss_units = static_cast<uint64_t>(std::llround(loss_sum_ / kEvalLossUnit));
  r.sites = 1;
  const AccuracyFields f = AccuracyOf(layout_, r.correct, r.examples);
  r.accuracy_units = f.units;
  r.accuracy_sq_units = f.sq_units;
  r.sites_below_threshold = f.below;
  r.accuracy_histogram[f.bin] = 1;
  const double mean_loss = loss_sum_ / static_cast<double>(r.examples);
  const size_t loss_bin = std::min<size_t>(
      static_cast<size_t>(
          std::floor(mean_loss / layout_.max_loss * layout_.loss_bins)),
      layout_.loss_bins - 1);
  r.loss_histogram[loss_bin] = 1;
  loss_sum_ = 0;
  return r;
}

}  // namespace fedlearn
