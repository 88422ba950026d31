// The run contract on the wire: what the coordinator declares once and every
// site checks before it trains (proto/fedlearn/v1/fedlearn.proto,
// RunContract).
//
// Guarantees: conversions from the wire validate (an unknown architecture,
// buffer policy, column type or label rule is InvalidArgument, never a
// default); ContractDigest is a pure function of the contract's content
// (deterministic serialization), so two sides that hold equal contracts
// compute equal digests, and any change to the model or the schema changes
// it. No gRPC, no LibTorch.
#ifndef FEDLEARN_COMMON_WIRE_RUN_CONTRACT_H_
#define FEDLEARN_COMMON_WIRE_RUN_CONTRACT_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/data/table_schema.h"
#include "common/flat/flat_vector.h"
#include "common/models/model_source.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

// `spec` is the tensor spec of the coordinator's model (the initial model).
// `source`'s trainable/frozen patterns and base_weights_sha256 (the digest
// of its frozen base) become fields 7-9; empty ones leave the digest as is.
v1::ModelDefinition ToModelDefinition(const ModelSource& source,
                                      const ModelSpec& spec);
// The model a site builds for `definition`; `torchscript_path` is the site's
// own copy of the module when the architecture is "torchscript".
absl::StatusOr<ModelSource> ModelSourceFromDefinition(
    const v1::ModelDefinition& definition, const std::string& torchscript_path);

v1::DataSchema ToProto(const TableSchema& schema);
// Validates with TableSchema::Validate.
absl::StatusOr<TableSchema> FromProto(const v1::DataSchema& proto);

// SHA-256 (lower-case hex) of the contract's deterministic serialization.
std::string ContractDigest(const v1::RunContract& contract);

// Checks that a site's model, built for `definition`, has exactly the
// contract's tensors. FailedPrecondition naming the first difference.
absl::Status CheckModelMatchesContract(const ModelSpec& local,
                                       const v1::ModelDefinition& definition);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_WIRE_RUN_CONTRACT_H_
