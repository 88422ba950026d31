#include "common/data/csv_reader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/data/feature_standardizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/scratch_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class CsvFilesTest : public ScratchDirTest {
 protected:
  // Loads `text` and returns the error message (empty if it loaded).
  std::string ErrorFor(const std::string& text, CsvOptions options = {}) {
    return std::string(LoadCsvDataset(Write(text), options).status().message());
  }
};

TEST_F(CsvFilesTest, ReadsLabelColumnFromTheMiddleAndTrimsFields) {
  absl::StatusOr<Dataset> data = LoadCsvDataset(Write("radius, label ,area\r\n"
                                                      "1.5, b ,10\r\n"
                                                      "\n"
                                                      "-2e1,a,  20 \r\n"
                                                      "3,b,30\r\n"),
                                                {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->sample_shape, ElementsAre(2));
  EXPECT_THAT(data->features, ElementsAre(1.5f, 10, -20, 20, 3, 30));
  EXPECT_THAT(data->class_names, ElementsAre("a", "b"));
  EXPECT_THAT(data->labels, ElementsAre(1, 0, 1));
  EXPECT_EQ(data->num_classes, 2);
}

TEST_F(CsvFilesTest, SortsNumericLabelsNumerically) {
  absl::StatusOr<Dataset> data =
      LoadCsvDataset(Write("x,label\n0,10\n1,9\n2,2\n3,9\n"), {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->class_names, ElementsAre("2", "9", "10"));
  EXPECT_THAT(data->labels, ElementsAre(2, 1, 0, 1));
}

TEST_F(CsvFilesTest, GivenLabelValuesFixClassOrder) {
  CsvOptions options;
  options.label_values = {"yes", "no"};
  absl::StatusOr<Dataset> data =
      LoadCsvDataset(Write("x,label\n0,no\n1,yes\n"), options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->class_names, ElementsAre("yes", "no"));
  EXPECT_THAT(data->labels, ElementsAre(1, 0));
}

TEST_F(CsvFilesTest, ReadsHeaderlessFileWithLabelIndexAndDelimiter) {
  CsvOptions options;
  options.has_header = false;
  options.label_column = "0";
  options.delimiter = ';';
  absl::StatusOr<Dataset> data =
      LoadCsvDataset(Write("cat;1;2\ndog;3;4\n"), options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features, ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(data->labels, ElementsAre(0, 1));
}

TEST_F(CsvFilesTest, ReadsQuotedFieldsHoldingDelimitersAndLineBreaks) {
  absl::StatusOr<Dataset> data = LoadCsvDataset(
      Write("x,label\n1,\"a, \"\"quoted\"\"\"\n2,\"two\nlines\"\n3,b\n"), {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->class_names,
              ElementsAre("a, \"quoted\"", "b", "two\nlines"));
  EXPECT_THAT(data->labels, ElementsAre(0, 2, 1));
}

TEST_F(CsvFilesTest, SkipsIgnoredColumns) {
  CsvOptions options;
  options.ignore_columns = {"id"};
  absl::StatusOr<Dataset> data =
      LoadCsvDataset(Write("id,x,label\n7,1,a\n8,2,b\n"), options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->sample_shape, ElementsAre(1));
  EXPECT_THAT(data->features, ElementsAre(1, 2));
}

TEST_F(CsvFilesTest, RejectsRaggedRowNamingLineAndWidths) {
  EXPECT_THAT(ErrorFor("a,b,label\n1,2,x\n1,2,x,4\n"),
              HasSubstr("line 3 has 4 fields, header has 3"));
}

TEST_F(CsvFilesTest, RejectsNonNumericCellNamingLineAndColumn) {
  EXPECT_THAT(ErrorFor("radius,label\n1,x\nabc,y\n"),
              HasSubstr("line 3, column 'radius': 'abc' is not a number"));
}

TEST_F(CsvFilesTest, RejectsNumberWithTrailingGarbage) {
  EXPECT_THAT(ErrorFor("radius,label\n1.5x,a\n"),
              HasSubstr("'1.5x' is not a number"));
}

TEST_F(CsvFilesTest, RejectsEmptyCell) {
  EXPECT_THAT(ErrorFor("a,b,label\n1,,x\n"),
              HasSubstr("line 2, column 'b': '' is not a number"));
}

TEST_F(CsvFilesTest, RejectsNanAndInfinity) {
  EXPECT_THAT(ErrorFor("a,label\nnan,x\n"),
              HasSubstr("line 2, column 'a': 'nan' is not a finite float"));
  EXPECT_THAT(ErrorFor("a,label\n-inf,x\n"),
              HasSubstr("is not a finite float"));
  EXPECT_THAT(ErrorFor("a,label\n1e39,x\n"),
              HasSubstr("is not a finite float"));
}

TEST_F(CsvFilesTest, RejectsUnknownLabelValue) {
  CsvOptions options;
  options.label_values = {"benign", "malignant"};
  EXPECT_THAT(ErrorFor("a,label\n1,benign\n2,unsure\n", options),
              HasSubstr("unknown label value 'unsure' at line 3"));
}

TEST_F(CsvFilesTest, RejectsMissingLabelColumn) {
  CsvOptions options;
  options.label_column = "diagnosis";
  EXPECT_THAT(ErrorFor("a,label\n1,x\n", options),
              HasSubstr("no label column 'diagnosis'"));
}

TEST_F(CsvFilesTest, RejectsEmptyFileAndHeaderOnlyFile) {
  EXPECT_THAT(ErrorFor(""), HasSubstr("file is empty"));
  EXPECT_THAT(ErrorFor(" \n\n"), HasSubstr("file is empty"));
  EXPECT_THAT(ErrorFor("a,label\n"), HasSubstr("no data rows"));
}

TEST_F(CsvFilesTest, MissingFileIsNotFound) {
  const std::string missing = (dir_ / "absent.csv").string();
  absl::StatusOr<Dataset> data = LoadCsvDataset(missing, {});
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(), HasSubstr(missing));
}

TEST_F(CsvFilesTest, StandardizedColumnsHaveZeroMeanAndUnitStddev) {
  absl::StatusOr<Dataset> data = LoadCsvDataset(
      Write("a,b,const,label\n1,100,7,x\n2,300,7,y\n3,200,7,x\n10,1000,7,y\n"),
      {});
  ASSERT_TRUE(data.ok()) << data.status();
  const FeatureStandardizer standardizer = FeatureStandardizer::Fit(*data);
  EXPECT_FLOAT_EQ(standardizer.mean[0], 4.0f);
  EXPECT_FLOAT_EQ(standardizer.stddev[2], 1.0f);  // Constant column.
  ASSERT_TRUE(standardizer.Apply(&*data).ok());
  for (int col = 0; col < 3; ++col) {
    double sum = 0, squares = 0;
    for (size_t row = 0; row < data->size(); ++row) {
      const double x = data->features[row * 3 + col];
      sum += x;
      squares += x * x;
    }
    const double mean = sum / data->size();
    EXPECT_NEAR(mean, 0.0, 1e-6) << "column " << col;
    EXPECT_NEAR(std::sqrt(squares / data->size() - mean * mean),
                col == 2 ? 0.0 : 1.0, 1e-5)
        << "column " << col;
  }
}

TEST(VendoredBreastCancerTest, Has569RowsOf30FeaturesIn2Classes) {
  CsvOptions options;
  options.label_column = "diagnosis";
  options.label_values = {"malignant", "benign"};
  absl::StatusOr<Dataset> data = LoadCsvDataset(
      FEDLEARN_SOURCE_DIR "/examples/hospital/breast_cancer.csv", options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 569u);
  EXPECT_THAT(data->sample_shape, ElementsAre(30));
  EXPECT_EQ(data->num_classes, 2);
  EXPECT_EQ(std::count(data->labels.begin(), data->labels.end(), 0), 212);
  EXPECT_EQ(std::count(data->labels.begin(), data->labels.end(), 1), 357);
  EXPECT_FLOAT_EQ(data->features[0], 17.99f);  // mean_radius of row 1.
}

}  // namespace
}  // namespace fedlearn
