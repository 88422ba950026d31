// TrainingConfig's q-FFL fields (proto fields 9 and 10) on the wire.
#include <cmath>
#include <limits>

#include "common/wire/proto_conversion.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

TEST(QfflConversionTest, RoundTripsAndIsAbsentWhenOff) {
  TrainingConfig config;
  config.qffl_q = 2.5;
  config.qffl_lipschitz = 20.0;
  absl::StatusOr<TrainingConfig> back = FromProto(ToProto(config));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->qffl_q, 2.5);
  EXPECT_EQ(back->qffl_lipschitz, 20.0);
  // Off (the default): both 0, which proto3 does not serialize, so a FedAvg
  // task's bytes are as before.
  const v1::TrainingConfig off = ToProto(TrainingConfig{});
  EXPECT_EQ(off.qffl_q(), 0.0);
  EXPECT_EQ(off.qffl_lipschitz(), 0.0);
}

TEST(QfflConversionTest, RejectsNegativeOrNonFiniteValues) {
  for (double bad :
       {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    v1::TrainingConfig q = ToProto(TrainingConfig{});
    q.set_qffl_q(bad);
    EXPECT_FALSE(FromProto(q).ok()) << bad;
    v1::TrainingConfig l = ToProto(TrainingConfig{});
    l.set_qffl_lipschitz(bad);
    EXPECT_FALSE(FromProto(l).ok()) << bad;
  }
}

}  // namespace
}  // namespace fedlearn
