// SecurePrng: the OS implementation fills fresh bytes; the testing one is
// exactly AES-256-CTR keyed by SHA-256(label || seed) and continues one
// stream across calls; the primitives that draw randomness take it from the
// PRNG they are given (a seeded one reproduces them) and pass its failures
// on.
#include "common/crypto/secure_prng.h"

#include <openssl/sha.h>

#include <string>
#include <vector>

#include "common/crypto/aead.h"
#include "common/crypto/key_agreement.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/shamir.h"
#include "gtest/gtest.h"
#include "tests/common/crypto/crypto_test_util.h"

namespace fedlearn {
namespace {

using testing_util::SecretFromString;

std::string Draw(SecurePrng& prng, size_t n) {
  std::string out(n, '\0');
  EXPECT_TRUE(
      prng.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), n))
          .ok());
  return out;
}

class FailingPrng final : public SecurePrng {
 public:
  absl::Status Fill(absl::Span<uint8_t>) override {
    return absl::InternalError("entropy source unavailable");
  }
};

TEST(OsSecurePrngTest, FillsFreshBytesEveryCall) {
  const std::string a = Draw(OsPrng(), 64);
  const std::string b = Draw(OsPrng(), 64);
  EXPECT_NE(a, b);
  EXPECT_NE(a, std::string(64, '\0'));
  EXPECT_TRUE(OsPrng().Fill(absl::Span<uint8_t>()).ok());
}

TEST(DeterministicPrngTest, IsAes256CtrKeyedByTheHashedSeed) {
  const std::string seed = "a seed";
  const std::string input =
      std::string("fedlearn/secure-prng-for-testing/v1") + seed;
  std::string key(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         reinterpret_cast<unsigned char*>(key.data()));
  auto expected = Aes256CtrKeystreamForTesting(SecretFromString(key),
                                               std::string(16, '\0'), 100);
  ASSERT_TRUE(expected.ok()) << expected.status();
  DeterministicPrngForTesting prng(seed);
  EXPECT_EQ(Draw(prng, 100), *expected);
}

TEST(DeterministicPrngTest, ContinuesOneStreamAcrossCalls) {
  DeterministicPrngForTesting whole("s"), pieces("s");
  const std::string all = Draw(whole, 49);
  std::string joined;
  for (size_t n : {10, 22, 1, 16}) joined += Draw(pieces, n);
  EXPECT_EQ(joined, all);
}

TEST(DeterministicPrngTest, EqualSeedsGiveEqualStreamsOthersDiffer) {
  DeterministicPrngForTesting a("seed-1"), b("seed-1"), c("seed-2");
  const std::string from_a = Draw(a, 32);
  EXPECT_EQ(from_a, Draw(b, 32));
  EXPECT_NE(from_a, Draw(c, 32));
}

TEST(SecurePrngPrimitivesTest, ASeededPrngReproducesKeysNoncesAndShares) {
  DeterministicPrngForTesting p1("primitives"), p2("primitives");
  auto k1 = GenerateX25519KeyPair(p1);
  auto k2 = GenerateX25519KeyPair(p2);
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_EQ(k1->public_key, k2->public_key);
  EXPECT_TRUE(k1->private_key == k2->private_key);

  const SecretBytes key = SecretFromString(std::string(kAeadKeyBytes, 'k'));
  auto s1 = AeadSeal(key, "plaintext", "aad", p1);
  auto s2 = AeadSeal(key, "plaintext", "aad", p2);
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_EQ(*s1, *s2);
  auto opened = AeadOpen(key, *s1, "aad");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->ToString(), "plaintext");

  const SecretBytes secret = SecretFromString(std::string(32, 's'));
  auto sh1 = ShamirSplit(secret, 3, {1, 2, 3, 4}, p1);
  auto sh2 = ShamirSplit(secret, 3, {1, 2, 3, 4}, p2);
  ASSERT_TRUE(sh1.ok() && sh2.ok());
  for (size_t i = 0; i < sh1->size(); ++i) EXPECT_EQ((*sh1)[i].y, (*sh2)[i].y);
  auto rebuilt = ShamirReconstruct(*sh1, 3);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_TRUE(*rebuilt == secret);
}

TEST(SecurePrngPrimitivesTest, PrimitivesPassOnAPrngFailure) {
  FailingPrng failing;
  EXPECT_EQ(GenerateX25519KeyPair(failing).status().code(),
            absl::StatusCode::kInternal);
  const SecretBytes key = SecretFromString(std::string(kAeadKeyBytes, 'k'));
  EXPECT_EQ(AeadSeal(key, "p", "a", failing).status().code(),
            absl::StatusCode::kInternal);
  const SecretBytes secret = SecretFromString(std::string(32, 's'));
  EXPECT_EQ(ShamirSplit(secret, 2, {1, 2}, failing).status().code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace fedlearn
