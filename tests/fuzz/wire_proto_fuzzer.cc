// The wire-to-engine conversions (common/wire/proto_conversion.h,
// common/wire/run_contract.h) on any message a peer could send: the first
// byte picks a RunContract (what a site checks before training) or a
// TaskHeader (what it receives every round), the rest is parsed as that
// message. Whatever FromProto accepts must convert back and be accepted
// again with the same content.
#include <cstddef>
#include <cstdint>

#include "common/wire/proto_conversion.h"
#include "common/wire/run_contract.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

namespace fedlearn {
namespace {

void CheckModelSpec(const v1::ModelSpec& proto) {
  absl::StatusOr<ModelSpec> spec = FromProto(proto);
  if (!spec.ok()) return;
  fuzz::FuzzCheck(spec->NumElements() <= kMaxModelValues,
                  "accepted a model above kMaxModelValues");
  absl::StatusOr<ModelSpec> again = FromProto(ToProto(*spec));
  fuzz::FuzzCheck(again.ok(), "ModelSpec round trip refused");
  fuzz::FuzzCheck(again->CompatibleWith(*spec), "ModelSpec round trip differs");
}

void CheckTrainingConfig(const v1::TrainingConfig& proto) {
  absl::StatusOr<TrainingConfig> config = FromProto(proto);
  if (!config.ok()) return;
  fuzz::FuzzCheck(FromProto(ToProto(*config)).ok(),
                  "TrainingConfig round trip refused");
}

void CheckContract(const v1::RunContract& contract) {
  (void)ContractDigest(contract);
  (void)ModelSourceFromDefinition(contract.model(), "");
  CheckModelSpec(contract.model().spec());
  absl::StatusOr<ModelSpec> spec = FromProto(contract.model().spec());
  if (spec.ok()) (void)CheckModelMatchesContract(*spec, contract.model());
  if (!contract.has_data()) return;
  absl::StatusOr<TableSchema> schema = FromProto(contract.data());
  if (!schema.ok()) return;
  absl::StatusOr<TableSchema> again = FromProto(ToProto(*schema));
  fuzz::FuzzCheck(again.ok(), "DataSchema round trip refused");
}

}  // namespace
}  // namespace fedlearn

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int body = static_cast<int>(size - 1);
  if (data[0] & 1) {
    fedlearn::v1::TaskHeader header;
    if (!header.ParseFromArray(data + 1, body)) return 0;
    fedlearn::CheckModelSpec(header.model_spec());
    fedlearn::CheckTrainingConfig(header.training());
  } else {
    fedlearn::v1::RunContract contract;
    if (!contract.ParseFromArray(data + 1, body)) return 0;
    fedlearn::CheckContract(contract);
  }
  return 0;
}
