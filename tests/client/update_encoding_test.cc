// SimulationRoundingSeed: the per-client, per-round seed of fedlearn-sim's
// reproducible rounding. Equal inputs give equal seeds; changing any one
// input changes the seed, and field boundaries cannot be shifted.
#include "client/update_encoding.h"

#include <string>

#include "common/crypto/mask_prg.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

std::string Bytes(const SecretBytes& seed) {
  return std::string(reinterpret_cast<const char*>(seed.data()), seed.size());
}

TEST(SimulationRoundingSeedTest, IsDeterministicAndThirtyTwoBytes) {
  const SecretBytes a = SimulationRoundingSeed(7, "client-001", "run", 3);
  const SecretBytes b = SimulationRoundingSeed(7, "client-001", "run", 3);
  EXPECT_EQ(a.size(), kPrgSeedBytes);
  EXPECT_EQ(Bytes(a), Bytes(b));
}

TEST(SimulationRoundingSeedTest, EveryInputChangesTheSeed) {
  const std::string base =
      Bytes(SimulationRoundingSeed(7, "client-001", "run", 3));
  EXPECT_NE(base, Bytes(SimulationRoundingSeed(8, "client-001", "run", 3)));
  EXPECT_NE(base, Bytes(SimulationRoundingSeed(7, "client-002", "run", 3)));
  EXPECT_NE(base, Bytes(SimulationRoundingSeed(7, "client-001", "run2", 3)));
  EXPECT_NE(base, Bytes(SimulationRoundingSeed(7, "client-001", "run", 4)));
}

TEST(SimulationRoundingSeedTest, FieldsAreLengthPrefixed) {
  EXPECT_NE(Bytes(SimulationRoundingSeed(1, "ab", "c", 1)),
            Bytes(SimulationRoundingSeed(1, "a", "bc", 1)));
}

}  // namespace
}  // namespace fedlearn
