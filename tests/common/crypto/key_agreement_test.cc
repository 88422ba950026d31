#include "common/crypto/key_agreement.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/common/crypto/crypto_test_util.h"

namespace fedlearn {
namespace {

using testing_util::Hex;
using testing_util::SecretFromHex;
using testing_util::SecretFromString;
using testing_util::Unhex;

// RFC 7748 section 6.1.
constexpr char kAlicePrivate[] =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kAlicePublic[] =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr char kBobPrivate[] =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr char kBobPublic[] =
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr char kSharedSecret[] =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(X25519Test, DerivesRfc7748PublicKeys) {
  auto alice = X25519KeyPairFromPrivate(SecretFromHex(kAlicePrivate));
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(Hex(alice->public_key), kAlicePublic);
  EXPECT_TRUE(alice->private_key == SecretFromHex(kAlicePrivate));
  auto bob = X25519KeyPairFromPrivate(SecretFromHex(kBobPrivate));
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(Hex(bob->public_key), kBobPublic);
}

TEST(X25519Test, AgreesOnRfc7748SharedSecretFromBothSides) {
  auto ab = X25519SharedSecret(SecretFromHex(kAlicePrivate), Unhex(kBobPublic));
  ASSERT_TRUE(ab.ok()) << ab.status();
  EXPECT_EQ(Hex(ab->ToString()), kSharedSecret);
  auto ba = X25519SharedSecret(SecretFromHex(kBobPrivate), Unhex(kAlicePublic));
  ASSERT_TRUE(ba.ok()) << ba.status();
  EXPECT_EQ(Hex(ba->ToString()), kSharedSecret);
}

// RFC 7748 section 5.2: raw scalar multiplication. The "private key" is the
// scalar (clamped by X25519 itself) and the "public key" the u-coordinate;
// the second vector's u has its top bit set, which X25519 must ignore.
TEST(X25519Test, MatchesRfc7748ScalarMultiplicationVectors) {
  struct Vector {
    const char* scalar;
    const char* u;
    const char* out;
  };
  const Vector vectors[] = {
      {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
       "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
       "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
      {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
       "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
       "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
  };
  for (const Vector& v : vectors) {
    auto out = X25519SharedSecret(SecretFromHex(v.scalar), Unhex(v.u));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(Hex(out->ToString()), v.out);
  }
}

// RFC 7748 section 5.2, iterated: k = u = 9; repeat k, u = X25519(k, u), k.
TEST(X25519Test, MatchesRfc7748IteratedVectorAfterOneAndThousandRounds) {
  std::string k =
      Unhex("0900000000000000000000000000000000000000000000000000000000000000");
  std::string u = k;
  for (int i = 1; i <= 1000; ++i) {
    auto next = X25519SharedSecret(SecretFromString(k), u);
    ASSERT_TRUE(next.ok()) << next.status();
    u = k;
    k = next->ToString();
    if (i == 1) {
      EXPECT_EQ(
          Hex(k),
          "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
  }
  EXPECT_EQ(Hex(k),
            "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

TEST(X25519Test, RejectsLowOrderPeerKeys) {
  auto pair = GenerateX25519KeyPair();
  ASSERT_TRUE(pair.ok());
  // u = 0 and u = 1 are points of small order: the result would be all
  // zero, leaking nothing but fixing the "shared" secret for an attacker.
  const std::string zero(32, '\0');
  std::string one(32, '\0');
  one[0] = 1;
  for (const std::string& bad : {zero, one}) {
    auto shared = X25519SharedSecret(pair->private_key, bad);
    EXPECT_EQ(shared.status().code(), absl::StatusCode::kInvalidArgument)
        << shared.status();
  }
}

TEST(X25519Test, RejectsWrongSizeKeys) {
  auto pair = GenerateX25519KeyPair();
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(X25519SharedSecret(pair->private_key, std::string(31, 'x'))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      X25519SharedSecret(SecretBytes(31), pair->public_key).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(X25519KeyPairFromPrivate(SecretBytes(33)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(X25519Test, RandomPairsAgreeAndDiffer) {
  std::string previous;
  for (int i = 0; i < 20; ++i) {
    auto a = GenerateX25519KeyPair();
    auto b = GenerateX25519KeyPair();
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->private_key.size(), kX25519KeyBytes);
    EXPECT_EQ(a->public_key.size(), kX25519KeyBytes);
    auto ab = X25519SharedSecret(a->private_key, b->public_key);
    auto ba = X25519SharedSecret(b->private_key, a->public_key);
    ASSERT_TRUE(ab.ok() && ba.ok());
    EXPECT_TRUE(*ab == *ba);
    EXPECT_NE(ab->ToString(), previous);
    previous = ab->ToString();
    // The public key is a function of the private key alone.
    auto again = X25519KeyPairFromPrivate(a->private_key);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->public_key, a->public_key);
  }
}

// RFC 5869 appendix A, test cases 1-3 (SHA-256).
// The parsed key gives the RFC 7748 secret, agrees with many peers, and
// refuses what X25519SharedSecret refuses.
TEST(X25519PrivateKeyTest, ParsedOnceItMatchesRfc7748AndServesManyPeers) {
  auto alice = X25519PrivateKey::Create(SecretFromHex(kAlicePrivate));
  ASSERT_TRUE(alice.ok()) << alice.status();
  for (int i = 0; i < 3; ++i) {
    auto shared = alice->SharedSecret(Unhex(kBobPublic));
    ASSERT_TRUE(shared.ok()) << shared.status();
    EXPECT_EQ(Hex(shared->ToString()), kSharedSecret);
  }
  auto pair = GenerateX25519KeyPair();
  ASSERT_TRUE(pair.ok());
  auto with_parsed = alice->SharedSecret(pair->public_key);
  auto one_shot =
      X25519SharedSecret(SecretFromHex(kAlicePrivate), pair->public_key);
  ASSERT_TRUE(with_parsed.ok() && one_shot.ok());
  EXPECT_TRUE(*with_parsed == *one_shot);
  EXPECT_EQ(alice->SharedSecret(std::string(32, '\0')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(alice->SharedSecret("short").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(X25519PrivateKey::Create(SecretFromString("short")).status().code(),
            absl::StatusCode::kInvalidArgument);
  X25519PrivateKey moved = *std::move(alice);
  EXPECT_TRUE(moved.SharedSecret(Unhex(kBobPublic)).ok());
}

TEST(HkdfSha256Test, MatchesRfc5869TestCase1) {
  auto okm = HkdfSha256(
      SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
      Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(Hex(okm->ToString()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865");
}

std::string Range(int from, int to) {  // bytes from..to inclusive
  std::string s;
  for (int b = from; b <= to; ++b) s.push_back(static_cast<char>(b));
  return s;
}

TEST(HkdfSha256Test, MatchesRfc5869TestCase2LongInputs) {
  auto okm = HkdfSha256(SecretFromString(Range(0x00, 0x4f)), Range(0x60, 0xaf),
                        Range(0xb0, 0xff), 82);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(Hex(okm->ToString()),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(HkdfSha256Test, MatchesRfc5869TestCase3EmptySaltAndInfo) {
  auto okm =
      HkdfSha256(SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                 "", "", 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(Hex(okm->ToString()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
}

TEST(HkdfSha256Test, RejectsOutOfRangeLengths) {
  SecretBytes ikm = SecretFromHex("0b0b0b0b");
  EXPECT_EQ(HkdfSha256(ikm, "s", "i", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HkdfSha256(ikm, "s", "i", 255 * 32 + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HkdfSha256(ikm, "s", "i", 255 * 32).ok());
}

}  // namespace
}  // namespace fedlearn
