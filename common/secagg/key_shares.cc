#include "common/secagg/key_shares.h"

#include <openssl/crypto.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

constexpr size_t kChunkBytes = 7;
constexpr size_t kMaxIdBytes = 256;

size_t ExpectedElements(size_t secret_bytes) {
  return (secret_bytes + kChunkBytes - 1) / kChunkBytes;
}

class SecretWriter {
 public:
  explicit SecretWriter(size_t size) : out_(size) {}
  void U32(uint32_t v) {
    for (int s = 24; s >= 0; s -= 8)
      out_.data()[pos_++] = static_cast<uint8_t>(v >> s);
  }
  void U64(uint64_t v) {
    for (int s = 56; s >= 0; s -= 8)
      out_.data()[pos_++] = static_cast<uint8_t>(v >> s);
  }
  void Field(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    for (char c : s) out_.data()[pos_++] = static_cast<uint8_t>(c);
  }
  void Share(const ShamirShare& share) {
    U32(share.x);
    U32(static_cast<uint32_t>(share.secret_bytes));
    U32(static_cast<uint32_t>(share.y.size()));
    for (uint64_t y : share.y) U64(y);
  }
  SecretBytes Take() { return std::move(out_); }

 private:
  SecretBytes out_;
  size_t pos_ = 0;
};

class SecretReader {
 public:
  explicit SecretReader(const SecretBytes& in) : in_(in) {}
  bool U32(uint32_t* v) {
    if (in_.size() - pos_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v = (*v << 8) | in_.data()[pos_++];
    return true;
  }
  bool U64(uint64_t* v) {
    if (in_.size() - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v = (*v << 8) | in_.data()[pos_++];
    return true;
  }
  bool Field(std::string* s) {
    uint32_t len;
    if (!U32(&len) || len > kMaxIdBytes || in_.size() - pos_ < len)
      return false;
    s->assign(reinterpret_cast<const char*>(in_.data()) + pos_, len);
    pos_ += len;
    return true;
  }
  bool Share(ShamirShare* share) {
    uint32_t x, secret_bytes, count;
    if (!U32(&x) || !U32(&secret_bytes) || !U32(&count)) return false;
    if (count != ExpectedElements(kSecAggSecretBytes)) return false;
    share->x = x;
    share->secret_bytes = secret_bytes;
    share->y.resize(count);
    for (uint64_t& y : share->y) {
      if (!U64(&y)) return false;
    }
    return true;
  }
  bool AtEnd() const { return pos_ == in_.size(); }

 private:
  const SecretBytes& in_;
  size_t pos_ = 0;
};

}  // namespace

void WipeShamirShare(ShamirShare* share) {
  if (!share->y.empty()) {
    OPENSSL_cleanse(share->y.data(), share->y.size() * sizeof(uint64_t));
  }
  share->y.clear();
}

SecretBytes EncodeKeyShares(const KeyShares& shares) {
  const size_t size = 4 + shares.sender.size() + 4 + shares.recipient.size() +
                      2 * 12 +
                      8 * (shares.self_mask_seed_share.y.size() +
                           shares.masking_key_share.y.size());
  SecretWriter w(size);
  w.Field(shares.sender);
  w.Field(shares.recipient);
  w.Share(shares.self_mask_seed_share);
  w.Share(shares.masking_key_share);
  return w.Take();
}

absl::StatusOr<KeyShares> DecodeKeyShares(const SecretBytes& plaintext) {
  KeyShares shares;
  SecretReader r(plaintext);
  if (!r.Field(&shares.sender) || !r.Field(&shares.recipient) ||
      !r.Share(&shares.self_mask_seed_share) ||
      !r.Share(&shares.masking_key_share) || !r.AtEnd()) {
    return absl::InvalidArgumentError("malformed key shares plaintext");
  }
  RETURN_IF_ERROR(ValidateSecretShare(shares.self_mask_seed_share));
  RETURN_IF_ERROR(ValidateSecretShare(shares.masking_key_share));
  return shares;
}

absl::Status ValidateSecretShare(const ShamirShare& share) {
  if (share.x == 0) return absl::InvalidArgumentError("share has x = 0");
  if (share.secret_bytes != kSecAggSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("share of a ", share.secret_bytes,
                     "-byte secret, expected ", kSecAggSecretBytes));
  }
  if (share.y.size() != ExpectedElements(kSecAggSecretBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("share has ", share.y.size(), " field elements, expected ",
                     ExpectedElements(kSecAggSecretBytes)));
  }
  for (uint64_t y : share.y) {
    if (y >= kShamirPrime)
      return absl::InvalidArgumentError("share element out of field");
  }
  return absl::OkStatus();
}

void ShareToProto(const ShamirShare& share, v1::SecretShare* out) {
  out->set_x(share.x);
  out->set_secret_bytes(static_cast<uint32_t>(share.secret_bytes));
  out->mutable_y()->Reserve(static_cast<int>(share.y.size()));
  for (uint64_t y : share.y) out->add_y(y);
}

absl::StatusOr<ShamirShare> ShareFromProto(const v1::SecretShare& proto) {
  ShamirShare share;
  share.x = proto.x();
  share.secret_bytes = proto.secret_bytes();
  share.y.assign(proto.y().begin(), proto.y().end());
  RETURN_IF_ERROR(ValidateSecretShare(share));
  return share;
}

}  // namespace fedlearn
