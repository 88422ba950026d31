// The byte format coordinator_service_fuzzer reads, shared with the seed
// generator (make_seed_corpus.cc) so seeds are real RPC sequences.
//
// Input: one flag byte (bit 0: secure aggregation on), then operations, each
//   [op: u8][length: u16 LE][payload: length bytes]
// op's low 4 bits are an OpKind, bits 4-5 pick the client (of kClients), and
// bit 6 asks for a "fix-up": the claimed id, run id, round, contract digest
// and secure-aggregation session are set to what an honest client would
// send, so mutations of one field reach deep states. Payloads are serialized
// request protos; kPushResult's payload is itself a list of
// [u16 LE length][serialized ResultChunk]. A truncated tail is ignored.
// Test-only; not thread-safe.
#ifndef FEDLEARN_TESTS_FUZZ_COORDINATOR_OPS_H_
#define FEDLEARN_TESTS_FUZZ_COORDINATOR_OPS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fedlearn::fuzz {

inline constexpr int kClients = 4;
inline constexpr uint8_t kFixUp = 0x40;

enum class OpKind : uint8_t {
  kGetContract = 0,
  kRegister = 1,
  kFetchTask = 2,
  kPushResult = 3,
  kHeartbeat = 4,
  kLeave = 5,
  kSecAggExchange = 6,
  kTick = 7,
  kAdvanceClock = 8,  // payload: u32 LE milliseconds
  kHonestUpdate = 9,  // payload: float32 LE values (cycled to model size)
};

struct Op {
  OpKind kind;
  int client;
  bool fix_up;
  std::string_view payload;
};

// Reads operations from the bytes after the flag byte.
class OpReader {
 public:
  explicit OpReader(std::string_view bytes) : rest_(bytes) {}
  std::optional<Op> Next() {
    if (rest_.size() < 3) return std::nullopt;
    const uint8_t op = static_cast<uint8_t>(rest_[0]);
    size_t len = static_cast<uint8_t>(rest_[1]) |
                 size_t{static_cast<uint8_t>(rest_[2])} << 8;
    rest_.remove_prefix(3);
    if (len > rest_.size()) len = rest_.size();
    Op out{static_cast<OpKind>(op & 0x0f), (op >> 4) & 3, (op & kFixUp) != 0,
           rest_.substr(0, len)};
    rest_.remove_prefix(len);
    return out;
  }

 private:
  std::string_view rest_;
};

// Splits a [u16 length][bytes] list (kPushResult's payload).
inline std::vector<std::string_view> SplitFrames(std::string_view bytes) {
  std::vector<std::string_view> frames;
  while (bytes.size() >= 2) {
    size_t len = static_cast<uint8_t>(bytes[0]) |
                 size_t{static_cast<uint8_t>(bytes[1])} << 8;
    bytes.remove_prefix(2);
    if (len > bytes.size()) len = bytes.size();
    frames.push_back(bytes.substr(0, len));
    bytes.remove_prefix(len);
  }
  return frames;
}

inline void AppendU16(size_t n, std::string* out) {
  out->push_back(static_cast<char>(n & 0xff));
  out->push_back(static_cast<char>((n >> 8) & 0xff));
}

// Appends one operation (payload cut to 65535 bytes).
inline void AppendOp(OpKind kind, int client, bool fix_up,
                     std::string_view payload, std::string* out) {
  if (payload.size() > 0xffff) payload = payload.substr(0, 0xffff);
  out->push_back(static_cast<char>(static_cast<uint8_t>(kind) |
                                   (client & 3) << 4 | (fix_up ? kFixUp : 0)));
  AppendU16(payload.size(), out);
  out->append(payload);
}

inline void AppendFrame(std::string_view frame, std::string* out) {
  AppendU16(frame.size(), out);
  out->append(frame);
}

}  // namespace fedlearn::fuzz

#endif  // FEDLEARN_TESTS_FUZZ_COORDINATOR_OPS_H_
