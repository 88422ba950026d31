#include "apps/simulation/virtual_sites.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/data/data_source.h"
#include "common/data/partition.h"
#include "common/util/log.h"
#include "common/util/progress_bar.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// A tabular run loads the pooled table against the run's schema, raw: each
// virtual site standardises its own shard (as a real site does).
absl::StatusOr<Dataset> LoadTrainingData(const CoordinatorConfig& config) {
  ProgressBar bar("loading training data", 0);
  bar.Update(0, config.simulation.train_data.kind);
  // Federated evaluation's group column: each row's group travels with its
  // shard into the virtual site's held-out split, as a real site loads it.
  DataSourceConfig source = config.simulation.train_data;
  if (config.engine.evaluation.enabled()) {
    source.group_column = config.federated_eval_spec.group_column;
    source.groups = config.federated_eval_spec.groups;
  }
  TableLoadReport table_report;
  ASSIGN_OR_RETURN(Dataset train, LoadDataSource(source, "train",
                                                 config.data_schema.has_value()
                                                     ? &*config.data_schema
                                                     : nullptr,
                                                 &table_report));
  bar.Finish(absl::StrCat(train.size(), " examples"));
  if (config.data_schema.has_value()) {
    spdlog::info("{}: {}", config.simulation.train_data.path,
                 table_report.Summary(*config.data_schema));
  } else if (config.simulation.train_data.kind == "csv") {
    return absl::InvalidArgumentError(
        "a tabular simulation needs the run's data schema: declare [data] "
        "(label_column, classes, columns) in the configuration");
  }
  if (train.sample_shape != config.model.input_shape ||
      train.num_classes != config.model.num_classes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the simulation's data (", train.num_classes, " classes, ",
        train.SampleNumel(), " values per sample) does not fit [model] (",
        config.model.num_classes,
        " classes): set [model] input_shape and num_classes, or [data]"));
  }
  return train;
}

}  // namespace

absl::StatusOr<VirtualSites> PrepareVirtualSites(
    const CoordinatorConfig& config, ClientRange range) {
  ASSIGN_OR_RETURN(Dataset train, LoadTrainingData(config));
  ASSIGN_OR_RETURN(PartitionSpec spec,
                   ParsePartitionSpec(config.simulation.partition));
  // Over all N clients with the run's seed, in every pool alike.
  ASSIGN_OR_RETURN(ClientIndices parts,
                   Partition(spec, train.labels, train.num_classes,
                             config.simulation.clients, config.engine.seed));
  RecordDpSettings dp;  // in memory: a simulated site lives for one run
  dp.noise_multiplier = config.simulation.record_dp_noise_multiplier;
  dp.clip_norm = config.simulation.record_dp_clip;
  dp.delta = config.simulation.record_dp_delta;
  dp.epsilon_budget = config.simulation.record_epsilon_budget;
  if (dp.enabled()) RETURN_IF_ERROR(ValidateRecordDpSettings(dp));
  VirtualSites sites;
  sites.mean_label_skew = MeanLabelSkew(parts, train.labels, train.num_classes);
  ProgressBar bar("preparing virtual sites", range.size());
  for (int i = range.begin; i < range.end; ++i) {
    SitePreparerOptions site;
    site.torchscript_path = config.model.torchscript_path;
    site.record_dp = dp;
    if (dp.enabled())
      site.record_dp.seed_for_testing = config.engine.seed * 7919 + i;
    // The virtual sites share the coordinator's pre-trained base.
    if (config.model.initial_weights != "torchscript") {
      site.base_weights_path = config.model.initial_weights;
    }
    sites.preparers.push_back(
        std::make_unique<SitePreparer>(site, train.Subset(parts[i])));
    bar.Advance();
  }
  bar.Finish();
  return sites;  // `train` goes: the shards hold their own copies
}

}  // namespace fedlearn
