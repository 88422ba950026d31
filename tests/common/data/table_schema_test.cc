#include "common/data/table_schema.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TableSchema Hospital() {
  TableSchema s;
  s.label_column = "diagnosis";
  s.classes = {"malignant", "benign"};
  s.features = {{"radius", FeatureColumn::Type::kNumeric, {}},
                {"sex", FeatureColumn::Type::kCategorical, {"female", "male"}},
                {"age", FeatureColumn::Type::kNumeric, {}}};
  return s;
}

std::string ErrorOf(const TableSchema& s) {
  return std::string(s.Validate().message());
}

TEST(TableSchemaTest, AValidSchemaEncodesNumericAsOneAndCategoricalOneHot) {
  const TableSchema s = Hospital();
  ASSERT_TRUE(s.Validate().ok()) << s.Validate();
  EXPECT_EQ(s.EncodedWidth(), 4);
  EXPECT_THAT(s.NumericPositions(), ElementsAre(true, false, false, true));
}

TEST(TableSchemaTest, RefusesFewerThanTwoClasses) {
  TableSchema s = Hospital();
  s.classes = {"malignant"};
  EXPECT_EQ(s.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(s), HasSubstr("needs at least 2 classes, got 1"));
}

TEST(TableSchemaTest, RefusesClassesEqualAfterTrimming) {
  TableSchema s = Hospital();
  s.classes = {"benign", " malignant", "malignant "};
  EXPECT_THAT(ErrorOf(s),
              HasSubstr("class 2 (\"malignant \") repeats class 1"));
}

TEST(TableSchemaTest, ClassesDifferingInCaseCollideOnlyUnderCaseInsensitive) {
  TableSchema s = Hospital();
  s.classes = {"Benign", "benign"};
  EXPECT_TRUE(s.Validate().ok());
  s.label_match = LabelMatch::kCaseInsensitive;
  EXPECT_THAT(ErrorOf(s), HasSubstr("ignoring case"));
}

TEST(TableSchemaTest, RefusesEmptyNamesAndValues) {
  TableSchema s = Hospital();
  s.classes[1] = "  ";
  EXPECT_THAT(ErrorOf(s), HasSubstr("class 1 is empty"));
  s = Hospital();
  s.label_column = " ";
  EXPECT_THAT(ErrorOf(s), HasSubstr("label_column is empty"));
  s = Hospital();
  s.features[2].name = "";
  EXPECT_THAT(ErrorOf(s), HasSubstr("feature 2 has an empty name"));
  s = Hospital();
  s.features[1].categories = {"female", ""};
  EXPECT_THAT(ErrorOf(s), HasSubstr("category 1 is empty"));
}

TEST(TableSchemaTest, RefusesDuplicateColumnsIncludingTheLabel) {
  TableSchema s = Hospital();
  s.features[2].name = " radius";
  EXPECT_THAT(ErrorOf(s), HasSubstr("has the same name as feature 0"));
  s = Hospital();
  s.features[0].name = "diagnosis";
  EXPECT_THAT(ErrorOf(s), HasSubstr("has the same name as the label column"));
}

TEST(TableSchemaTest, ColumnNamesAreNotCaseFolded) {
  TableSchema s = Hospital();
  s.features[2].name = "Radius";
  EXPECT_TRUE(s.Validate().ok());
}

TEST(TableSchemaTest, RefusesNoFeaturesAndMistypedCategories) {
  TableSchema s = Hospital();
  s.features.clear();
  EXPECT_THAT(ErrorOf(s), HasSubstr("no feature columns"));
  s = Hospital();
  s.features[1].categories.clear();
  EXPECT_THAT(ErrorOf(s), HasSubstr("is categorical but lists no categories"));
  s = Hospital();
  s.features[0].categories = {"x"};
  EXPECT_THAT(ErrorOf(s), HasSubstr("is numeric but lists categories"));
  s = Hospital();
  s.features[1].categories = {"male", "MALE"};
  s.label_match = LabelMatch::kCaseInsensitive;
  EXPECT_THAT(ErrorOf(s),
              HasSubstr("category 1 (\"MALE\") repeats category 0"));
}

TEST(TableSchemaTest, RefusesAClassThatIsAlsoAMissingMarker) {
  TableSchema s = Hospital();
  s.classes = {"positive", "na"};
  EXPECT_THAT(ErrorOf(s), HasSubstr("\"na\" is also a missing-value marker"));
  s.missing_markers = {"-999"};
  EXPECT_TRUE(s.Validate().ok());
}

TEST(TableSchemaTest, MissingCellsAreBlankOrAMarkerIgnoringCase) {
  TableSchema s = Hospital();
  for (const char* cell :
       {"", "  ", "\t", "NA", "na", " n/a ", "NaN", "nan", "NULL", "null"}) {
    EXPECT_TRUE(s.IsMissing(cell)) << cell;
  }
  for (const char* cell : {"0", "-999", "none", "N", "NAN1"}) {
    EXPECT_FALSE(s.IsMissing(cell)) << cell;
  }
  s.missing_markers = {"-999"};
  EXPECT_TRUE(s.IsMissing(" -999"));
  EXPECT_FALSE(s.IsMissing("NA"));
  EXPECT_TRUE(s.IsMissing(""));
}

TEST(TableSchemaTest, ValueKeyTrimsAndFoldsCaseOnlyWhenAsked) {
  TableSchema s = Hospital();
  EXPECT_EQ(s.ValueKey("  Malignant\t"), "Malignant");
  s.label_match = LabelMatch::kCaseInsensitive;
  EXPECT_EQ(s.ValueKey("  Malignant\t"), "malignant");
}

TEST(TableSchemaTest, CanonicalStringIgnoresSurroundingSpaceOnly) {
  TableSchema a = Hospital();
  TableSchema b = Hospital();
  b.classes[0] = " malignant ";
  b.features[0].name = "radius\t";
  EXPECT_EQ(a.CanonicalString(), b.CanonicalString());

  auto differs = [&a](auto&& change) {
    TableSchema c = a;
    change(c);
    return c.CanonicalString() != a.CanonicalString();
  };
  EXPECT_TRUE(
      differs([](TableSchema& c) { std::swap(c.classes[0], c.classes[1]); }));
  EXPECT_TRUE(
      differs([](TableSchema& c) { std::swap(c.features[0], c.features[2]); }));
  EXPECT_TRUE(differs(
      [](TableSchema& c) { c.label_match = LabelMatch::kCaseInsensitive; }));
  EXPECT_TRUE(differs(
      [](TableSchema& c) { c.missing = MissingValuePolicy::kDropRow; }));
  EXPECT_TRUE(differs([](TableSchema& c) { c.missing_markers = {"NA"}; }));
  EXPECT_TRUE(differs([](TableSchema& c) {
    c.features[1].categories = {"male", "female"};
  }));
  EXPECT_TRUE(differs([](TableSchema& c) {
    c.features[1].type = FeatureColumn::Type::kNumeric;
  }));
  EXPECT_TRUE(differs([](TableSchema& c) { c.label_column = "Diagnosis"; }));
}

TEST(TableSchemaTest, CanonicalStringIsUnambiguousAboutBoundaries) {
  TableSchema a = Hospital();
  TableSchema b = Hospital();
  a.classes = {"a b", "c"};
  b.classes = {"a", "b c"};
  EXPECT_NE(a.CanonicalString(), b.CanonicalString());
  a.classes = {"x\ny", "z"};
  b.classes = {"x", "y\nz"};
  EXPECT_NE(a.CanonicalString(), b.CanonicalString());
}

TEST(TableSchemaTest, ConfigSpellingsRoundTripAndUnknownOnesListTheChoices) {
  for (LabelMatch m : {LabelMatch::kExact, LabelMatch::kCaseInsensitive}) {
    EXPECT_EQ(*ParseLabelMatch(LabelMatchName(m)), m);
  }
  for (MissingValuePolicy p :
       {MissingValuePolicy::kError, MissingValuePolicy::kDropRow,
        MissingValuePolicy::kImputeMean}) {
    EXPECT_EQ(*ParseMissingValuePolicy(MissingValuePolicyName(p)), p);
  }
  for (FeatureColumn::Type t :
       {FeatureColumn::Type::kNumeric, FeatureColumn::Type::kCategorical}) {
    EXPECT_EQ(*ParseFeatureType(FeatureTypeName(t)), t);
  }
  EXPECT_THAT(ParseLabelMatch("Exact").status().message(),
              HasSubstr("\"exact\", \"case-insensitive\""));
  EXPECT_THAT(ParseMissingValuePolicy("drop").status().message(),
              HasSubstr("\"error\", \"drop-row\", \"impute-mean\""));
  EXPECT_THAT(ParseFeatureType("float").status().message(),
              HasSubstr("\"numeric\", \"categorical\""));
}

}  // namespace
}  // namespace fedlearn
