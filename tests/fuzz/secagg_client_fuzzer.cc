// The client's secure-aggregation state machine (client/secagg/
// secagg_client.h) fed arbitrary SecAggServerMessage sequences. Each input
// drives a fresh client 0 of an honest recorded round (secagg_transcript.h),
// byte for byte the recorded one, so the recorded server messages are valid
// for it. Operations:
//   [op: u8] ...   (op % 4)
//   0 [k]             the k-th honest server message
//   1 [k][u16 n][n]   that message merged with a fuzzed one (field edits)
//   2 [u16 n][n]      a message parsed from the input
//   3                 Start() again
// The client may abort but must never crash, never answer after aborting,
// and never upload a masked vector of the wrong length.
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

void Deliver(SecAggClient& client, const v1::SecAggServerMessage& message) {
  const bool was_aborted = client.aborted();
  absl::StatusOr<SecAggClient::Reply> reply = client.Handle(message);
  if (!reply.ok()) return;
  fuzz::FuzzCheck(!was_aborted, "an aborted client answered");
  if (reply->masked_input) {
    fuzz::FuzzCheck(reply->masked_input->size() ==
                        static_cast<size_t>(fuzz::kSecAggVectorLength),
                    "masked input of the wrong length");
  }
}

void RunOp(SecAggClient& client, const fuzz::SecAggTranscript& t, Input& in) {
  const std::vector<v1::SecAggServerMessage>& honest = t.server_messages[0];
  const uint8_t op = in.Byte();
  switch (op % 4) {
    case 0:
      Deliver(client, honest[in.Byte() % honest.size()]);
      break;
    case 1: {
      v1::SecAggServerMessage m = honest[in.Byte() % honest.size()];
      std::string_view edit = in.Frame();
      if (m.MergeFromString(std::string(edit))) {
        Deliver(client, m);
      }
      break;
    }
    case 2: {
      std::string_view bytes = in.Frame();
      v1::SecAggServerMessage m;
      if (m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        Deliver(client, m);
      }
      break;
    }
    default:
      (void)client.Start();
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
  std::unique_ptr<fedlearn::SecAggClient> client =
      fedlearn::fuzz::MakeSecAggClient(t, 0);
  if (!client->Start().ok()) std::abort();
  fedlearn::Input in(
      std::string_view(reinterpret_cast<const char*>(data), size));
  for (int ops = 0; !in.empty() && ops < 64; ++ops) {
    fedlearn::RunOp(*client, t, in);
  }
  return 0;
}
