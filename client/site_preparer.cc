#include "client/site_preparer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/training/dp_sgd.h"
#include "client/training/record_dp_trainer.h"
#include "client/training/torch_site_evaluator.h"
#include "client/training/torch_trainer.h"
#include "common/data/feature_standardizer.h"
#include "common/data/holdout_split.h"
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

// Opens the site's ledger on first use, switches `trainer` to DP-SGD and
// wraps it in the budget-keeping RecordDpTrainer.
absl::StatusOr<std::unique_ptr<LocalTrainer>> WithRecordDp(
    const SitePreparerOptions& options, std::unique_ptr<TorchTrainer> trainer,
    std::unique_ptr<RecordPrivacyBudget>& budget) {
  const RecordDpSettings& dp = options.record_dp;
  if (budget == nullptr) {
    ASSIGN_OR_RETURN(budget, RecordPrivacyBudget::Open(
                                 dp.delta, dp.epsilon_budget, dp.ledger_path));
    spdlog::info(
        "record-level DP-SGD on (sigma {:g}, clip {:g}): epsilon {:.4f} of "
        "{:g} spent at delta {:g} over {} earlier training(s); ledger {}",
        dp.noise_multiplier, dp.clip_norm, budget->epsilon(), dp.epsilon_budget,
        dp.delta, budget->trainings(),
        dp.ledger_path.empty() ? "in memory only (not kept across restarts)"
                               : dp.ledger_path);
  }
  DpSgdOptions sgd;
  sgd.noise_multiplier = dp.noise_multiplier;
  sgd.clip_norm = dp.clip_norm;
  sgd.seed_for_testing = dp.seed_for_testing;
  RETURN_IF_ERROR(trainer->EnableDpSgd(sgd));
  return std::make_unique<RecordDpTrainer>(std::move(trainer),
                                           dp.noise_multiplier, budget.get(),
                                           options.on_record_epsilon);
}

// The loader's group attribute: the one the contract's EvaluationSpec names.
DataSourceConfig WithGroups(DataSourceConfig source,
                            const v1::RunContract& contract) {
  if (contract.has_evaluation() &&
      !contract.evaluation().group_column().empty()) {
    source.group_column = contract.evaluation().group_column();
    source.groups.assign(contract.evaluation().groups().begin(),
                         contract.evaluation().groups().end());
  }
  return source;
}

}  // namespace

SitePreparer::SitePreparer(SitePreparerOptions options)
    : options_(std::move(options)) {}

SitePreparer::SitePreparer(SitePreparerOptions options, Dataset preloaded)
    : options_(std::move(options)), preloaded_(std::move(preloaded)) {}

SitePreparer::~SitePreparer() = default;

absl::StatusOr<Dataset> SitePreparer::LoadRawData(
    const DataSourceConfig& source, const std::optional<TableSchema>& schema) {
  if (preloaded_.has_value()) {
    // Moved, not copied: a simulation holds many shards. A second contract
    // in the same process (never seen in a simulation) has no data left.
    Dataset data = *std::move(preloaded_);
    preloaded_.reset();
    consumed_preloaded_ = true;
    return data;
  }
  if (consumed_preloaded_) {
    return absl::FailedPreconditionError(
        "this virtual site's shard was already used for another contract");
  }
  const bool tabular = source.kind == "csv";
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
      Dataset data,
      LoadDataSource(source, "train", schema.has_value() ? &*schema : nullptr,
                     &report));
  if (schema.has_value()) {
    spdlog::info("{}: {}", EscapeUntrusted(source.path, 200),
                 report.Summary(*schema));
  }
  if (options_.partition.empty()) return data;
  ASSIGN_OR_RETURN(PartitionSpec spec, ParsePartitionSpec(options_.partition));
  if (options_.partition_index < 0 ||
      options_.partition_index >= options_.num_partitions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--partition-index ", options_.partition_index,
        " is outside [0, --num-partitions ", options_.num_partitions, ")"));
  }
  ASSIGN_OR_RETURN(ClientIndices parts,
                   Partition(spec, data.labels, data.num_classes,
                             options_.num_partitions, options_.partition_seed));
  return data.Subset(parts[options_.partition_index]);
}

absl::StatusOr<Dataset> SitePreparer::LoadEvalFile(
    const DataSourceConfig& source, const std::optional<TableSchema>& schema) {
  if ((source.kind == "csv") != schema.has_value()) {
    return absl::FailedPreconditionError(
        "the evaluation file (--eval-data) must have the training data's "
        "format: a CSV table for a tabular run, images otherwise");
  }
  TableLoadReport report;
  absl::StatusOr<Dataset> data = LoadDataSource(
      source, "test", schema.has_value() ? &*schema : nullptr, &report);
  if (!data.ok()) {
    return absl::Status(data.status().code(),
                        absl::StrCat("the evaluation file (--eval-data): ",
                                     data.status().message()));
  }
  if (schema.has_value()) {
    spdlog::info("{} (evaluation): {}", EscapeUntrusted(source.path, 200),
                 report.Summary(*schema));
  }
  return data;
}

absl::StatusOr<SitePreparer::SiteData> SitePreparer::LoadSiteData(
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
  SiteData site;
  ASSIGN_OR_RETURN(site.train,
                   LoadRawData(WithGroups(options_.data, contract), schema));
  if (contract.has_evaluation() && !options_.eval_data.kind.empty()) {
    ASSIGN_OR_RETURN(
        site.holdout,
        LoadEvalFile(WithGroups(options_.eval_data, contract), schema));
  } else if (contract.has_evaluation()) {
    ASSIGN_OR_RETURN(
        HoldoutSplit split,
        SplitHoldout(site.train, contract.evaluation().holdout_fraction(),
                     contract.evaluation().split_seed()));
    site.train = std::move(split.train);
    if (split.holdout.size() > 0) site.holdout = std::move(split.holdout);
  }
  if (schema.has_value()) {
    // This site's own statistics, of the training part only (nothing held
    // out leaks into them), saved so inference applies the same ones.
    const FeatureStandardizer standardizer =
        FeatureStandardizer::Fit(site.train, schema->NumericPositions());
    RETURN_IF_ERROR(standardizer.Apply(&site.train));
    if (site.holdout.has_value()) {
      RETURN_IF_ERROR(standardizer.Apply(&*site.holdout));
    }
    if (!options_.state_dir.empty()) {
      RETURN_IF_ERROR(MakeDirectories(options_.state_dir));
      RETURN_IF_ERROR(
          WriteFileAtomically(options_.state_dir + "/" + kSiteStandardizerFile,
                              standardizer.ToJson()));
    }
  }
  return site;
}

absl::StatusOr<LocalTrainer*> SitePreparer::Prepare(
    const v1::RunContract& contract) {
  trainer_.reset();
  evaluator_.reset();
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
  // The frozen part of a fine-tuning run comes from the site's base copy.
  model.initial_weights = options_.base_weights_path;
  if (!model.base_weights_sha256.empty() && model.initial_weights.empty() &&
      model.architecture != "torchscript") {
    return absl::FailedPreconditionError(absl::StrCat(
        "the run fine-tunes a pre-trained ",
        EscapeUntrusted(model.architecture, 32),
        " model with frozen parameters: give this site its copy of the base "
        "weights with --base-weights FILE (site.base_weights)"));
  }
  ASSIGN_OR_RETURN(SiteData data, LoadSiteData(contract));
  RETURN_IF_ERROR(CheckDataFitsModel(data.train, model));
  std::unique_ptr<TorchSiteEvaluator> evaluator;
  if (data.holdout.has_value()) {
    RETURN_IF_ERROR(CheckDataFitsModel(*data.holdout, model));
    ASSIGN_OR_RETURN(
        evaluator, TorchSiteEvaluator::Create(model, *std::move(data.holdout)));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<TorchTrainer> trainer,
                   TorchTrainer::Create(model, std::move(data.train)));
  if (evaluator != nullptr && model.buffers == BufferPolicy::kLocal) {
    // FedBN: the site's model has its own running statistics.
    evaluator->UseLocalBuffers(
        [local = trainer.get()] { return local->LocalBuffers(); });
  }
  RETURN_IF_ERROR(CheckModelMatchesContract(trainer->Spec(), contract.model()));
  if (!options_.state_dir.empty()) {
    RETURN_IF_ERROR(MakeDirectories(options_.state_dir));
    RETURN_IF_ERROR(
        WriteFileAtomically(options_.state_dir + "/" + kSiteContractFile,
                            contract.SerializeAsString()));
  }
  if (options_.record_dp.enabled()) {  // record-level DP-SGD
    ASSIGN_OR_RETURN(
        trainer_, WithRecordDp(options_, std::move(trainer), record_budget_));
  } else {
    trainer_ = std::move(trainer);
  }
  evaluator_ = std::move(evaluator);
  return trainer_.get();
}

}  // namespace fedlearn
