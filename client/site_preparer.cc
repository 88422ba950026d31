#include "client/site_preparer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/training/torch_trainer.h"
#include "common/data/feature_standardizer.h"
#include "common/data/partition.h"
#include "common/util/atomic_file.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/wire/run_contract.h"

namespace fedlearn {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// The site's data must be what the model takes: same per-sample shape and
// labels within the contract's classes.
absl::Status CheckDataFitsModel(const Dataset& data, const ModelSource& model) {
  if (data.size() == 0) {
    return absl::FailedPreconditionError(
        "this site has no usable training rows");
  }
  if (data.sample_shape != model.input_shape) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this site's samples have shape ", ShapeText(data.sample_shape),
        " but the run's model takes ", ShapeText(model.input_shape),
        " (coordinator [model] input_shape, or the [data] schema's columns)"));
  }
  for (int32_t label : data.labels) {
    if (label < 0 || label >= model.num_classes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this site has label ", label, " but the run's model has ",
          model.num_classes, " classes (coordinator [model] num_classes)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

SitePreparer::SitePreparer(SitePreparerOptions options)
    : options_(std::move(options)) {}

SitePreparer::SitePreparer(SitePreparerOptions options, Dataset preloaded)
    : options_(std::move(options)), preloaded_(std::move(preloaded)) {}

SitePreparer::~SitePreparer() = default;

absl::StatusOr<Dataset> SitePreparer::LoadSiteData(
    const v1::RunContract& contract) {
  std::optional<TableSchema> schema;
  if (contract.has_data()) {
    absl::StatusOr<TableSchema> parsed = FromProto(contract.data());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the run's data schema is invalid: ", parsed.status().message()));
    }
    schema = *std::move(parsed);
  }
  Dataset data;
  if (preloaded_.has_value()) {
    // Moved, not copied: a simulation holds many shards. A second contract
    // in the same process (never seen in a simulation) has no data left.
    data = *std::move(preloaded_);
    preloaded_.reset();
    consumed_preloaded_ = true;
  } else if (consumed_preloaded_) {
    return absl::FailedPreconditionError(
        "this virtual site's shard was already used for another contract");
  } else {
    const bool tabular = options_.data.kind == "csv";
    if (schema.has_value() && !tabular) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the run is tabular (label column '", schema->label_column,
          "'): give this site's table with --data csv --data-path FILE"));
    }
    if (!schema.has_value() && tabular) {
      return absl::FailedPreconditionError(
          "this site has a CSV table but the run declares no data schema; "
          "the coordinator must declare one ([data] in its configuration) so "
          "that every site maps labels and columns the same way");
    }
    TableLoadReport report;
    ASSIGN_OR_RETURN(
        data, LoadDataSource(options_.data, "train",
                             schema.has_value() ? &*schema : nullptr, &report));
    if (schema.has_value()) {
      spdlog::info("{}: {}", EscapeUntrusted(options_.data.path, 200),
                   report.Summary(*schema));
    }
    if (!options_.partition.empty()) {
      ASSIGN_OR_RETURN(PartitionSpec spec,
                       ParsePartitionSpec(options_.partition));
      if (options_.partition_index < 0 ||
          options_.partition_index >= options_.num_partitions) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--partition-index ", options_.partition_index,
            " is outside [0, --num-partitions ", options_.num_partitions, ")"));
      }
      ASSIGN_OR_RETURN(
          ClientIndices parts,
          Partition(spec, data.labels, data.num_classes,
                    options_.num_partitions, options_.partition_seed));
      data = data.Subset(parts[options_.partition_index]);
    }
  }
  if (schema.has_value()) {
    // This site's own statistics, saved so inference applies the same ones.
    const FeatureStandardizer standardizer =
        FeatureStandardizer::Fit(data, schema->NumericPositions());
    RETURN_IF_ERROR(standardizer.Apply(&data));
    if (!options_.state_dir.empty()) {
      RETURN_IF_ERROR(MakeDirectories(options_.state_dir));
      RETURN_IF_ERROR(
          WriteFileAtomically(options_.state_dir + "/" + kSiteStandardizerFile,
                              standardizer.ToJson()));
    }
  }
  return data;
}

absl::StatusOr<LocalTrainer*> SitePreparer::Prepare(
    const v1::RunContract& contract) {
  trainer_.reset();
  ASSIGN_OR_RETURN(
      ModelSource model,
      ModelSourceFromDefinition(contract.model(), options_.torchscript_path));
  if (!options_.expected_architecture.empty() &&
      options_.expected_architecture != model.architecture) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this site expects a ", options_.expected_architecture,
        " model (--model) but the run trains ",
        EscapeUntrusted(model.architecture, 32),
        "; drop --model to accept the coordinator's architecture"));
  }
  ASSIGN_OR_RETURN(Dataset data, LoadSiteData(contract));
  RETURN_IF_ERROR(CheckDataFitsModel(data, model));
  ASSIGN_OR_RETURN(std::unique_ptr<TorchTrainer> trainer,
                   TorchTrainer::Create(model, std::move(data)));
  RETURN_IF_ERROR(CheckModelMatchesContract(trainer->Spec(), contract.model()));
  if (!options_.state_dir.empty()) {
    RETURN_IF_ERROR(MakeDirectories(options_.state_dir));
    RETURN_IF_ERROR(
        WriteFileAtomically(options_.state_dir + "/" + kSiteContractFile,
                            contract.SerializeAsString()));
  }
  trainer_ = std::move(trainer);
  return trainer_.get();
}

}  // namespace fedlearn
