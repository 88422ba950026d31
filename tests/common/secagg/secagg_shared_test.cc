// Shared secure-aggregation code: config validation bounds, canonical byte
// strings (distinct per purpose and field), the key-shares codec, the mask
// sign convention and reduction mod 2^b, session ids from a SecurePrng.
#include <random>
#include <set>

#include "common/crypto/secure_prng.h"
#include "common/crypto/shamir.h"
#include "common/secagg/canonical_bytes.h"
#include "common/secagg/key_shares.h"
#include "common/secagg/masking.h"
#include "common/secagg/secagg_config.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

v1::SecAggConfig ValidConfig() {
  v1::SecAggConfig c;
  c.set_session_id(std::string(32, 's'));
  c.set_round(3);
  for (const char* id : {"alice", "bob", "carol", "dave", "erin"})
    c.add_cohort(id);
  c.set_degree(4);
  c.set_threshold(3);
  c.set_modulus_bits(20);
  c.set_vector_length(10);
  return c;
}

TEST(SecAggConfigTest, AcceptsAValidConfigAndIndexesTheCohort) {
  auto p = SecAggParameters::FromProto(ValidConfig());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->num_clients(), 5);
  EXPECT_EQ(*p->IndexOf("carol"), 2);
  EXPECT_FALSE(p->IndexOf("mallory").has_value());
  EXPECT_EQ(p->modulus_mask(), (1u << 20) - 1);
}

TEST(SecAggConfigTest, RefusesEachOutOfBoundsField) {
  auto refuses = [](auto mutate) {
    v1::SecAggConfig c = ValidConfig();
    mutate(c);
    return !SecAggParameters::FromProto(c).ok();
  };
  EXPECT_TRUE(refuses([](auto& c) { c.set_session_id("short"); }));
  EXPECT_TRUE(refuses([](auto& c) {
    c.clear_cohort();
    c.add_cohort("solo");
  }));
  EXPECT_TRUE(refuses([](auto& c) { c.set_cohort(1, "alice"); }));  // duplicate
  EXPECT_TRUE(refuses([](auto& c) { c.set_cohort(1, "aaron"); }));  // unsorted
  EXPECT_TRUE(
      refuses([](auto& c) { c.set_cohort(4, "e rin"); }));  // invalid id
  EXPECT_TRUE(refuses([](auto& c) { c.set_degree(5); }));
  EXPECT_TRUE(refuses([](auto& c) { c.set_degree(3); }));     // odd, not n-1
  EXPECT_TRUE(refuses([](auto& c) { c.set_threshold(2); }));  // no majority
  EXPECT_TRUE(refuses([](auto& c) { c.set_threshold(6); }));  // > k+1
  EXPECT_TRUE(refuses([](auto& c) { c.set_modulus_bits(0); }));
  EXPECT_TRUE(refuses([](auto& c) { c.set_modulus_bits(33); }));
  EXPECT_TRUE(refuses([](auto& c) { c.set_vector_length(0); }));
  EXPECT_TRUE(
      refuses([](auto& c) { c.set_vector_length((uint64_t{1} << 28) + 1); }));
  EXPECT_FALSE(refuses([](auto& c) { c.set_threshold(5); }));
  EXPECT_FALSE(refuses([](auto& c) { c.set_modulus_bits(32); }));
}

TEST(CanonicalBytesTest, DistinctTuplesAndPurposesGiveDistinctBytes) {
  const std::string s(32, 'x');
  std::set<std::string> all = {
      AdvertiseSignaturePayload(s, 1, "a", "k1", "k2"),
      AdvertiseSignaturePayload(s, 2, "a", "k1", "k2"),
      AdvertiseSignaturePayload(s, 1, "a", "k1k", "2"),
      AdvertiseSignaturePayload(s, 1, "b", "k1", "k2"),
      ConsistencySignaturePayload(s, 1, {"a", "b"}),
      ConsistencySignaturePayload(s, 1, {"ab"}),
      ConsistencySignaturePayload(s, 2, {"a", "b"}),
      KeySharesAssociatedData(s, 1, "a", "b"),
      KeySharesAssociatedData(s, 1, "b", "a"),
      MaskDomain(s, 1, MaskKind::kSelf, "update", 3, 3),
      MaskDomain(s, 1, MaskKind::kPair, "update", 3, 4),
      MaskDomain(s, 1, MaskKind::kPair, "other", 3, 4),
      MaskDomain(std::string(32, 'y'), 1, MaskKind::kSelf, "update", 3, 3),
  };
  EXPECT_EQ(all.size(), 13u);
  EXPECT_EQ(MaskDomain(s, 1, MaskKind::kPair, "update", 3, 4),
            MaskDomain(s, 1, MaskKind::kPair, "update", 4, 3));
  EXPECT_EQ(KeySharesKeyInfo(s, 1, 2, 5), KeySharesKeyInfo(s, 1, 5, 2));
}

TEST(MaskingTest, SignConventionAndReduction) {
  EXPECT_EQ(PairwiseMaskSign(1, 2), 1);
  EXPECT_EQ(PairwiseMaskSign(2, 1), -1);
  std::vector<uint32_t> v = {0xffffffffu, 0x12345u, 7};
  ReduceModulo(absl::MakeSpan(v), 0xff);
  EXPECT_EQ(v, (std::vector<uint32_t>{0xff, 0x45, 7}));
}

TEST(KeySharesTest, RoundTripsAndRefusesMalformedPlaintext) {
  SecretBytes secret(32);
  for (size_t i = 0; i < 32; ++i)
    secret.data()[i] = static_cast<uint8_t>(i * 7);
  auto shares = ShamirSplit(secret, 2, {1, 2, 3});
  ASSERT_TRUE(shares.ok());
  KeyShares ks;
  ks.sender = "alice";
  ks.recipient = "bob";
  ks.self_mask_seed_share = (*shares)[1];
  ks.masking_key_share = (*shares)[2];
  SecretBytes encoded = EncodeKeyShares(ks);
  auto decoded = DecodeKeyShares(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->sender, "alice");
  EXPECT_EQ(decoded->recipient, "bob");
  EXPECT_EQ(decoded->self_mask_seed_share.y, (*shares)[1].y);
  EXPECT_EQ(decoded->masking_key_share.x, 3u);
  SecretBytes truncated(encoded.data(), encoded.size() - 1);
  EXPECT_FALSE(DecodeKeyShares(truncated).ok());
  v1::SecretShare proto;
  ShareToProto((*shares)[0], &proto);
  EXPECT_TRUE(ShareFromProto(proto).ok());
  proto.set_y(0, kShamirPrime);
  EXPECT_FALSE(ShareFromProto(proto).ok());
  proto.set_x(0);
  EXPECT_FALSE(ShareFromProto(proto).ok());
}

TEST(SessionIdTest, IsDrawnFromTheGivenPrng) {
  DeterministicPrngForTesting a("session"), b("session");
  auto first = NewSecAggSessionId(a);
  auto again = NewSecAggSessionId(b);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->size(), kSecAggSessionIdBytes);
  EXPECT_EQ(*first, *again);
  auto os = NewSecAggSessionId();
  ASSERT_TRUE(os.ok());
  EXPECT_NE(*os, *first);
}

}  // namespace
}  // namespace fedlearn
