// Light virtual sites (fedlearn-sim --synthetic-updates): the model's size
// from the contract, seeded vectors, a fixed example count.
#include "apps/simulation/synthetic_sites.h"

#include <cmath>

#include "common/wire/proto_conversion.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

v1::RunContract ContractWithValues(int64_t rows, int64_t cols) {
  ModelSpec spec;
  spec.architecture = "logreg";
  spec.tensors.push_back({"weight", {rows, cols}, DType::kFloat32});
  spec.tensors.push_back({"bias", {rows}, DType::kFloat32});
  v1::RunContract contract;
  *contract.mutable_model()->mutable_spec() = ToProto(spec);
  return contract;
}

FlatVector TrainOnce(SyntheticUpdates options, int client, uint64_t seed) {
  SyntheticSitePreparer preparer(options, client);
  absl::StatusOr<LocalTrainer*> trainer =
      preparer.Prepare(ContractWithValues(3, 4));
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  TrainingConfig config;
  config.seed = seed;
  std::atomic<bool> cancel{false};
  absl::StatusOr<TrainingResult> r =
      (*trainer)->Train(FlatVector(15), config, cancel);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(r->delta) : FlatVector(0);
}

TEST(SyntheticSitesTest, VectorHasTheContractsModelSizeAndItsExampleCount) {
  SyntheticUpdates options;
  options.num_examples = 42;
  SyntheticSitePreparer preparer(options, 0);
  absl::StatusOr<LocalTrainer*> trainer =
      preparer.Prepare(ContractWithValues(3, 4));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_EQ((*trainer)->Spec().NumElements(), 15);
  EXPECT_EQ((*trainer)->NumExamples(), 42u);
  std::atomic<bool> cancel{false};
  absl::StatusOr<TrainingResult> r =
      (*trainer)->Train(FlatVector(15), TrainingConfig{}, cancel);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->delta.size(), 15u);
  EXPECT_EQ(r->num_examples, 42u);
}

TEST(SyntheticSitesTest, SameSeedClientAndTaskGiveTheSameVector) {
  SyntheticUpdates options;
  const FlatVector a = TrainOnce(options, 7, 99);
  const FlatVector b = TrainOnce(options, 7, 99);
  ASSERT_EQ(a.size(), 15u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
}

TEST(SyntheticSitesTest, ClientsAndRoundsGetDifferentBoundedVectors) {
  SyntheticUpdates options;
  options.scale = 0.5f;
  const FlatVector a = TrainOnce(options, 7, 99);
  const FlatVector other_client = TrainOnce(options, 8, 99);
  const FlatVector other_round = TrainOnce(options, 7, 100);
  int differ_client = 0, differ_round = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_LE(std::fabs(a[i]), 0.5f);
    differ_client += a[i] != other_client[i];
    differ_round += a[i] != other_round[i];
  }
  EXPECT_GT(differ_client, 10);
  EXPECT_GT(differ_round, 10);
}

TEST(SyntheticSitesTest, FixedValueFillsEveryCoordinate) {
  SyntheticUpdates options;
  options.fixed_value = 0.125f;
  const FlatVector a = TrainOnce(options, 3, 5);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], 0.125f);
}

TEST(SyntheticSitesTest, ModelOfAnotherSizeIsRefused) {
  SyntheticSitePreparer preparer(SyntheticUpdates{}, 0);
  absl::StatusOr<LocalTrainer*> trainer =
      preparer.Prepare(ContractWithValues(3, 4));
  ASSERT_TRUE(trainer.ok());
  std::atomic<bool> cancel{false};
  EXPECT_TRUE(absl::IsInvalidArgument(
      (*trainer)->Train(FlatVector(14), TrainingConfig{}, cancel).status()));
}

TEST(SyntheticSitesTest, ContractWithoutTensorsIsRefused) {
  SyntheticSitePreparer preparer(SyntheticUpdates{}, 0);
  EXPECT_FALSE(preparer.Prepare(v1::RunContract{}).ok());
}

TEST(SyntheticSitesTest, OneSitePerClientOfTheRange) {
  VirtualSites sites = SyntheticVirtualSites(SyntheticUpdates{}, {5, 9});
  EXPECT_EQ(sites.preparers.size(), 4u);
}

}  // namespace
}  // namespace fedlearn
