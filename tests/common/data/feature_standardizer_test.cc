#include "common/data/feature_standardizer.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Rows of {numeric, one-hot a, one-hot b, numeric}.
Dataset Mixed() {
  Dataset d;
  d.sample_shape = {4};
  d.features = {1,  1, 0, 100,  //
                2,  0, 1, 300,  //
                3,  1, 0, 200,  //
                10, 0, 1, 1000};
  d.labels = {0, 1, 0, 1};
  d.num_classes = 2;
  return d;
}

TEST(FeatureStandardizerTest, FitsOnlyTheGivenPositionsAndLeavesOneHotAlone) {
  Dataset data = Mixed();
  const FeatureStandardizer s =
      FeatureStandardizer::Fit(data, {true, false, false, true});
  EXPECT_THAT(s.mean, ElementsAre(4, 0, 0, 400));
  EXPECT_EQ(s.stddev[1], 1.0f);
  EXPECT_EQ(s.stddev[2], 1.0f);
  ASSERT_TRUE(s.Apply(&data).ok());
  for (size_t row = 0; row < data.size(); ++row) {
    EXPECT_EQ(data.features[row * 4 + 1], Mixed().features[row * 4 + 1]);
    EXPECT_EQ(data.features[row * 4 + 2], Mixed().features[row * 4 + 2]);
  }
  for (int col : {0, 3}) {
    double sum = 0, squares = 0;
    for (size_t row = 0; row < data.size(); ++row) {
      const double x = data.features[row * 4 + col];
      sum += x;
      squares += x * x;
    }
    EXPECT_NEAR(sum / 4, 0.0, 1e-6) << col;
    EXPECT_NEAR(squares / 4, 1.0, 1e-5) << col;
  }
}

TEST(FeatureStandardizerTest, JsonRoundTripIsExact) {
  FeatureStandardizer s = FeatureStandardizer::Fit(Mixed());
  s.mean[0] = 0.1f;  // Not exactly representable in decimal.
  s.stddev[3] = 3.4028235e38f;
  absl::StatusOr<FeatureStandardizer> back =
      FeatureStandardizer::FromJson(s.ToJson(), 4);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->mean, s.mean);
  EXPECT_EQ(back->stddev, s.stddev);
  EXPECT_THAT(s.ToJson(),
              HasSubstr("\"format\":\"fedlearn.feature_standardizer.v1\""));
}

TEST(FeatureStandardizerTest, LoadingForAnotherWidthIsRefused) {
  const std::string json = FeatureStandardizer::Fit(Mixed()).ToJson();
  absl::StatusOr<FeatureStandardizer> back =
      FeatureStandardizer::FromJson(json, 5);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(back.status().message(), HasSubstr("width 4"));
  EXPECT_THAT(back.status().message(), HasSubstr("has 5 features"));
}

TEST(FeatureStandardizerTest, MalformedJsonIsRefused) {
  for (const char* json : {
           "",
           "[]",
           "{\"mean\":[0],\"stddev\":[1]}",
           "{\"format\":\"other\",\"mean\":[0],\"stddev\":[1]}",
           "{\"format\":\"fedlearn.feature_standardizer.v1\",\"mean\":[0]}",
           "{\"format\":\"fedlearn.feature_standardizer.v1\",\"mean\":[0,1],"
           "\"stddev\":[1]}",
           "{\"format\":\"fedlearn.feature_standardizer.v1\",\"mean\":[\"0\"],"
           "\"stddev\":[1]}",
           "{\"format\":\"fedlearn.feature_standardizer.v1\",\"mean\":[0],"
           "\"stddev\":[0]}",
           "{\"format\":\"fedlearn.feature_standardizer.v1\",\"mean\":[1e300],"
           "\"stddev\":[1]}",
       }) {
    EXPECT_EQ(FeatureStandardizer::FromJson(json, 1).status().code(),
              absl::StatusCode::kInvalidArgument)
        << json;
  }
}

TEST(FeatureStandardizerTest, ApplyRefusesDataOfAnotherWidth) {
  const FeatureStandardizer s = FeatureStandardizer::Fit(Mixed());
  Dataset narrow;
  narrow.sample_shape = {3};
  narrow.features = {1, 2, 3};
  narrow.labels = {0};
  EXPECT_EQ(s.Apply(&narrow).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(narrow.features, ElementsAre(1, 2, 3));
}

}  // namespace
}  // namespace fedlearn
