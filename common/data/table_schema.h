// The run's data contract for tabular data: which column holds the label,
// the class vocabulary (index = position), and the feature columns in model
// input order with their types. The coordinator declares it once; every
// client checks its own file against it (table_loader.h). Nothing here is
// ever inferred from a site's data, so two sites cannot disagree on what
// class 0 means.
//
// Matching rules (decided here, used by every loader):
//  - Column names match the file's header exactly after trimming surrounding
//    ASCII whitespace. They are NOT case-folded: "Age" and "age" differ.
//  - Label values and categorical values are trimmed of surrounding ASCII
//    whitespace, then compared exactly (LabelMatch::kExact, the default) or
//    ignoring ASCII case (kCaseInsensitive). Quoting is removed by the CSV
//    parser, so "malignant" (quoted) and malignant are the same value.
//    label_match governs both the label column and every categorical column.
//  - A cell is missing when it is empty after trimming, or equals one of
//    missing_markers ignoring ASCII case (defaults: NA, N/A, NaN, NULL; a
//    sentinel such as -999 may be declared). A declared class or category
//    may not also be a marker. What happens to a missing cell is `missing`.
//
// A TableSchema is a plain value: fill it from TOML or protobuf, then call
// Validate() before use. Thread-safety: const methods are safe to call
// concurrently.
#ifndef FEDLEARN_COMMON_DATA_TABLE_SCHEMA_H_
#define FEDLEARN_COMMON_DATA_TABLE_SCHEMA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedlearn {

enum class LabelMatch { kExact, kCaseInsensitive };

enum class MissingValuePolicy {
  kError,       // Any missing cell fails the load, naming the first few.
  kDropRow,     // Rows with a missing cell are dropped and counted.
  kImputeMean,  // A missing feature cell takes the site's own mean of that
                // column over present values (for a categorical column, the
                // mean of each one-hot position: the site's category
                // frequencies). Labels are never imputed: a missing label is
                // an error under this policy.
};

struct FeatureColumn {
  enum class Type { kNumeric, kCategorical };
  std::string name;
  Type type = Type::kNumeric;
  // Categorical only: the allowed values, one-hot encoded in this order.
  std::vector<std::string> categories;
};

struct TableSchema {
  std::string label_column;
  std::vector<std::string> classes;     // Class index = position.
  std::vector<FeatureColumn> features;  // Model input order.
  LabelMatch label_match = LabelMatch::kExact;
  MissingValuePolicy missing = MissingValuePolicy::kError;
  std::vector<std::string> missing_markers = {"NA", "N/A", "NaN", "NULL"};

  // The model's input width: 1 per numeric column, categories.size() per
  // categorical column.
  int64_t EncodedWidth() const;
  // One entry per encoded position: true where the position is a numeric
  // column (standardised), false for one-hot positions.
  std::vector<bool> NumericPositions() const;

  // OK, or InvalidArgument naming the first problem: fewer than 2 classes;
  // an empty label column, class, feature name or category; a duplicate
  // class, column or category (after trimming, and after case folding for
  // values under kCaseInsensitive); the label column also a feature; no
  // features; a categorical column without categories or a numeric one with
  // them; a class or category that is also a missing marker.
  absl::Status Validate() const;

  // A stable text form (names trimmed, every string length-prefixed) that
  // changes whenever the contract does; hash it for a schema digest.
  std::string CanonicalString() const;

  // The comparison key of a label or category cell under label_match.
  std::string ValueKey(absl::string_view value) const;
  // Whether a cell (raw from the parser) counts as missing.
  bool IsMissing(absl::string_view cell) const;
};

// Configuration spellings, for TOML and protobuf adapters:
// "exact" | "case-insensitive"; "error" | "drop-row" | "impute-mean";
// "numeric" | "categorical". Parse* return InvalidArgument listing the
// accepted spellings.
absl::string_view LabelMatchName(LabelMatch match);
absl::StatusOr<LabelMatch> ParseLabelMatch(absl::string_view name);
absl::string_view MissingValuePolicyName(MissingValuePolicy policy);
absl::StatusOr<MissingValuePolicy> ParseMissingValuePolicy(
    absl::string_view name);
absl::string_view FeatureTypeName(FeatureColumn::Type type);
absl::StatusOr<FeatureColumn::Type> ParseFeatureType(absl::string_view name);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_TABLE_SCHEMA_H_
