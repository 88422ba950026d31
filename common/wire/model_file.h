// The on-disk format of a saved global model:
//   "FLMODEL1" | u32 LE header length | ModelFileHeader (protobuf) | float32 LE
// The header carries the run/round reference, the spec and a CRC32 of the
// payload, so a truncated or corrupted file is refused on load, never used.
#ifndef FEDLEARN_COMMON_WIRE_MODEL_FILE_H_
#define FEDLEARN_COMMON_WIRE_MODEL_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/flat/flat_vector.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

struct SavedModel {
  v1::RoundRef ref;
  FlatModel model;
};

// Written atomically (see common/util/atomic_file.h).
absl::Status WriteModelFile(const std::string& path, const v1::RoundRef& ref,
                            const FlatModel& model);
absl::StatusOr<SavedModel> ReadModelFile(const std::string& path);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_WIRE_MODEL_FILE_H_
