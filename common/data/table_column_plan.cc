#include "common/data/table_column_plan.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"

namespace fedlearn {
namespace table_internal {
namespace {

ColumnPlan MakePlan(const TableSchema& schema, absl::string_view name,
                    bool is_label, FeatureColumn::Type type,
                    const std::vector<std::string>& values, int64_t offset) {
  ColumnPlan plan;
  plan.name = std::string(name);
  plan.is_label = is_label;
  plan.type = type;
  plan.offset = offset;
  for (size_t i = 0; i < values.size(); ++i) {
    plan.index.emplace(schema.ValueKey(values[i]), static_cast<int32_t>(i));
    plan.declared.emplace_back(Trimmed(values[i]));
  }
  return plan;
}

}  // namespace

absl::string_view Trimmed(absl::string_view s) {
  return absl::StripAsciiWhitespace(s);
}

std::vector<ColumnPlan> PlanColumns(const TableSchema& schema,
                                    const CsvRecord& header,
                                    bool label_optional) {
  const absl::string_view label = Trimmed(schema.label_column);
  const bool label_in_file = std::any_of(
      header.fields.begin(), header.fields.end(),
      [label](const std::string& f) { return Trimmed(f) == label; });
  std::vector<ColumnPlan> plans;
  if (label_in_file || !label_optional) {
    plans.push_back(MakePlan(schema, label, true,
                             FeatureColumn::Type::kCategorical, schema.classes,
                             0));
  }
  int64_t offset = 0;
  for (const FeatureColumn& f : schema.features) {
    plans.push_back(
        MakePlan(schema, Trimmed(f.name), false, f.type, f.categories, offset));
    offset += plans.back().EncodedWidth();
  }
  return plans;
}

HeaderMismatch MatchHeader(const CsvRecord& header,
                           const std::vector<std::string>& ignore_columns,
                           std::vector<ColumnPlan>& plans) {
  std::map<absl::string_view, std::vector<size_t>> positions;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    positions[Trimmed(header.fields[i])].push_back(i);
  }
  std::set<absl::string_view> ignored;
  for (const std::string& name : ignore_columns) ignored.insert(Trimmed(name));

  HeaderMismatch mismatch;
  for (ColumnPlan& plan : plans) {
    if (ignored.count(plan.name) > 0)
      mismatch.contradictory.push_back(plan.name);
    const auto it = positions.find(plan.name);
    if (it == positions.end()) {
      mismatch.absent.push_back(plan.name);
    } else if (it->second.size() > 1) {
      mismatch.twice.push_back(plan.name);
    } else {
      plan.file_index = it->second[0];
    }
  }
  std::set<absl::string_view> schema_names;
  for (const ColumnPlan& plan : plans) schema_names.insert(plan.name);
  for (const auto& [name, where] : positions) {
    if (schema_names.count(name) == 0 && ignored.count(name) == 0) {
      mismatch.extra.emplace_back(name);
      mismatch.unnamed_extra |= name.empty();
    }
  }
  // Report in file order.
  std::sort(mismatch.extra.begin(), mismatch.extra.end(),
            [&](const std::string& a, const std::string& b) {
              return positions[a][0] < positions[b][0];
            });
  return mismatch;
}

void NoteBadValue(ColumnPlan& plan, absl::string_view value, size_t line) {
  std::string key(value.substr(0, kMaxValueKeyBytes));
  auto it = plan.bad_values.find(key);
  if (it == plan.bad_values.end()) {
    if (plan.bad_values.size() >= kMaxListedValues) {
      ++plan.unlisted_bad_rows;
      return;
    }
    plan.bad_order.push_back(key);
    it = plan.bad_values
             .emplace(std::move(key), BadValue{0, line, QuotedExcerpt(value)})
             .first;
  }
  ++it->second.rows;
}

}  // namespace table_internal
}  // namespace fedlearn
