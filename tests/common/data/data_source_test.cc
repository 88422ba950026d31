#include "common/data/data_source.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/scratch_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TableSchema Schema() {
  TableSchema s;
  s.label_column = "diagnosis";
  s.classes = {"malignant", "benign"};
  s.features = {{"radius", FeatureColumn::Type::kNumeric, {}}};
  return s;
}

class DataSourceTest : public ScratchDirTest {};

TEST_F(DataSourceTest, WithASchemaCsvLoadsRawThroughTheSchema) {
  DataSourceConfig source;
  source.kind = "csv";
  source.path = Write("id;radius;diagnosis\n7;1;benign\n8;3;benign\n");
  source.delimiter = ';';
  source.ignore_columns = {"id"};
  const TableSchema schema = Schema();
  TableLoadReport report;
  absl::StatusOr<Dataset> data =
      LoadDataSource(source, "train", &schema, &report);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features, ElementsAre(1, 3));  // Not standardised.
  EXPECT_EQ(data->num_classes, 2);
  EXPECT_EQ(report.rows_used, 2u);
}

TEST_F(DataSourceTest, WithoutASchemaCsvIsStandardisedAsBefore) {
  DataSourceConfig source;
  source.kind = "csv";
  source.path = Write("id\tradius\tlabel\n7\t1\tb\n8\t3\ta\n");
  source.delimiter = '\t';
  source.ignore_columns = {"id"};
  absl::StatusOr<Dataset> data = LoadDataSource(source, "train");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features, ElementsAre(-1, 1));
  EXPECT_THAT(data->class_names, ElementsAre("a", "b"));
}

TEST_F(DataSourceTest, ASchemaForANonCsvKindIsRefused) {
  DataSourceConfig source;
  source.kind = "fashion-mnist";
  const TableSchema schema = Schema();
  absl::StatusOr<Dataset> data = LoadDataSource(source, "train", &schema);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(),
              HasSubstr("only to dataset kind \"csv\""));
}

TEST(DataSourceOfKindTest, SetsKindAndPathAndLeavesTheRestAtTheDefaults) {
  const DataSourceConfig defaults;
  const DataSourceConfig source = DataSourceOfKind("csv", "/data/t.csv");
  EXPECT_EQ(source.kind, "csv");
  EXPECT_EQ(source.path, "/data/t.csv");
  EXPECT_EQ(source.label_column, defaults.label_column);
  EXPECT_EQ(source.label_column, "label");
  EXPECT_EQ(source.delimiter, defaults.delimiter);
  EXPECT_TRUE(source.ignore_columns.empty());
  EXPECT_TRUE(source.group_column.empty());
  EXPECT_TRUE(source.groups.empty());
  EXPECT_TRUE(DataSourceOfKind("fashion-mnist").path.empty());
}

}  // namespace
}  // namespace fedlearn
