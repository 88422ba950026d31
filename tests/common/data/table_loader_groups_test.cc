// Federated evaluation's group attribute in LoadTable
// (SiteTableOptions::group_column): one group index per kept row.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/data/data_source.h"
#include "common/data/holdout_split.h"
#include "common/data/table_loader.h"
#include "common/data/table_schema.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/scratch_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Type = FeatureColumn::Type;

TableSchema Schema() {
  TableSchema s;
  s.label_column = "diagnosis";
  s.classes = {"malignant", "benign"};
  s.features = {{"radius", Type::kNumeric, {}},
                {"sex", Type::kCategorical, {"female", "male"}}};
  return s;
}

class TableLoaderGroupsTest : public ScratchDirTest {
 protected:
  absl::StatusOr<Dataset> Load(const std::string& csv,
                               const TableSchema& schema = Schema()) {
    options_.path = Write(csv);
    return LoadTable(schema, options_, nullptr);
  }
  SiteTableOptions options_;
};

TEST_F(TableLoaderGroupsTest, WithoutAGroupColumnThereAreNoGroups) {
  absl::StatusOr<Dataset> data =
      Load("radius,sex,diagnosis\n1,female,benign\n2,male,malignant\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->groups, IsEmpty());
}

TEST_F(TableLoaderGroupsTest, AFeatureColumnGivesEachRowItsGroupIndex) {
  options_.group_column = "sex";
  options_.groups = {"male", "female"};  // group order is the spec's
  absl::StatusOr<Dataset> data = Load(
      "radius,sex,diagnosis\n1,female,benign\n2,male,malignant\n"
      "3, male ,benign\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->groups, ElementsAre(1, 0, 0));
  // Still encoded as a feature.
  EXPECT_THAT(data->features, ElementsAre(1, 1, 0, 2, 0, 1, 3, 0, 1));
}

TEST_F(TableLoaderGroupsTest, AColumnOutsideTheSchemaIsReadNotEncoded) {
  options_.group_column = "age_band";
  options_.groups = {"<40", "40-65", ">65"};
  absl::StatusOr<Dataset> data = Load(
      "radius,age_band,sex,diagnosis\n"
      "1,40-65,female,benign\n"
      "2,NA,male,malignant\n"    // missing
      "3,unknown,male,benign\n"  // not declared
      "4,>65,female,malignant\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->groups, ElementsAre(1, -1, -1, 2));
  EXPECT_EQ(data->SampleNumel(), 3);  // radius + sex one-hot, no age_band
}

TEST_F(TableLoaderGroupsTest, AFileWithoutTheColumnHasUnknownGroups) {
  options_.group_column = "age_band";
  options_.groups = {"young", "old"};
  absl::StatusOr<Dataset> data =
      Load("radius,sex,diagnosis\n1,female,benign\n2,male,malignant\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->groups, ElementsAre(-1, -1));
}

TEST_F(TableLoaderGroupsTest, GroupsFollowLabelMatchAndDroppedRows) {
  TableSchema schema = Schema();
  schema.label_match = LabelMatch::kCaseInsensitive;
  schema.missing = MissingValuePolicy::kDropRow;
  options_.group_column = "site";
  options_.groups = {"North", "South"};
  absl::StatusOr<Dataset> data = Load(
      "radius,sex,diagnosis,site\n"
      "1,female,benign,north\n"
      ",male,malignant,South\n"  // dropped: its group goes with it
      "3,male,benign,SOUTH\n",
      schema);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->labels, ElementsAre(1, 1));
  EXPECT_THAT(data->groups, ElementsAre(0, 1));
}

TEST_F(TableLoaderGroupsTest, DataSourceCarriesTheGroupsThroughASplit) {
  std::string csv = "radius,sex,diagnosis\n";
  for (int i = 0; i < 40; ++i) {
    csv += std::to_string(i) + (i % 3 == 0 ? ",male," : ",female,") +
           (i % 2 == 0 ? "benign\n" : "malignant\n");
  }
  DataSourceConfig source;
  source.kind = "csv";
  source.path = Write(csv);
  source.group_column = "sex";
  source.groups = {"female", "male"};
  const TableSchema schema = Schema();
  absl::StatusOr<Dataset> data = LoadDataSource(source, "train", &schema);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->groups.size(), 40u);
  absl::StatusOr<HoldoutSplit> split = SplitHoldout(*data, 0.25, 1);
  ASSERT_TRUE(split.ok()) << split.status();
  for (const Dataset* part : {&split->train, &split->holdout}) {
    ASSERT_EQ(part->groups.size(), part->size());
    for (size_t k = 0; k < part->size(); ++k) {
      const int id = static_cast<int>(part->features[k * 3]);  // radius
      EXPECT_EQ(part->groups[k], id % 3 == 0 ? 1 : 0) << id;
    }
  }
}

}  // namespace
}  // namespace fedlearn
