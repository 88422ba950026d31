#include "common/data/table_loader.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/data/csv_parser.h"
#include "common/data/table_schema.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/scratch_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

using Type = FeatureColumn::Type;

TableSchema Schema() {
  TableSchema s;
  s.label_column = "diagnosis";
  s.classes = {"malignant", "benign"};
  s.features = {{"radius", Type::kNumeric, {}}, {"area", Type::kNumeric, {}}};
  return s;
}

class TableLoaderTest : public ScratchDirTest {
 protected:
  absl::StatusOr<Dataset> Load(const std::string& csv,
                               const TableSchema& schema = Schema()) {
    options_.path = Write(csv);
    return LoadTable(schema, options_, &report_);
  }
  std::string ErrorFor(const std::string& csv,
                       const TableSchema& schema = Schema()) {
    const absl::StatusOr<Dataset> data = Load(csv, schema);
    EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(data.status().message());
  }

  SiteTableOptions options_;
  TableLoadReport report_;
};

TEST_F(TableLoaderTest, FindsColumnsByNameAndEmitsThemInSchemaOrder) {
  absl::StatusOr<Dataset> data =
      Load("area,diagnosis,radius\n100,benign,1.5\n200,malignant,2.5\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->sample_shape, ElementsAre(2));
  EXPECT_THAT(data->features, ElementsAre(1.5f, 100, 2.5f, 200));
  EXPECT_THAT(data->labels, ElementsAre(1, 0));
  EXPECT_EQ(data->num_classes, 2);
  EXPECT_THAT(data->class_names, ElementsAre("malignant", "benign"));
}

TEST_F(TableLoaderTest, ClassIndicesComeFromTheSchemaNotFromSorting) {
  // Sorting would make "benign" class 0; the schema says "malignant" is.
  absl::StatusOr<Dataset> data =
      Load("radius,area,diagnosis\n1,2,benign\n3,4,malignant\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->labels, ElementsAre(1, 0));
}

TEST_F(TableLoaderTest, QuotedAndPaddedLabelsMatchUnderCrlf) {
  absl::StatusOr<Dataset> data = Load(
      "\xEF\xBB\xBF\"radius\",\"area\",\"diagnosis\"\r\n"
      "1,2,\"malignant\"\r\n"
      "3,4, benign \r\n"
      "5,6,\" malignant\"\r\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->labels, ElementsAre(0, 1, 0));
  EXPECT_THAT(data->features, ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST_F(TableLoaderTest, AnIgnoredIdColumnIsSkipped) {
  options_.ignore_columns = {"patient_id", "visit date"};
  absl::StatusOr<Dataset> data = Load(
      "patient_id,radius,visit date,area,diagnosis\n"
      "\"P-001, ward 3\",1,2024-01-02,2,benign\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features, ElementsAre(1, 2));
}

TEST_F(TableLoaderTest, AnUndeclaredColumnIsRefusedByName) {
  const std::string error =
      ErrorFor("patient_id,radius,area,diagnosis,notes\n1,1,2,benign,x\n");
  EXPECT_THAT(error, HasSubstr("data.csv"));
  EXPECT_THAT(error,
              HasSubstr("columns \"patient_id\", \"notes\" that the run's "
                        "schema does not declare"));
  EXPECT_THAT(error, HasSubstr("ignore_columns"));
}

TEST_F(TableLoaderTest, AnUnnamedIndexColumnCanBeIgnoredAsEmptyName) {
  EXPECT_THAT(ErrorFor(",radius,area,diagnosis\n0,1,2,benign\n"),
              HasSubstr("\"\" names an unnamed column"));
  options_.ignore_columns = {""};
  EXPECT_TRUE(Load(",radius,area,diagnosis\n0,1,2,benign\n").ok());
}

TEST_F(TableLoaderTest, MissingColumnsAreAllListed) {
  const std::string error = ErrorFor("Radius,label\n1,benign\n");
  EXPECT_THAT(error, HasSubstr("lacks columns \"diagnosis\", \"radius\", "
                               "\"area\" that the run's schema requires"));
  EXPECT_THAT(error, HasSubstr("including case"));
}

TEST_F(TableLoaderTest, IgnoringARequiredColumnIsRefused) {
  options_.ignore_columns = {"area"};
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n1,2,benign\n"),
              HasSubstr("ignore_columns lists \"area\", which the run's "
                        "schema requires"));
}

TEST_F(TableLoaderTest, ARequiredColumnNamedTwiceIsRefused) {
  EXPECT_THAT(ErrorFor("radius,area,radius,diagnosis\n1,2,3,benign\n"),
              HasSubstr("names \"radius\" more than once"));
}

TEST_F(TableLoaderTest, UnknownLabelsAreNamedWithCountsLinesAndTheClasses) {
  const std::string error = ErrorFor(
      "radius,area,diagnosis\n"
      "1,2,benign\n"
      "1,2,unsure\n"
      "1,2,Malignant\n"
      "1,2,Malignant\n");
  EXPECT_THAT(error,
              HasSubstr("label column \"diagnosis\" holds values that are not "
                        "declared classes: \"unsure\" (1 row, line 3), "
                        "\"Malignant\" (2 rows, first at line 4; matches "
                        "\"malignant\" ignoring case)"));
  EXPECT_THAT(error, HasSubstr("declared classes: \"malignant\", \"benign\""));
  EXPECT_THAT(error, HasSubstr("label_match = \"case-insensitive\""));
}

TEST_F(TableLoaderTest, NoCaseHintWhenNoValueMatchesIgnoringCase) {
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n1,2,unsure\n"),
              Not(HasSubstr("case-insensitive")));
}

TEST_F(TableLoaderTest, CaseInsensitiveMatchingAcceptsOnlyWhenConfigured) {
  const std::string csv = "radius,area,diagnosis\n1,2,MALIGNANT\n3,4,Benign\n";
  EXPECT_FALSE(Load(csv).ok());
  TableSchema schema = Schema();
  schema.label_match = LabelMatch::kCaseInsensitive;
  absl::StatusOr<Dataset> data = Load(csv, schema);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->labels, ElementsAre(0, 1));
  EXPECT_THAT(data->class_names, ElementsAre("malignant", "benign"));
}

TEST_F(TableLoaderTest, ASiteHoldingOneClassLoadsWithTheFullVocabulary) {
  absl::StatusOr<Dataset> data =
      Load("radius,area,diagnosis\n1,2,benign\n3,4,benign\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes, 2);
  EXPECT_THAT(data->labels, ElementsAre(1, 1));
  EXPECT_THAT(report_.class_counts, ElementsAre(0, 2));
}

TEST_F(TableLoaderTest, CategoricalColumnsAreOneHotInDeclaredOrder) {
  TableSchema schema = Schema();
  schema.features.insert(
      schema.features.begin() + 1,
      {"sex", Type::kCategorical, {"female", "male", "other"}});
  absl::StatusOr<Dataset> data = Load(
      "sex,radius,area,diagnosis\n"
      "male,1,2,benign\n"
      "\"female\",3,4,benign\n"
      " other ,5,6,benign\n",
      schema);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->sample_shape, ElementsAre(5));
  EXPECT_THAT(data->features, ElementsAre(1, 0, 1, 0, 2,  //
                                          3, 1, 0, 0, 4,  //
                                          5, 0, 0, 1, 6));
}

TEST_F(TableLoaderTest, UnknownCategoriesAreNamed) {
  TableSchema schema = Schema();
  schema.features.push_back({"sex", Type::kCategorical, {"female", "male"}});
  const std::string error = ErrorFor(
      "sex,radius,area,diagnosis\nM,1,2,benign\nMale,1,2,benign\n", schema);
  EXPECT_THAT(error, HasSubstr("column \"sex\" holds values that are not "
                               "declared categories: \"M\" (1 row, line 2), "
                               "\"Male\" (1 row, line 3; matches \"male\""));
  EXPECT_THAT(error, HasSubstr("declared categories: \"female\", \"male\""));
}

TEST_F(TableLoaderTest, NonNumericAndNonFiniteCellsNameLineAndColumn) {
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n1,2,benign\n1,abc,benign\n"),
              HasSubstr("line 3, column \"area\": \"abc\" is not a number"));
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\ninf,2,benign\n"),
              HasSubstr("line 2, column \"radius\": \"inf\" is not a finite"));
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n1e39,2,benign\n"),
              HasSubstr("is not a finite float"));
  options_.delimiter = ';';
  EXPECT_THAT(ErrorFor("radius;area;diagnosis\n1,5;2;benign\n"),
              HasSubstr("decimal commas are not supported"));
}

TEST_F(TableLoaderTest, AcceptsSignsAndExponents) {
  absl::StatusOr<Dataset> data =
      Load("radius,area,diagnosis\n+1.5,-2e2,benign\n");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features, ElementsAre(1.5f, -200));
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n+-1,2,benign\n"),
              HasSubstr("is not a number"));
}

TEST_F(TableLoaderTest, ARaggedRecordNamesItsLine) {
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n1,2,benign\n1,2\n"),
              HasSubstr("line 3 has 2 fields, the header has 3"));
}

TEST_F(TableLoaderTest, MissingCellsUnderErrorPolicyNameTheFirstFew) {
  const std::string error = ErrorFor(
      "radius,area,diagnosis\n"
      "1,,benign\n"
      "NA,2,benign\n"
      "1,2, \n"
      "null,N/A,NaN\n");
  EXPECT_THAT(error, HasSubstr("6 missing cells (empty, or one of \"NA\", "
                               "\"N/A\", \"NaN\", \"NULL\") and the run's "
                               "missing-value policy is \"error\""));
  EXPECT_THAT(error, HasSubstr("line 2 column \"area\", line 3 column "
                               "\"radius\", line 4 column \"diagnosis\""));
  EXPECT_THAT(error, HasSubstr("1 more"));
  EXPECT_THAT(error, HasSubstr("per column: \"diagnosis\" 2, \"radius\" 2, "
                               "\"area\" 2"));
  EXPECT_THAT(error, HasSubstr("missing = \"drop-row\" or \"impute-mean\""));
}

TEST_F(TableLoaderTest, DropRowPolicyDropsAndCounts) {
  TableSchema schema = Schema();
  schema.missing = MissingValuePolicy::kDropRow;
  absl::StatusOr<Dataset> data = Load(
      "radius,area,diagnosis\n"
      "1,2,benign\n"
      "NA,3,benign\n"
      "4,,\n"
      "5,6,malignant\n",
      schema);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features, ElementsAre(1, 2, 5, 6));
  EXPECT_THAT(data->labels, ElementsAre(1, 0));
  EXPECT_EQ(report_.rows_read, 4u);
  EXPECT_EQ(report_.rows_used, 2u);
  EXPECT_EQ(report_.rows_dropped, 2u);
  EXPECT_EQ(report_.cells_imputed, 0u);
  EXPECT_THAT(
      report_.missing_by_column,
      ElementsAre(Pair("area", 1), Pair("diagnosis", 1), Pair("radius", 1)));
  EXPECT_THAT(report_.class_counts, ElementsAre(1, 1));
  EXPECT_EQ(report_.Summary(schema),
            "4 rows read, 2 used, 2 dropped, 0 cells imputed; missing: area 1, "
            "diagnosis 1, radius 1; classes: malignant 1, benign 1");
}

TEST_F(TableLoaderTest, DropRowPolicyRefusesAFileWithNoCompleteRow) {
  TableSchema schema = Schema();
  schema.missing = MissingValuePolicy::kDropRow;
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n,1,benign\n", schema),
              HasSubstr("dropped them all"));
}

TEST_F(TableLoaderTest, ImputeMeanUsesTheSitesOwnPresentValues) {
  TableSchema schema = Schema();
  schema.missing = MissingValuePolicy::kImputeMean;
  schema.features.push_back({"sex", Type::kCategorical, {"female", "male"}});
  absl::StatusOr<Dataset> data = Load(
      "radius,area,sex,diagnosis\n"
      "1,10,male,benign\n"
      "NA,20,female,benign\n"
      "5,,male,malignant\n"
      "3,30,,malignant\n",
      schema);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features,
              ElementsAre(1, 10, 0, 1,  //
                          3, 20, 1, 0,  // radius: mean of 1, 5, 3
                          5, 20, 0, 1,  // area: mean of 10, 20, 30
                          3, 30, 1.0f / 3, 2.0f / 3));  // sex frequencies
  EXPECT_EQ(report_.rows_used, 4u);
  EXPECT_EQ(report_.cells_imputed, 3u);
  EXPECT_THAT(report_.missing_by_column,
              ElementsAre(Pair("area", 1), Pair("radius", 1), Pair("sex", 1)));
}

TEST_F(TableLoaderTest, ImputeMeanNeverImputesALabel) {
  TableSchema schema = Schema();
  schema.missing = MissingValuePolicy::kImputeMean;
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n1,2,benign\n1,2,\n", schema),
              HasSubstr("1 row has a missing label"));
}

TEST_F(TableLoaderTest, ImputeMeanRefusesAColumnWithNoValues) {
  TableSchema schema = Schema();
  schema.missing = MissingValuePolicy::kImputeMean;
  EXPECT_THAT(
      ErrorFor("radius,area,diagnosis\n1,,benign\n2,NA,benign\n", schema),
      HasSubstr("column \"area\" has no values at all to impute"));
}

TEST_F(TableLoaderTest, ADeclaredSentinelCountsAsMissing) {
  TableSchema schema = Schema();
  schema.missing = MissingValuePolicy::kDropRow;
  schema.missing_markers = {"-999"};
  absl::StatusOr<Dataset> data =
      Load("radius,area,diagnosis\n-999,2,benign\n3,4,benign\n", schema);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features, ElementsAre(3, 4));
}

TEST_F(TableLoaderTest, AHugeCellIsTruncatedAndEscapedInTheError) {
  const std::string huge = "\x1b[31m" + std::string(1 << 20, 'x');
  const std::string error =
      ErrorFor("radius,area,diagnosis\n1,2,\"" + huge + "\"\n");
  EXPECT_LT(error.size(), 1000u);
  EXPECT_THAT(error, HasSubstr("\"\\x1b[31mxxx"));
  EXPECT_THAT(error, HasSubstr("(1048581 bytes)"));
  EXPECT_THAT(error, Not(HasSubstr("\x1b")));
}

TEST_F(TableLoaderTest, ManyDistinctBadLabelsAreSummarised) {
  std::string csv = "radius,area,diagnosis\n";
  for (int i = 0; i < 50; ++i) csv += "1,2,v" + std::to_string(i) + "\n";
  const std::string error = ErrorFor(csv);
  EXPECT_THAT(error, HasSubstr("\"v9\" (1 row, line 11)"));
  EXPECT_THAT(error, Not(HasSubstr("\"v10\"")));
  EXPECT_THAT(error, HasSubstr("40 more rows with other values"));
}

TEST_F(TableLoaderTest, RefusesAnInvalidSchemaEmptyFileAndHeaderOnly) {
  TableSchema one_class = Schema();
  one_class.classes = {"benign"};
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n1,2,benign\n", one_class),
              HasSubstr("table schema: needs at least 2 classes"));
  EXPECT_THAT(ErrorFor("\n\n"), HasSubstr("file is empty"));
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n"), HasSubstr("no data rows"));
}

TEST_F(TableLoaderTest, TabAndSemicolonDelimitedExportsLoad) {
  options_.delimiter = '\t';
  absl::StatusOr<Dataset> tab = Load("radius\tarea\tdiagnosis\n1\t2\tbenign\n");
  ASSERT_TRUE(tab.ok()) << tab.status();
  options_.delimiter = ';';
  absl::StatusOr<Dataset> semi = Load("radius;area;diagnosis\n1;2;benign\n");
  ASSERT_TRUE(semi.ok()) << semi.status();
  EXPECT_EQ(tab->features, semi->features);
}

TEST_F(TableLoaderTest, AnUnterminatedQuoteIsAnErrorWithItsLine) {
  EXPECT_THAT(ErrorFor("radius,area,diagnosis\n1,2,benign\n1,2,\"benign\n"),
              HasSubstr("line 3: quoted field is never closed"));
}

TEST(TableLoaderFileTest, VendoredBreastCancerLoadsAgainstItsSchema) {
  TableSchema schema;
  schema.label_column = "diagnosis";
  schema.classes = {"malignant", "benign"};
  SiteTableOptions options;
  options.path = FEDLEARN_SOURCE_DIR "/examples/hospital/breast_cancer.csv";
  // The header names every feature; declare them all as numeric.
  std::vector<std::string> header;
  const absl::Status read_header =
      ParseCsvFile(options.path, ',', [&header](const CsvRecord& r) {
        header = r.fields;
        return absl::CancelledError("header read");
      });
  ASSERT_EQ(read_header.code(), absl::StatusCode::kCancelled) << read_header;
  for (const std::string& name : header) {
    if (name != "diagnosis")
      schema.features.push_back({name, Type::kNumeric, {}});
  }
  TableLoadReport report;
  absl::StatusOr<Dataset> data = LoadTable(schema, options, &report);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 569u);
  EXPECT_THAT(data->sample_shape, ElementsAre(30));
  EXPECT_THAT(report.class_counts, ElementsAre(212, 357));
}

}  // namespace
}  // namespace fedlearn
