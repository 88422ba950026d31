#include "common/crypto/secret_bytes.h"

#include <utility>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  const uint8_t raw[] = {1, 2, 3, 4};
  SecretBytes a(raw, sizeof(raw));
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): pinned on purpose
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b.data()[3], 4);

  SecretBytes c(2);
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.ToString(), std::string("\x01\x02\x03\x04", 4));
}

TEST(SecretBytesTest, EqualityComparesLengthAndContents) {
  const uint8_t x[] = {9, 8, 7};
  const uint8_t y[] = {9, 8, 6};
  EXPECT_TRUE(SecretBytes(x, 3) == SecretBytes(x, 3));
  EXPECT_FALSE(SecretBytes(x, 3) == SecretBytes(y, 3));
  EXPECT_FALSE(SecretBytes(x, 3) == SecretBytes(x, 2));
  EXPECT_TRUE(SecretBytes() == SecretBytes());
}

TEST(SecretBytesTest, CloneIsADeepCopy) {
  const uint8_t x[] = {5, 6};
  SecretBytes a(x, 2);
  SecretBytes b = a.Clone();
  b.data()[0] = 0;
  EXPECT_EQ(a.data()[0], 5);
  EXPECT_FALSE(a == b);
}

TEST(SecretBytesTest, SizedConstructorZeroFills) {
  SecretBytes a(16);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a.data()[i], 0);
}

}  // namespace
}  // namespace fedlearn
