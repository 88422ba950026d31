#include "server/strategy/server_optimizer_state.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/crypto/sha256.h"

namespace fedlearn {
namespace {

constexpr char kMagic[] = "FLOPTST1";
constexpr size_t kMagicSize = 8;
constexpr uint32_t kVersion = 1;
constexpr size_t kDigestSize = 64;  // hex SHA-256
// Names and run ids are short; a larger length is corruption.
constexpr uint32_t kMaxStringSize = 4096;

template <typename T>
void PutLittleEndian(T value, std::string* out) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

void PutString(const std::string& s, std::string* out) {
  PutLittleEndian<uint32_t>(static_cast<uint32_t>(s.size()), out);
  out->append(s);
}

void PutFloats(const std::vector<float>& values, std::string* out) {
  for (float f : values) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    PutLittleEndian(bits, out);
  }
}

// Reads fields front to back; any read past the end marks it truncated.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  template <typename T>
  T Get() {
    T value = 0;
    if (!Take(sizeof(T))) return value;
    for (size_t i = 0; i < sizeof(T); ++i) {
      value |= static_cast<T>(
                   static_cast<unsigned char>(bytes_[pos_ - sizeof(T) + i]))
               << (8 * i);
    }
    return value;
  }
  std::string GetString() {
    const uint32_t size = Get<uint32_t>();
    if (size > kMaxStringSize || !Take(size)) {
      ok_ = false;
      return "";
    }
    return std::string(bytes_.substr(pos_ - size, size));
  }
  std::vector<float> GetFloats(uint64_t count) {
    if (count > (bytes_.size() - pos_) / sizeof(float)) {
      ok_ = false;
      return {};
    }
    std::vector<float> values(count);
    for (float& f : values) {
      const uint32_t bits = Get<uint32_t>();
      std::memcpy(&f, &bits, sizeof(f));
    }
    return values;
  }
  bool ok() const { return ok_; }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  bool Take(size_t n) {
    if (!ok_ || bytes_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

absl::Status Corrupt(const std::string& why) {
  return absl::DataLossError(
      absl::StrCat("the server optimizer state file is ", why,
                   "; the run cannot continue its optimizer bit for bit"));
}

}  // namespace

std::string EncodeOptimizerState(const SavedOptimizerState& saved) {
  const ServerOptimizerState& s = saved.state;
  std::string out(kMagic, kMagicSize);
  PutLittleEndian<uint32_t>(kVersion, &out);
  PutString(s.optimizer, &out);
  PutString(saved.run_id, &out);
  PutLittleEndian<uint64_t>(saved.round, &out);
  PutLittleEndian<uint64_t>(s.steps, &out);
  PutLittleEndian<uint64_t>(s.m.size(), &out);
  PutLittleEndian<uint64_t>(s.v.size(), &out);
  PutFloats(s.m, &out);
  PutFloats(s.v, &out);
  out += Sha256Hex(out);
  return out;
}

absl::StatusOr<SavedOptimizerState> DecodeOptimizerState(
    std::string_view bytes) {
  if (bytes.size() < kMagicSize + kDigestSize ||
      bytes.substr(0, kMagicSize) != std::string_view(kMagic, kMagicSize)) {
    return Corrupt("not one (wrong magic or truncated)");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - kDigestSize);
  if (Sha256Hex(body) != bytes.substr(bytes.size() - kDigestSize)) {
    return Corrupt("corrupt or truncated (its SHA-256 does not match)");
  }
  Reader r(body.substr(kMagicSize));
  if (const uint32_t version = r.Get<uint32_t>(); version != kVersion) {
    return Corrupt(absl::StrCat("of version ", version, ", not ", kVersion));
  }
  SavedOptimizerState saved;
  saved.state.optimizer = r.GetString();
  saved.run_id = r.GetString();
  saved.round = r.Get<uint64_t>();
  saved.state.steps = r.Get<uint64_t>();
  const uint64_t m_size = r.Get<uint64_t>();
  const uint64_t v_size = r.Get<uint64_t>();
  saved.state.m = r.GetFloats(m_size);
  saved.state.v = r.GetFloats(v_size);
  if (!r.ok() || r.remaining() != 0) {
    return Corrupt("malformed (its sizes do not match its length)");
  }
  return saved;
}

}  // namespace fedlearn
