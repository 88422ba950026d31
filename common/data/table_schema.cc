#include "common/data/table_schema.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data/csv_parser.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

absl::string_view Trimmed(absl::string_view s) {
  return absl::StripAsciiWhitespace(s);
}

absl::Status SchemaError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("table schema: ", what));
}

// Checks `values` (classes or categories of `owner`) for emptiness,
// duplicates under the schema's value key, and collisions with markers.
absl::Status CheckValues(const TableSchema& schema, absl::string_view owner,
                         absl::string_view kind,
                         const std::vector<std::string>& values) {
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < values.size(); ++i) {
    if (Trimmed(values[i]).empty()) {
      return SchemaError(absl::StrCat(owner, ": ", kind, " ", i, " is empty"));
    }
    const auto [it, fresh] = seen.emplace(schema.ValueKey(values[i]), i);
    if (!fresh) {
      return SchemaError(
          absl::StrCat(owner, ": ", kind, " ", i, " (",
                       QuotedExcerpt(values[i]), ") repeats ", kind, " ",
                       it->second, " (", QuotedExcerpt(values[it->second]), ")",
                       schema.label_match == LabelMatch::kCaseInsensitive
                           ? " after trimming and ignoring case"
                           : " after trimming"));
    }
    if (schema.IsMissing(values[i])) {
      return SchemaError(absl::StrCat(
          owner, ": ", kind, " ", QuotedExcerpt(values[i]),
          " is also a missing-value marker; remove it from missing_markers"));
    }
  }
  return absl::OkStatus();
}

void AppendString(std::string* out, absl::string_view s) {
  absl::StrAppend(out, " ", s.size(), ":", s);
}

}  // namespace

int64_t TableSchema::EncodedWidth() const {
  int64_t width = 0;
  for (const FeatureColumn& f : features) {
    width += f.type == FeatureColumn::Type::kNumeric
                 ? 1
                 : static_cast<int64_t>(f.categories.size());
  }
  return width;
}

std::vector<bool> TableSchema::NumericPositions() const {
  std::vector<bool> numeric;
  for (const FeatureColumn& f : features) {
    if (f.type == FeatureColumn::Type::kNumeric) {
      numeric.push_back(true);
    } else {
      numeric.insert(numeric.end(), f.categories.size(), false);
    }
  }
  return numeric;
}

std::string TableSchema::ValueKey(absl::string_view value) const {
  std::string key(Trimmed(value));
  if (label_match == LabelMatch::kCaseInsensitive) absl::AsciiStrToLower(&key);
  return key;
}

bool TableSchema::IsMissing(absl::string_view cell) const {
  const absl::string_view t = Trimmed(cell);
  if (t.empty()) return true;
  for (const std::string& marker : missing_markers) {
    if (absl::EqualsIgnoreCase(t, Trimmed(marker))) return true;
  }
  return false;
}

absl::Status TableSchema::Validate() const {
  if (Trimmed(label_column).empty()) {
    return SchemaError("label_column is empty");
  }
  if (classes.size() < 2) {
    return SchemaError(
        absl::StrCat("needs at least 2 classes, got ", classes.size()));
  }
  RETURN_IF_ERROR(CheckValues(*this, "classes", "class", classes));
  if (features.empty()) return SchemaError("no feature columns");
  std::map<absl::string_view, std::string> columns;  // name -> what it is
  columns.emplace(Trimmed(label_column), "the label column");
  for (size_t i = 0; i < features.size(); ++i) {
    const FeatureColumn& f = features[i];
    const absl::string_view name = Trimmed(f.name);
    if (name.empty()) {
      return SchemaError(absl::StrCat("feature ", i, " has an empty name"));
    }
    const auto [it, fresh] = columns.emplace(name, absl::StrCat("feature ", i));
    if (!fresh) {
      return SchemaError(absl::StrCat("feature ", i, " ", QuotedExcerpt(name),
                                      " has the same name as ", it->second));
    }
    const std::string owner = absl::StrCat("feature ", QuotedExcerpt(name));
    if (f.type == FeatureColumn::Type::kNumeric) {
      if (!f.categories.empty()) {
        return SchemaError(
            absl::StrCat(owner, " is numeric but lists categories"));
      }
      continue;
    }
    if (f.categories.empty()) {
      return SchemaError(
          absl::StrCat(owner, " is categorical but lists no categories"));
    }
    RETURN_IF_ERROR(CheckValues(*this, owner, "category", f.categories));
  }
  return absl::OkStatus();
}

std::string TableSchema::CanonicalString() const {
  std::string out = "fedlearn.table_schema.v1\nlabel_column";
  AppendString(&out, Trimmed(label_column));
  absl::StrAppend(&out, "\nlabel_match ", LabelMatchName(label_match),
                  "\nmissing ", MissingValuePolicyName(missing),
                  "\nmissing_markers ", missing_markers.size());
  for (const std::string& m : missing_markers) AppendString(&out, Trimmed(m));
  absl::StrAppend(&out, "\nclasses ", classes.size());
  for (const std::string& c : classes) AppendString(&out, Trimmed(c));
  for (const FeatureColumn& f : features) {
    absl::StrAppend(&out, "\nfeature ", FeatureTypeName(f.type));
    AppendString(&out, Trimmed(f.name));
    if (f.type == FeatureColumn::Type::kCategorical) {
      absl::StrAppend(&out, " ", f.categories.size());
      for (const std::string& c : f.categories) AppendString(&out, Trimmed(c));
    }
  }
  out.push_back('\n');
  return out;
}

absl::string_view LabelMatchName(LabelMatch match) {
  return match == LabelMatch::kExact ? "exact" : "case-insensitive";
}

absl::StatusOr<LabelMatch> ParseLabelMatch(absl::string_view name) {
  if (name == "exact") return LabelMatch::kExact;
  if (name == "case-insensitive") return LabelMatch::kCaseInsensitive;
  return absl::InvalidArgumentError(
      absl::StrCat("label_match ", QuotedExcerpt(name),
                   " is not one of \"exact\", \"case-insensitive\""));
}

absl::string_view MissingValuePolicyName(MissingValuePolicy policy) {
  switch (policy) {
    case MissingValuePolicy::kError:
      return "error";
    case MissingValuePolicy::kDropRow:
      return "drop-row";
    case MissingValuePolicy::kImputeMean:
      return "impute-mean";
  }
  return "?";
}

absl::StatusOr<MissingValuePolicy> ParseMissingValuePolicy(
    absl::string_view name) {
  if (name == "error") return MissingValuePolicy::kError;
  if (name == "drop-row") return MissingValuePolicy::kDropRow;
  if (name == "impute-mean") return MissingValuePolicy::kImputeMean;
  return absl::InvalidArgumentError(
      absl::StrCat("missing-value policy ", QuotedExcerpt(name),
                   " is not one of \"error\", \"drop-row\", \"impute-mean\""));
}

absl::string_view FeatureTypeName(FeatureColumn::Type type) {
  return type == FeatureColumn::Type::kNumeric ? "numeric" : "categorical";
}

absl::StatusOr<FeatureColumn::Type> ParseFeatureType(absl::string_view name) {
  if (name == "numeric") return FeatureColumn::Type::kNumeric;
  if (name == "categorical") return FeatureColumn::Type::kCategorical;
  return absl::InvalidArgumentError(
      absl::StrCat("feature type ", QuotedExcerpt(name),
                   " is not one of \"numeric\", \"categorical\""));
}

}  // namespace fedlearn
