// LoadTable (common/data/table_loader.h) on an arbitrary site CSV against a
// fixed schema shaped like the breast-cancer example (two numeric features,
// one categorical, a two-class label); the first byte picks the missing-value
// policy, label matching, delimiter and label_optional. An accepted table
// must match the schema: width, labels and finite features.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/data/table_loader.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

namespace fedlearn {
namespace {

TableSchema MakeSchema(uint8_t flags) {
  TableSchema schema;
  schema.label_column = "diagnosis";
  schema.classes = {"benign", "malignant"};
  schema.features.push_back({"age", FeatureColumn::Type::kNumeric, {}});
  schema.features.push_back({"radius", FeatureColumn::Type::kNumeric, {}});
  schema.features.push_back(
      {"site", FeatureColumn::Type::kCategorical, {"left", "right", "both"}});
  schema.label_match =
      (flags & 1) ? LabelMatch::kCaseInsensitive : LabelMatch::kExact;
  static constexpr MissingValuePolicy kPolicies[] = {
      MissingValuePolicy::kError, MissingValuePolicy::kDropRow,
      MissingValuePolicy::kImputeMean, MissingValuePolicy::kDropRow};
  schema.missing = kPolicies[(flags >> 1) & 3];
  return schema;
}

}  // namespace
}  // namespace fedlearn

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedlearn;
  static const fuzz::ScratchFile* file = new fuzz::ScratchFile("table.csv");
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  if (!file->Write(std::string_view(reinterpret_cast<const char*>(data + 1),
                                    size - 1))) {
    return 0;
  }
  const TableSchema schema = MakeSchema(flags);
  SiteTableOptions options;
  options.path = file->path();
  options.delimiter = (flags & 8) ? ';' : ',';
  if (flags & 16) options.ignore_columns = {"id", ""};
  options.label_optional = (flags & 32) != 0;
  TableLoadReport report;
  absl::StatusOr<Dataset> dataset = LoadTable(schema, options, &report);
  if (!dataset.ok()) return 0;
  (void)report.Summary(schema);
  fuzz::FuzzCheck(
      dataset->sample_shape.size() == 1 && dataset->sample_shape[0] == 2 + 3,
      "encoded width differs from the schema's");
  fuzz::FuzzCheck(dataset->features.size() == dataset->labels.size() * 5,
                  "features and labels disagree");
  fuzz::FuzzCheck(dataset->num_classes == 2, "num_classes is not the schema's");
  for (float v : dataset->features) {
    fuzz::FuzzCheck(std::isfinite(v), "a non-finite feature was accepted");
  }
  for (int32_t label : dataset->labels) {
    fuzz::FuzzCheck(label == 0 || label == 1, "label outside the classes");
  }
  return 0;
}
