// The server's secure-aggregation state machine (server/secagg/
// secagg_server.h) fed arbitrary SecAggClientMessage sequences. Each input
// drives a fresh SecAggServer for the cohort of an honest recorded round
// (secagg_transcript.h); every byte-coded operation
//   [op: u8] ...
// delivers (op % 8):
//   0 [k]             client c's k-th honest message (c = op >> 5)
//   1 [k][u16 n][n]   that message merged with a fuzzed one (field edits)
//   2 [u16 n][n]      a message parsed from the input
//   3                 client c's honest masked input
//   4 [j][u32 x]      that masked input with value j xored by x
//   5                 AdvancePhase()
//   6                 PendingMessageFor(c), AllResponded(), TakeResult()
//   7 [u16 n][n]      a parsed message from a non-cohort id
// The machine may refuse anything but must never crash, and when only
// honest messages were delivered its sum must be exactly the survivors'.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/secagg_transcript.h"

namespace fedlearn {
namespace {

class Input {
 public:
  explicit Input(std::string_view bytes) : rest_(bytes) {}
  bool empty() const { return rest_.empty(); }
  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return b;
  }
  uint32_t U32() {
    uint32_t v = 0;
    for (int b = 0; b < 4; ++b) v |= uint32_t{Byte()} << (8 * b);
    return v;
  }
  std::string_view Frame() {
    size_t n = Byte();
    n |= size_t{Byte()} << 8;
    n = std::min(n, rest_.size());
    std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }

 private:
  std::string_view rest_;
};

void CheckSum(SecAggServer& server, const fuzz::SecAggTranscript& t,
              bool tampered) {
  absl::StatusOr<std::vector<uint32_t>> sum = server.TakeResult();
  if (!sum.ok()) return;
  const uint32_t mask = (uint32_t{1} << t.config.modulus_bits()) - 1;
  std::vector<uint32_t> expected(fuzz::kSecAggVectorLength, 0);
  for (const std::string& id : server.Survivors()) {
    const int i = id.back() - '0';
    const std::vector<uint32_t> x = fuzz::SecAggInput(i);
    for (size_t j = 0; j < expected.size(); ++j) {
      expected[j] = (expected[j] + x[j]) & mask;
    }
  }
  fuzz::FuzzCheck(sum->size() == expected.size(), "sum has the wrong length");
  // A client that lies (fuzzed shares or masked vector) can skew the sum
  // undetectably (Bonawitz et al. 2017 bound privacy, not correctness,
  // against malicious clients): exactness is checked on honest replays.
  if (!tampered) fuzz::FuzzCheck(*sum == expected, "honest sum is wrong");
}

void RunOp(SecAggServer& server, const fuzz::SecAggTranscript& t, Input& in,
           bool* tampered) {
  const uint8_t op = in.Byte();
  const int c = (op >> 5) % fuzz::kSecAggClients;
  const std::string id = fuzz::SecAggClientId(c);
  const auto& mine = t.client_messages[c];
  switch (op % 8) {
    case 0:
      (void)server.HandleMessage(id, mine[in.Byte() % mine.size()]);
      break;
    case 1: {
      v1::SecAggClientMessage m = mine[in.Byte() % mine.size()];
      std::string_view edit = in.Frame();
      *tampered = true;
      if (m.MergeFromString(std::string(edit))) {
        (void)server.HandleMessage(id, m);
      }
      break;
    }
    case 2:
    case 7: {
      std::string_view bytes = in.Frame();
      v1::SecAggClientMessage m;
      *tampered = true;
      if (m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        (void)server.HandleMessage(op % 8 == 2 ? id : "stranger", m);
      }
      break;
    }
    case 3:
      (void)server.HandleMaskedInput(id, t.masked_inputs[c]);
      break;
    case 4: {
      std::vector<uint32_t> x = t.masked_inputs[c];
      const size_t j = in.Byte();
      const uint32_t flip = in.U32();
      if (j < x.size())
        x[j] ^= flip;
      else
        x.resize(j % (2 * x.size() + 1));
      *tampered = true;
      (void)server.HandleMaskedInput(id, x);
      break;
    }
    case 5:
      (void)server.AdvancePhase();
      break;
    default:
      (void)server.PendingMessageFor(id);
      (void)server.AllResponded();
      if (server.phase() == SecAggServer::Phase::kCompleted) {
        CheckSum(server, t, *tampered);
      }
      break;
  }
}

}  // namespace
}  // namespace fedlearn

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  (void)fedlearn::fuzz::HonestSecAggTranscript();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fedlearn::fuzz::SecAggTranscript& t =
      fedlearn::fuzz::HonestSecAggTranscript();
  absl::StatusOr<std::unique_ptr<fedlearn::SecAggServer>> server =
      fedlearn::SecAggServer::Create(t.config);
  if (!server.ok()) std::abort();
  fedlearn::Input in(
      std::string_view(reinterpret_cast<const char*>(data), size));
  bool tampered = false;
  for (int ops = 0; !in.empty() && ops < 256; ++ops) {
    fedlearn::RunOp(**server, t, in, &tampered);
  }
  return 0;
}
