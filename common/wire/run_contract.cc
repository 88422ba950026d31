#include "common/wire/run_contract.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/crypto/sha256.h"
#include "common/flat/spec_mismatch.h"
#include "common/util/status_macros.h"
#include "common/wire/proto_conversion.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace fedlearn {

v1::ModelDefinition ToModelDefinition(const ModelSource& source,
                                      const ModelSpec& spec) {
  v1::ModelDefinition out;
  out.set_architecture(source.architecture);
  for (int64_t d : source.input_shape) out.add_input_shape(d);
  out.set_num_classes(source.num_classes);
  if (source.architecture == "mlp") out.set_hidden_units(source.hidden_units);
  out.set_buffers(BufferPolicyName(source.buffers));
  *out.mutable_spec() = ToProto(spec);
  for (const std::string& p : source.trainable) out.add_trainable(p);
  for (const std::string& p : source.frozen) out.add_frozen(p);
  out.set_base_weights_sha256(source.base_weights_sha256);
  if (source.lora.enabled()) {
    v1::LoraSpec* lora = out.mutable_lora();
    lora->set_rank(source.lora.rank);
    lora->set_alpha(source.lora.alpha);
    for (const std::string& t : source.lora.targets) lora->add_targets(t);
  }
  return out;
}

absl::StatusOr<ModelSource> ModelSourceFromDefinition(
    const v1::ModelDefinition& definition,
    const std::string& torchscript_path) {
  ModelSource source;
  source.architecture = definition.architecture();
  if (source.architecture.empty()) {
    return absl::InvalidArgumentError("the run contract names no architecture");
  }
  if (source.architecture == "torchscript") {
    if (torchscript_path.empty()) {
      return absl::FailedPreconditionError(
          "the run trains a TorchScript model: give this site its copy of the "
          "module with --torchscript FILE");
    }
    source.torchscript_path = torchscript_path;
  }
  source.input_shape.assign(definition.input_shape().begin(),
                            definition.input_shape().end());
  if (source.input_shape.empty()) {
    return absl::InvalidArgumentError("the run contract gives no input shape");
  }
  for (int64_t d : source.input_shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError(
          "the run contract's input shape has a non-positive dimension");
    }
  }
  source.num_classes = definition.num_classes();
  if (source.num_classes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("the run contract's num_classes is ", source.num_classes,
                     "; a classifier needs at least 2"));
  }
  if (definition.hidden_units() > 0) {
    source.hidden_units = definition.hidden_units();
  }
  if (definition.buffers().empty()) {
    source.buffers = BufferPolicy::kFederated;
  } else {
    absl::StatusOr<BufferPolicy> policy =
        ParseBufferPolicy(definition.buffers());
    if (!policy.ok()) {
      return absl::InvalidArgumentError(
          "unknown buffer policy in the run contract; this client knows "
          "federated and local");
    }
    source.buffers = *policy;
  }
  source.trainable.assign(definition.trainable().begin(),
                          definition.trainable().end());
  source.frozen.assign(definition.frozen().begin(), definition.frozen().end());
  source.base_weights_sha256 = definition.base_weights_sha256();
  if (definition.has_lora()) {
    const v1::LoraSpec& lora = definition.lora();
    if (lora.rank() == 0 || !std::isfinite(lora.alpha()) || lora.alpha() <= 0) {
      return absl::InvalidArgumentError(
          "the run contract's LoRA adapters need rank >= 1 and alpha > 0");
    }
    source.lora.rank = lora.rank();
    source.lora.alpha = lora.alpha();
    source.lora.targets.assign(lora.targets().begin(), lora.targets().end());
  }
  return source;
}

v1::DataSchema ToProto(const TableSchema& schema) {
  v1::DataSchema out;
  out.set_label_column(schema.label_column);
  for (const std::string& c : schema.classes) out.add_classes(c);
  for (const FeatureColumn& f : schema.features) {
    v1::DataColumn* col = out.add_features();
    col->set_name(f.name);
    col->set_type(f.type == FeatureColumn::Type::kCategorical
                      ? v1::DataColumn::CATEGORICAL
                      : v1::DataColumn::NUMERIC);
    for (const std::string& c : f.categories) col->add_categories(c);
  }
  out.set_label_match(schema.label_match == LabelMatch::kCaseInsensitive
                          ? v1::DataSchema::CASE_INSENSITIVE
                          : v1::DataSchema::EXACT);
  switch (schema.missing) {
    case MissingValuePolicy::kError:
      out.set_missing_values(v1::DataSchema::ERROR);
      break;
    case MissingValuePolicy::kDropRow:
      out.set_missing_values(v1::DataSchema::DROP_ROW);
      break;
    case MissingValuePolicy::kImputeMean:
      out.set_missing_values(v1::DataSchema::IMPUTE_MEAN);
      break;
  }
  for (const std::string& m : schema.missing_markers)
    out.add_missing_markers(m);
  return out;
}

absl::StatusOr<TableSchema> FromProto(const v1::DataSchema& proto) {
  TableSchema schema;
  schema.label_column = proto.label_column();
  schema.classes.assign(proto.classes().begin(), proto.classes().end());
  for (const v1::DataColumn& col : proto.features()) {
    FeatureColumn f;
    f.name = col.name();
    switch (col.type()) {
      case v1::DataColumn::NUMERIC:
        f.type = FeatureColumn::Type::kNumeric;
        break;
      case v1::DataColumn::CATEGORICAL:
        f.type = FeatureColumn::Type::kCategorical;
        break;
      default:
        return absl::InvalidArgumentError(
            "a column of the run's data schema has an unknown type");
    }
    f.categories.assign(col.categories().begin(), col.categories().end());
    schema.features.push_back(std::move(f));
  }
  switch (proto.label_match()) {
    case v1::DataSchema::LABEL_MATCH_UNSPECIFIED:
    case v1::DataSchema::EXACT:
      schema.label_match = LabelMatch::kExact;
      break;
    case v1::DataSchema::CASE_INSENSITIVE:
      schema.label_match = LabelMatch::kCaseInsensitive;
      break;
    default:
      return absl::InvalidArgumentError(
          "the run's data schema has an unknown label-match rule");
  }
  switch (proto.missing_values()) {
    case v1::DataSchema::MISSING_VALUES_UNSPECIFIED:
    case v1::DataSchema::ERROR:
      schema.missing = MissingValuePolicy::kError;
      break;
    case v1::DataSchema::DROP_ROW:
      schema.missing = MissingValuePolicy::kDropRow;
      break;
    case v1::DataSchema::IMPUTE_MEAN:
      schema.missing = MissingValuePolicy::kImputeMean;
      break;
    default:
      return absl::InvalidArgumentError(
          "the run's data schema has an unknown missing-value policy");
  }
  schema.missing_markers.assign(proto.missing_markers().begin(),
                                proto.missing_markers().end());
  RETURN_IF_ERROR(schema.Validate());
  return schema;
}

std::string ContractDigest(const v1::RunContract& contract) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    contract.SerializeToCodedStream(&coded);
  }
  return Sha256Hex(bytes);
}

absl::Status CheckModelMatchesContract(const ModelSpec& local,
                                       const v1::ModelDefinition& definition) {
  ASSIGN_OR_RETURN(ModelSpec expected, FromProto(definition.spec()));
  if (local.CompatibleWith(expected)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "this site's ", definition.architecture(),
      " model does not match the run's model (",
      DescribeSpecMismatch(local, "this site built", expected,
                           "the run's contract declares"),
      "); for a TorchScript model, use the module file the coordinator "
      "declared"));
}

}  // namespace fedlearn
