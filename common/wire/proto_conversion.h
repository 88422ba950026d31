// Conversions between the wire messages (proto/fedlearn/v1) and the in-memory
// types the engines use. Conversions from the wire validate: a message a
// client or server could have crafted never becomes an invalid C++ value.
#ifndef FEDLEARN_COMMON_WIRE_PROTO_CONVERSION_H_
#define FEDLEARN_COMMON_WIRE_PROTO_CONVERSION_H_

#include "absl/status/statusor.h"
#include "common/config/training_config.h"
#include "common/flat/flat_vector.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

// Floats per streamed chunk: 1 MiB of payload, well under gRPC's 4 MiB limit.
inline constexpr size_t kChunkValues = 256 * 1024;

// Upper bound on any model we accept: 2^28 floats (1 GiB).
inline constexpr int64_t kMaxModelValues = int64_t{1} << 28;

v1::ModelSpec ToProto(const ModelSpec& spec);
// InvalidArgument for negative/zero dims, unknown dtypes, empty names,
// duplicate names or a total above kMaxModelValues.
absl::StatusOr<ModelSpec> FromProto(const v1::ModelSpec& proto);

v1::TrainingConfig ToProto(const TrainingConfig& config);
// InvalidArgument for non-positive learning rate, epochs or batch size,
// negative momentum/weight decay, unspecified optimizer.
absl::StatusOr<TrainingConfig> FromProto(const v1::TrainingConfig& proto);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_WIRE_PROTO_CONVERSION_H_
