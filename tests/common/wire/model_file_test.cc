#include "common/wire/model_file.h"

#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/util/atomic_file.h"
#include "common/wire/proto_conversion.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

FlatModel MakeModel() {
  FlatModel m;
  m.spec.architecture = "lenet5";
  m.spec.tensors.push_back(
      TensorSpec{"conv.weight", {2, 1, 3, 3}, DType::kFloat32});
  m.spec.tensors.push_back(TensorSpec{"conv.bias", {2}, DType::kFloat32});
  m.spec.tensors.push_back(TensorSpec{"fc.weight", {3, 5}, DType::kFloat32});
  std::vector<float> values = {0.0f, -0.0f, std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min(),
                               std::numeric_limits<float>::lowest()};
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  while (values.size() < 18 + 2 + 15) values.push_back(normal(rng));
  m.values = FlatVector(std::move(values));
  return m;
}

v1::RoundRef Ref() {
  v1::RoundRef ref;
  ref.set_run_id("model-file-run");
  ref.set_round(12);
  ref.set_model_version(12);
  return ref;
}

class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "model_file_test.XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/round.fmodel";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteGood() {
    EXPECT_TRUE(WriteModelFile(path_, Ref(), MakeModel()).ok());
    absl::StatusOr<std::string> bytes = ReadFileToString(path_);
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : "";
  }

  void ExpectDataLoss(const std::string& bytes, const std::string& why = "") {
    ASSERT_TRUE(WriteFileAtomically(path_, bytes).ok());
    absl::StatusOr<SavedModel> read = ReadModelFile(path_);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss)
        << read.status();
    if (!why.empty()) {
      EXPECT_THAT(std::string(read.status().message()), HasSubstr(why));
    }
  }

  std::string dir_;
  std::string path_;
};

TEST_F(ModelFileTest, RoundTripIsBitExact) {
  const FlatModel model = MakeModel();
  ASSERT_TRUE(WriteModelFile(path_, Ref(), model).ok());
  absl::StatusOr<SavedModel> read = ReadModelFile(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->ref.run_id(), "model-file-run");
  EXPECT_EQ(read->ref.round(), 12u);
  EXPECT_EQ(read->ref.model_version(), 12u);
  EXPECT_EQ(read->model.spec.architecture, "lenet5");
  EXPECT_TRUE(read->model.spec.CompatibleWith(model.spec))
      << read->model.spec.DescribeMismatch(model.spec);
  ASSERT_EQ(read->model.values.size(), model.values.size());
  EXPECT_EQ(std::memcmp(read->model.values.data(), model.values.data(),
                        4 * model.values.size()),
            0);
}

TEST_F(ModelFileTest, FileStartsWithMagicAndEndsWithLittleEndianPayload) {
  const std::string bytes = WriteGood();
  ASSERT_GT(bytes.size(), 12u + 35 * 4);
  EXPECT_EQ(bytes.substr(0, 8), "FLMODEL1");
  const FlatModel model = MakeModel();
  std::string payload;
  AppendFloat32LE(model.values.span(), &payload);
  EXPECT_EQ(bytes.substr(bytes.size() - payload.size()), payload);
}

TEST_F(ModelFileTest, OverwriteReplacesTheModel) {
  WriteGood();
  FlatModel other = MakeModel();
  other.values[0] = 42.0f;
  ASSERT_TRUE(WriteModelFile(path_, Ref(), other).ok());
  absl::StatusOr<SavedModel> read = ReadModelFile(path_);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->model.values[0], 42.0f);
}

TEST_F(ModelFileTest, TruncatedFileIsDataLoss) {
  const std::string bytes = WriteGood();
  ExpectDataLoss(bytes.substr(0, bytes.size() - 1));
  ExpectDataLoss(bytes.substr(0, bytes.size() - 4));
  ExpectDataLoss(bytes.substr(0, 20), "truncated header");
  ExpectDataLoss(bytes.substr(0, 10));
  ExpectDataLoss("");
}

TEST_F(ModelFileTest, TrailingBytesAreDataLoss) {
  ExpectDataLoss(WriteGood() + std::string(4, '\0'));
}

TEST_F(ModelFileTest, FlippedPayloadByteFailsTheChecksum) {
  const std::string good = WriteGood();
  for (size_t back : {1u, 17u, 35u * 4}) {
    std::string bytes = good;
    bytes[bytes.size() - back] ^= 0x20;
    ExpectDataLoss(bytes, "checksum");
  }
}

TEST_F(ModelFileTest, BadMagicIsDataLoss) {
  std::string bytes = WriteGood();
  bytes[7] = '2';
  ExpectDataLoss(bytes, "magic");
  ExpectDataLoss(std::string(200, 'x'), "magic");
}

TEST_F(ModelFileTest, HeaderLengthPastTheEndIsDataLoss) {
  std::string bytes = WriteGood();
  bytes[8] = '\xff';
  bytes[9] = '\xff';
  bytes[10] = '\xff';
  bytes[11] = '\x7f';
  ExpectDataLoss(bytes, "truncated header");
}

TEST_F(ModelFileTest, HeaderClaimingAHugeModelIsRefusedBeforeAllocating) {
  // A well-formed header for 2^27 floats followed by 8 bytes of payload.
  v1::ModelFileHeader header;
  *header.mutable_ref() = Ref();
  v1::TensorSpec* t = header.mutable_spec()->add_tensors();
  t->set_name("huge");
  t->add_shape(int64_t{1} << 27);
  t->set_dtype(v1::DTYPE_FLOAT32);
  header.set_num_values(uint64_t{1} << 27);
  const std::string h = header.SerializeAsString();
  std::string bytes = "FLMODEL1";
  for (int b = 0; b < 4; ++b)
    bytes.push_back(char((h.size() >> (8 * b)) & 0xff));
  bytes += h + std::string(8, '\0');
  ExpectDataLoss(bytes, "payload");
}

TEST_F(ModelFileTest, HeaderWithAnInvalidSpecIsDataLoss) {
  v1::ModelFileHeader header;
  v1::TensorSpec* t = header.mutable_spec()->add_tensors();
  t->set_name("w");
  t->add_shape(0);
  t->set_dtype(v1::DTYPE_FLOAT32);
  const std::string h = header.SerializeAsString();
  std::string bytes = "FLMODEL1";
  for (int b = 0; b < 4; ++b)
    bytes.push_back(char((h.size() >> (8 * b)) & 0xff));
  ExpectDataLoss(bytes + h);
}

TEST_F(ModelFileTest, SpecAndValuesMismatchIsRefusedOnWrite) {
  FlatModel model = MakeModel();
  model.spec.tensors[2].shape = {3, 6};
  absl::Status s = WriteModelFile(path_, Ref(), model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path_));

  FlatModel short_values = MakeModel();
  short_values.values = FlatVector(3);
  EXPECT_FALSE(WriteModelFile(path_, Ref(), short_values).ok());
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(ModelFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadModelFile(dir_ + "/absent.fmodel").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fedlearn
