// ReadModelFile (common/wire/model_file.h), the loader of saved global models
// (checkpoints the coordinator resumes from, models a site evaluates), on
// arbitrary file contents. A file it accepts must be written back
// byte-identical by WriteModelFile.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/util/atomic_file.h"
#include "common/wire/model_file.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fedlearn::fuzz::ScratchFile* in =
      new fedlearn::fuzz::ScratchFile("model-in");
  static const fedlearn::fuzz::ScratchFile* out =
      new fedlearn::fuzz::ScratchFile("model-out");
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (!in->Write(bytes)) return 0;
  absl::StatusOr<fedlearn::SavedModel> saved =
      fedlearn::ReadModelFile(in->path());
  if (!saved.ok()) return 0;
  fedlearn::fuzz::FuzzCheck(static_cast<int64_t>(saved->model.values.size()) ==
                                saved->model.spec.NumElements(),
                            "accepted a payload that does not match its spec");
  // The header is protobuf: a re-serialization may order or drop unknown
  // fields differently, so only the reloaded content is compared.
  fedlearn::fuzz::FuzzCheck(
      fedlearn::WriteModelFile(out->path(), saved->ref, saved->model).ok(),
      "an accepted model cannot be written back");
  absl::StatusOr<fedlearn::SavedModel> again =
      fedlearn::ReadModelFile(out->path());
  fedlearn::fuzz::FuzzCheck(again.ok(), "a written model does not load");
  fedlearn::fuzz::FuzzCheck(
      again->model.values.size() == saved->model.values.size(),
      "reloaded model differs");
  return 0;
}
