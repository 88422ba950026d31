#include "common/crypto/aead.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/common/crypto/crypto_test_util.h"

namespace fedlearn {
namespace {

using testing_util::Hex;
using testing_util::SecretFromHex;
using testing_util::Unhex;

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases
// 13-16 (the 256-bit-key cases with 96-bit IVs). Sealed output here is
// nonce || C || T.
constexpr char kZeroKey[] =
    "0000000000000000000000000000000000000000000000000000000000000000";
constexpr char kKey15[] =
    "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
constexpr char kNonce15[] = "cafebabefacedbaddecaf888";
constexpr char kPlain15[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
constexpr char kCipher15[] =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

void ExpectKnownAnswer(const std::string& key_hex, const std::string& nonce_hex,
                       const std::string& plain_hex, const std::string& aad_hex,
                       const std::string& cipher_hex,
                       const std::string& tag_hex) {
  SecretBytes key = SecretFromHex(key_hex);
  auto sealed = AeadSealWithNonceForTesting(key, Unhex(nonce_hex),
                                            Unhex(plain_hex), Unhex(aad_hex));
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(Hex(*sealed), nonce_hex + cipher_hex + tag_hex);
  auto opened = AeadOpen(key, *sealed, Unhex(aad_hex));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(Hex(opened->ToString()), plain_hex);
}

TEST(AeadTest, MatchesGcmSpecTestCase13EmptyPlaintext) {
  ExpectKnownAnswer(kZeroKey, "000000000000000000000000", "", "", "",
                    "530f8afbc74536b9a963b4f1c4cb738b");
}

TEST(AeadTest, MatchesGcmSpecTestCase14OneZeroBlock) {
  ExpectKnownAnswer(kZeroKey, "000000000000000000000000",
                    "00000000000000000000000000000000", "",
                    "cea7403d4d606b6e074ec5d3baf39d18",
                    "d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(AeadTest, MatchesGcmSpecTestCase15FourBlocks) {
  ExpectKnownAnswer(kKey15, kNonce15, kPlain15, "", kCipher15,
                    "b094dac5d93471bdec1a502270e3cc6c");
}

TEST(AeadTest, MatchesGcmSpecTestCase16PartialBlockWithAad) {
  // 60-byte plaintext and 20-byte AAD: both end in partial blocks.
  ExpectKnownAnswer(kKey15, kNonce15, std::string(kPlain15).substr(0, 120),
                    "feedfacedeadbeeffeedfacedeadbeefabaddad2",
                    std::string(kCipher15).substr(0, 120),
                    "76fc6ece0f4e1768cddf8853bb2d551b");
}

TEST(AeadTest, SealUsesFreshNonceAndRoundTrips) {
  SecretBytes key = SecretFromHex(kKey15);
  auto a = AeadSeal(key, "share of client 7", "round 3");
  auto b = AeadSeal(key, "share of client 7", "round 3");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), kAeadNonceBytes + 17 + kAeadTagBytes);
  EXPECT_NE(a->substr(0, kAeadNonceBytes), b->substr(0, kAeadNonceBytes));
  auto opened = AeadOpen(key, *a, "round 3");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->ToString(), "share of client 7");
}

TEST(AeadTest, AnySingleFlippedBitMakesOpenFail) {
  SecretBytes key = SecretFromHex(kKey15);
  const std::string aad = "aad!";
  auto sealed = AeadSeal(key, "short msg", aad);
  ASSERT_TRUE(sealed.ok());
  // Every bit of nonce, ciphertext and tag.
  for (size_t bit = 0; bit < sealed->size() * 8; ++bit) {
    std::string tampered = *sealed;
    tampered[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    auto opened = AeadOpen(key, tampered, aad);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss)
        << "bit " << bit;
  }
  // Every bit of the associated data.
  for (size_t bit = 0; bit < aad.size() * 8; ++bit) {
    std::string tampered = aad;
    tampered[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_EQ(AeadOpen(key, *sealed, tampered).status().code(),
              absl::StatusCode::kDataLoss)
        << "aad bit " << bit;
  }
  EXPECT_TRUE(AeadOpen(key, *sealed, aad).ok());
}

TEST(AeadTest, WrongKeyFails) {
  auto sealed = AeadSeal(SecretFromHex(kKey15), "secret", "");
  ASSERT_TRUE(sealed.ok());
  SecretBytes other = SecretFromHex(kKey15);
  other.data()[31] ^= 1;
  EXPECT_EQ(AeadOpen(other, *sealed, "").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(AeadTest, TruncatedOrExtendedInputFails) {
  SecretBytes key = SecretFromHex(kKey15);
  auto sealed = AeadSeal(key, "secret", "");
  ASSERT_TRUE(sealed.ok());
  for (size_t len = 0; len < sealed->size(); ++len) {
    EXPECT_EQ(AeadOpen(key, sealed->substr(0, len), "").status().code(),
              absl::StatusCode::kDataLoss)
        << "length " << len;
  }
  EXPECT_EQ(AeadOpen(key, *sealed + "x", "").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(AeadTest, RejectsWrongKeyAndNonceSizes) {
  EXPECT_EQ(AeadSeal(SecretBytes(16), "m", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AeadOpen(SecretBytes(16), std::string(40, 'x'), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      AeadSealWithNonceForTesting(SecretBytes(32), std::string(8, 'n'), "m", "")
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedlearn
