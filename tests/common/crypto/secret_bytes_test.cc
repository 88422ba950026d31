#include "common/crypto/secret_bytes.h"

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

// A secret is never copied by accident, nor turned into text that a log call
// or a format string could take without an explicit view().
static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(!std::is_convertible_v<SecretBytes, std::string>);
static_assert(!std::is_convertible_v<SecretBytes, std::string_view>);
static_assert(!std::is_convertible_v<std::string, SecretBytes>);

// Every byte `p` pointed at is zero. Valid after Clear(): the vector keeps
// its buffer allocated until destruction.
bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

TEST(SecretBytesTest, ClearWipesTheBufferInPlace) {
  const std::string pem(300, 'k');  // longer than any small-buffer
  SecretBytes key(pem);
  const uint8_t* buffer = key.data();
  ASSERT_FALSE(AllZero(buffer, pem.size()));
  key.Clear();
  EXPECT_TRUE(key.empty());
  EXPECT_TRUE(AllZero(buffer, pem.size()));
}

TEST(SecretBytesTest, FromStringWipesTheStringItTakesOver) {
  std::string text = "-----BEGIN PRIVATE KEY-----" + std::string(200, 'x');
  const std::string expected = text;
  const char* buffer = text.data();
  const size_t size = text.size();
  SecretBytes key = SecretBytes::FromString(std::move(text));
  EXPECT_EQ(key.view(), expected);
  EXPECT_TRUE(text.empty());  // NOLINT(bugprone-use-after-move): pinned
  EXPECT_TRUE(AllZero(reinterpret_cast<const uint8_t*>(buffer), size));
}

TEST(SecretBytesTest, WipeStringZeroesEveryByteOfTheCapacity) {
  std::string copy(500, 's');
  copy.resize(10);  // the tail past size() still holds the secret
  const char* buffer = copy.data();
  const size_t capacity = copy.capacity();
  WipeString(copy);
  EXPECT_TRUE(copy.empty());
  EXPECT_EQ(copy.data(), buffer);  // wiped in place, not reallocated
  EXPECT_TRUE(AllZero(reinterpret_cast<const uint8_t*>(buffer), capacity));
}

TEST(SecretBytesTest, MoveAssignmentHandsTheBufferOverAndEmptiesTheSource) {
  SecretBytes source(std::string(64, 'a'));
  SecretBytes target(std::string(64, 'b'));
  target = std::move(source);
  EXPECT_EQ(target.view(), std::string(64, 'a'));
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): pinned
}

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
