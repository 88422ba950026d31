// TorchModel from pre-trained weights (safetensors written by an independent
// numpy writer, this system's model file, a TorchScript file's own) and
// with parameters frozen: the spec, the frozen base digest and its check,
// BatchNorm in eval mode.
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/models/model_factory.h"
#include "common/models/model_weights.h"
#include "common/models/scripted_model_builder.h"
#include "common/models/torch_model.h"
#include "common/wire/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

ModelSource LeNet5() {
  ModelSource source;
  source.architecture = "lenet5";
  source.input_shape = {1, 28, 28};
  source.num_classes = 10;
  return source;
}

ModelSource MlpBn() {
  ModelSource source;
  source.architecture = "mlp-bn";
  source.input_shape = {6};
  source.num_classes = 3;
  source.hidden_units = 5;
  return source;
}

// [name, dtype, shape] of every tensor of `spec`, as the writer takes it.
nlohmann::json SpecJson(const ModelSpec& spec) {
  nlohmann::json out = nlohmann::json::array();
  for (const TensorSpec& t : spec.tensors)
    out.push_back({t.name, "F32", t.shape});
  return out;
}

class PretrainedModelTest : public ::testing::Test {
 protected:
  // write_safetensors.py (numpy) writes a file of the tensors `spec` lists.
  std::string WriteSafetensors(const nlohmann::json& spec,
                               const std::string& name) {
    const std::string spec_path = dir_.path() + "/" + name + ".json";
    std::ofstream(spec_path) << spec.dump();
    const std::string out = dir_.path() + "/" + name + ".safetensors";
    const std::string command =
        std::string("/usr/bin/python3 ") + FEDLEARN_SOURCE_DIR +
        "/tests/common/wire/write_safetensors.py model " + out + " " +
        spec_path;
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return out;
  }
  std::string LeNet5Base() {
    absl::StatusOr<FlatModel> model = CreateInitialModel(LeNet5(), 1);
    EXPECT_TRUE(model.ok());
    return WriteSafetensors(SpecJson(model->spec), "lenet5");
  }
  testing_util::ScopedTempDir dir_;
};

// The file's values in spec order, read back by the reader under test in
// safetensors_reader_test.
std::vector<float> FileValues(const std::string& path, const ModelSpec& spec,
                              bool (*keep)(const std::string&) = nullptr) {
  absl::StatusOr<std::vector<NamedTensor>> file = ReadWeightsFile(path);
  EXPECT_TRUE(file.ok()) << file.status();
  std::vector<float> out;
  for (const TensorSpec& t : spec.tensors) {
    if (keep != nullptr && !keep(t.name)) continue;
    for (const NamedTensor& f : *file) {
      if (f.name == t.name)
        out.insert(out.end(), f.values.begin(), f.values.end());
    }
  }
  return out;
}

TEST_F(PretrainedModelTest, LeNet5StartsFromSafetensorsWrittenByNumpy) {
  const std::string path = LeNet5Base();
  ModelSource source = LeNet5();
  source.initial_weights = path;
  absl::StatusOr<FlatModel> model = CreateInitialModel(source, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<FlatModel> seeded = CreateInitialModel(LeNet5(), 1);
  ASSERT_TRUE(seeded.ok());
  const std::vector<float> expected = FileValues(path, model->spec);
  ASSERT_EQ(expected.size(), 61706u);
  EXPECT_TRUE(
      std::equal(expected.begin(), expected.end(), model->values.data()));
  EXPECT_NE(model->values[0], seeded->values[0]);
}

TEST_F(PretrainedModelTest, StartsFromThisSystemsModelFile) {
  absl::StatusOr<FlatModel> other = CreateInitialModel(MlpBn(), 5);
  ASSERT_TRUE(other.ok());
  const std::string path = dir_.path() + "/round-000003.fmodel";
  ASSERT_TRUE(WriteModelFile(path, v1::RoundRef(), *other).ok());
  ModelSource source = MlpBn();
  source.initial_weights = path;
  absl::StatusOr<FlatModel> model = CreateInitialModel(source, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->values.size(), other->values.size());
  EXPECT_TRUE(std::equal(other->values.span().begin(),
                         other->values.span().end(), model->values.data()));
}

TEST_F(PretrainedModelTest, RefusesAMismatchedFileNamingTheFirstMismatch) {
  absl::StatusOr<FlatModel> lenet = CreateInitialModel(LeNet5(), 1);
  ASSERT_TRUE(lenet.ok());
  const nlohmann::json good = SpecJson(lenet->spec);
  auto error = [&](nlohmann::json spec, const std::string& name) {
    ModelSource source = LeNet5();
    source.initial_weights = WriteSafetensors(spec, name);
    absl::StatusOr<FlatModel> m = CreateInitialModel(source, 1);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(m.status().message());
  };
  nlohmann::json missing = good;
  missing.erase(missing.size() - 1);  // fc3.bias
  EXPECT_THAT(error(missing, "missing"),
              HasSubstr("do not fit the lenet5 model: missing tensor fc3.bias "
                        "[10]"));
  nlohmann::json shape = good;
  shape[4][2] = {120, 401};  // fc1.weight
  shape[6][2] = {83, 120};   // fc2.weight: later, not reported
  EXPECT_THAT(error(shape, "shape"),
              HasSubstr("tensor fc1.weight has shape [120,401], the model's is "
                        "[120,400]"));
  nlohmann::json dtype = good;
  dtype[7][1] = "I64";  // fc2.bias
  EXPECT_THAT(error(dtype, "dtype"),
              HasSubstr("tensor fc2.bias has dtype I64"));
  nlohmann::json extra = good;
  extra.push_back({"fc4.weight", "F32", {2, 2}});
  EXPECT_THAT(error(extra, "extra"), HasSubstr("extra tensor fc4.weight"));
  // F64 and F16 convert to float32.
  nlohmann::json wide = good;
  wide[0][1] = "F64";
  wide[1][1] = "F16";
  ModelSource source = LeNet5();
  source.initial_weights = WriteSafetensors(wide, "wide");
  EXPECT_TRUE(CreateInitialModel(source, 1).ok());
}

bool NotFc3(const std::string& name) { return name.rfind("fc3.", 0) != 0; }

TEST_F(PretrainedModelTest, LastLayerOnlyLeavesTheRestOutOfTheSpec) {
  ModelSource source = LeNet5();
  source.initial_weights = LeNet5Base();
  source.trainable = {"fc3.*"};
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(source, 0);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelSpec& spec = (*model)->Spec();
  ASSERT_EQ(spec.tensors.size(), 2u);
  EXPECT_EQ(spec.tensors[0].name, "fc3.weight");
  EXPECT_EQ(spec.tensors[1].name, "fc3.bias");
  EXPECT_EQ(spec.NumElements(), 850);
  EXPECT_EQ((*model)->ToFlat().size(), 850u);
  EXPECT_EQ((*model)->Parameters().size(), 2u);
  const FlatModel full = (*model)->ToFullModel();
  EXPECT_EQ(full.spec.NumElements(), 61706);
  // The digest is over the frozen tensors as the file holds them.
  const std::vector<float> frozen =
      FileValues(source.initial_weights, full.spec, NotFc3);
  std::vector<TensorBytesView> views;
  size_t offset = 0;
  for (const TensorSpec& t : full.spec.tensors) {
    if (!NotFc3(t.name)) continue;
    views.push_back(
        {t.name, t.shape,
         absl::MakeConstSpan(frozen).subspan(offset, t.NumElements())});
    offset += t.NumElements();
  }
  EXPECT_EQ((*model)->FrozenBaseSha256(), FrozenBaseSha256(views));
  // The same base hashes the same; the check accepts it.
  source.base_weights_sha256 = (*model)->FrozenBaseSha256();
  EXPECT_TRUE(TorchModel::Create(source, 7).ok());
}

TEST_F(PretrainedModelTest, RefusesABaseWhoseDigestDiffers) {
  ModelSource source = LeNet5();
  source.initial_weights = LeNet5Base();
  source.trainable = {"fc3.*"};
  source.base_weights_sha256 = std::string(64, '0');
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(source, 0);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(model.status().message(),
              HasSubstr("differ from the run's: their SHA-256 is "));
  EXPECT_THAT(model.status().message(), HasSubstr(std::string(64, '0')));
}

TEST_F(PretrainedModelTest, RefusesFreezingWithoutABaseAndBadPatterns) {
  ModelSource source = LeNet5();
  source.trainable = {"fc3.*"};
  EXPECT_EQ(TorchModel::Create(source, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  source.initial_weights = LeNet5Base();
  source.trainable = {"fc9.*"};
  EXPECT_THAT(TorchModel::Create(source, 0).status().message(),
              HasSubstr("\"fc9.*\" matches no parameter"));
  source.trainable = {"fc3.*"};
  source.frozen = {"conv1.*"};
  EXPECT_THAT(TorchModel::Create(source, 0).status().message(),
              HasSubstr("not both"));
}

TEST_F(PretrainedModelTest, AFrozenBatchNormLayerStaysInEvalMode) {
  absl::StatusOr<FlatModel> base = CreateInitialModel(MlpBn(), 3);
  ASSERT_TRUE(base.ok());
  const std::string path = dir_.path() + "/base.fmodel";
  ASSERT_TRUE(WriteModelFile(path, v1::RoundRef(), *base).ok());
  ModelSource source = MlpBn();
  source.initial_weights = path;
  source.frozen = {"fc1.*", "bn1.*"};
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(source, 0);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->Spec().tensors.size(), 2u);  // fc2 only, no buffers
  EXPECT_EQ((*model)->Spec().tensors[0].name, "fc2.weight");
  const FlatModel before = (*model)->ToFullModel();
  EXPECT_EQ(before.spec.tensors.size(), 8u);  // + bn1 running stats
  (*model)->SetTraining(true);
  torch::Tensor x = torch::randn({16, 6}) * 3 + 1;
  torch::Tensor loss = (*model)->Forward(x).sum();
  loss.backward();
  const FlatModel after = (*model)->ToFullModel();
  ASSERT_EQ(after.values.size(), before.values.size());
  EXPECT_EQ(std::memcmp(after.values.data(), before.values.data(),
                        before.values.size() * sizeof(float)),
            0);
}

TEST_F(PretrainedModelTest, ATorchScriptModuleIsItsOwnBase) {
  const std::string path = dir_.path() + "/bn.pt";
  ASSERT_TRUE(SaveScriptedBatchNormClassifier(path, 6, 5, 3, 11).ok());
  ModelSource source;
  source.architecture = "torchscript";
  source.torchscript_path = path;
  source.trainable = {"fc2.*"};
  absl::StatusOr<std::unique_ptr<TorchModel>> own =
      TorchModel::Create(source, 0);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ((*own)->Spec().NumElements(), 3 * 5 + 3);
  source.initial_weights = "torchscript";
  source.base_weights_sha256 = (*own)->FrozenBaseSha256();
  absl::StatusOr<std::unique_ptr<TorchModel>> again =
      TorchModel::Create(source, 0);
  EXPECT_TRUE(again.ok()) << again.status();
  const std::string other = dir_.path() + "/other.pt";
  ASSERT_TRUE(SaveScriptedBatchNormClassifier(other, 6, 5, 3, 12).ok());
  source.torchscript_path = other;
  EXPECT_THAT(TorchModel::Create(source, 0).status().message(),
              HasSubstr("the TorchScript file's own"));
}

}  // namespace
}  // namespace fedlearn
