#include "common/data/idx_reader.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Bytes = std::vector<uint8_t>;

Bytes Header(uint32_t magic, std::vector<uint32_t> dims) {
  Bytes out;
  dims.insert(dims.begin(), magic);
  for (uint32_t v : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(v >> shift);
  }
  return out;
}

Bytes Concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class IdxFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (std::string("idx_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() +
            "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteGz(const std::string& name, const Bytes& bytes) {
    const std::string path = (dir_ / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), bytes.size()),
              static_cast<int>(bytes.size()));
    gzclose(f);
    return path;
  }

  std::string WritePlain(const std::string& name, const Bytes& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return path;
  }

  // Three 2x2 images and their labels.
  const Bytes images_ =
      Concat(Header(0x803, {3, 2, 2}), {0, 255, 51, 0, 1, 2, 3, 4, 5, 6, 7, 8});
  const Bytes labels_ = Concat(Header(0x801, {3}), {2, 0, 1});
  std::filesystem::path dir_;
};

TEST_F(IdxFilesTest, ReadsGzippedFileWithScaledPixelsAndShape) {
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(WriteGz("i.gz", images_), WriteGz("l.gz", labels_));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->sample_shape, ElementsAre(1, 2, 2));
  EXPECT_THAT(data->labels, ElementsAre(2, 0, 1));
  EXPECT_EQ(data->num_classes, 3);
  ASSERT_EQ(data->features.size(), 12u);
  EXPECT_FLOAT_EQ(data->features[0], 0.0f);
  EXPECT_FLOAT_EQ(data->features[1], 1.0f);
  EXPECT_FLOAT_EQ(data->features[2], 0.2f);
}

TEST_F(IdxFilesTest, ReadsUncompressedFileLikeGzipped) {
  absl::StatusOr<Dataset> gz =
      LoadIdxDataset(WriteGz("i.gz", images_), WriteGz("l.gz", labels_));
  absl::StatusOr<Dataset> plain =
      LoadIdxDataset(WritePlain("i", images_), WritePlain("l", labels_));
  ASSERT_TRUE(gz.ok()) << gz.status();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->features, gz->features);
  EXPECT_EQ(plain->labels, gz->labels);
}

TEST_F(IdxFilesTest, RejectsWrongImageMagicNamingTheFile) {
  const std::string images =
      WriteGz("i.gz", Concat(Header(0x801, {3, 2, 2}), Bytes(12)));
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(images, WriteGz("l.gz", labels_));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr(images));
  EXPECT_THAT(data.status().message(),
              HasSubstr("bad magic number 0x00000801"));
}

TEST_F(IdxFilesTest, RejectsWrongLabelMagic) {
  const std::string labels =
      WriteGz("l.gz", Concat(Header(0x803, {3}), {2, 0, 1}));
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(WriteGz("i.gz", images_), labels);
  EXPECT_THAT(data.status().message(), HasSubstr(labels));
  EXPECT_THAT(data.status().message(), HasSubstr("bad magic"));
}

TEST_F(IdxFilesTest, RejectsTruncatedImageData) {
  const Bytes truncated(images_.begin(), images_.end() - 1);
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(WriteGz("i.gz", truncated), WriteGz("l.gz", labels_));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(),
              HasSubstr("truncated image data: expected 12 bytes, got 11"));
}

TEST_F(IdxFilesTest, RejectsTruncatedHeader) {
  const Bytes truncated(images_.begin(), images_.begin() + 6);
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(WriteGz("i.gz", truncated), WriteGz("l.gz", labels_));
  EXPECT_THAT(data.status().message(), HasSubstr("truncated header"));
}

TEST_F(IdxFilesTest, RejectsLabelCountDifferentFromImageCount) {
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(WriteGz("i.gz", images_),
                     WriteGz("l.gz", Concat(Header(0x801, {2}), {0, 1})));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("holds 2 labels but"));
  EXPECT_THAT(data.status().message(), HasSubstr("holds 3 images"));
}

TEST_F(IdxFilesTest, RejectsLabelOfTenOrMore) {
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(WriteGz("i.gz", images_),
                     WriteGz("l.gz", Concat(Header(0x801, {3}), {2, 10, 1})));
  EXPECT_THAT(data.status().message(),
              HasSubstr("label 10 of sample 1 is not < 10"));
}

TEST_F(IdxFilesTest, RefusesAbsurdSizeInsteadOfAllocating) {
  absl::StatusOr<Dataset> data = LoadIdxDataset(
      WriteGz("i.gz", Header(0x803, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF})),
      WriteGz("l.gz", labels_));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("more than the 100000000"));
}

TEST_F(IdxFilesTest, RejectsZeroDimension) {
  absl::StatusOr<Dataset> data = LoadIdxDataset(
      WriteGz("i.gz", Header(0x803, {3, 0, 2})), WriteGz("l.gz", labels_));
  EXPECT_THAT(data.status().message(), HasSubstr("dimension 1 is zero"));
}

TEST_F(IdxFilesTest, MissingFileIsNotFoundAndNamed) {
  const std::string missing = (dir_ / "absent.gz").string();
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(WriteGz("i.gz", images_), missing);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(), HasSubstr(missing));
}

TEST(FashionMnistTest, RejectsUnknownSplit) {
  EXPECT_EQ(
      LoadFashionMnist(kDefaultFashionMnistDir, "validation").status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(FashionMnistTest, MissingDirectoryIsNotFound) {
  EXPECT_EQ(
      LoadFashionMnist("/nonexistent/fashion-mnist", "test").status().code(),
      absl::StatusCode::kNotFound);
}

// The real files: 60000 / 10000 samples of 28x28, exactly balanced.
void ExpectBalancedFashionMnist(std::string_view split, size_t size) {
  absl::StatusOr<Dataset> data =
      LoadFashionMnist(kDefaultFashionMnistDir, split);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), size);
  EXPECT_THAT(data->sample_shape, ElementsAre(1, 28, 28));
  EXPECT_EQ(data->features.size(), size * 28 * 28);
  EXPECT_EQ(data->num_classes, 10);
  ASSERT_EQ(data->class_names.size(), 10u);
  EXPECT_EQ(data->class_names[0], "T-shirt/top");
  EXPECT_EQ(data->class_names[9], "Ankle boot");
  std::vector<size_t> histogram(10, 0);
  for (int32_t label : data->labels) ++histogram[label];
  for (size_t count : histogram) EXPECT_EQ(count, size / 10);
  const auto [lo, hi] =
      std::minmax_element(data->features.begin(), data->features.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
}

TEST(FashionMnistTest, TrainSplitHas6000OfEachClass) {
  ExpectBalancedFashionMnist("train", 60000);
}

TEST(FashionMnistTest, TestSplitHas1000OfEachClass) {
  ExpectBalancedFashionMnist("test", 10000);
}

TEST(FashionMnistTest, FirstTrainingSampleIsAnAnkleBoot) {
  absl::StatusOr<Dataset> data =
      LoadFashionMnist(kDefaultFashionMnistDir, "train");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->labels[0], 9);
  EXPECT_EQ(data->labels[1], 0);  // T-shirt/top, per the published file.
}

}  // namespace
}  // namespace fedlearn
