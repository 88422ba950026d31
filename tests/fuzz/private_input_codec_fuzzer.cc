// PrivateInputCodec (common/dp/private_input_codec.h): both sides build it
// from a round's DpTaskConfig + SecAggEncoding (parsed here from the input,
// as a client receives them in a TaskHeader), and the coordinator decodes an
// unmasked sum any cohort member could have skewed. Create must refuse bad
// parameters cleanly; Decode must refuse or succeed on any sum.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/dp/private_input_codec.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedlearn;
  FuzzedDataProvider in(data, size);
  // The round's parameters as a TaskHeader carries them (length-prefixed
  // protobuf), so seeds from real tasks reach deep states.
  const std::string header_bytes =
      in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(0, 512));
  v1::TaskHeader header;
  if (!header.ParseFromString(header_bytes)) return 0;
  // The dimension is the coordinator's own model size, not a peer's choice:
  // kept small so the fuzzer spends its time in the codecs.
  const size_t dimension = in.ConsumeIntegralInRange<size_t>(0, 300);
  absl::StatusOr<PrivateInputCodec> codec =
      PrivateInputCodec::Create(header.dp(), header.encoding(), dimension);
  if (!codec.ok()) return 0;
  std::vector<uint32_t> sum(codec->encoded_length());
  if (in.ConsumeBool() && !sum.empty()) sum.pop_back();  // a wrong length
  for (uint32_t& v : sum) v = in.ConsumeIntegral<uint32_t>();
  absl::StatusOr<PrivateSum> decoded = codec->Decode(sum);
  if (decoded.ok()) {
    fuzz::FuzzCheck(decoded->update_sum.size() == dimension,
                    "decoded sum has the wrong dimension");
  }
  return 0;
}
