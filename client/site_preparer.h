// The site's RunPreparer: builds the model the run's contract defines and
// loads this site's data against the contract's schema.
//
// Guarantees: the model comes from the contract (architecture, input shape,
// classes, width), never from local flags or local data; a tabular site's
// file is loaded by column name against the declared schema (classes are the
// declared vocabulary, so two sites cannot disagree on what class 0 means);
// the site's standardisation statistics are fitted on its own rows, saved in
// its state directory with the contract (for fedlearn-predict) and applied.
// Every refusal names the setting to change. Refuses: a tabular file when
// the run declares no schema, image data when it declares one, a model whose
// tensors differ from the contract's, data whose sample shape or class count
// differs from the model's.
// Federated evaluation (the contract's EvaluationSpec): the site's data
// (after any partition) is split once, stratified by label with the spec's
// seed and fraction (common/data/holdout_split.h), and only the training
// part reaches the trainer (NumExamples() counts it alone); or, with
// `eval_data`, that local file (same format and schema) is the held-out set
// and the site trains on all of its data. Standardisation statistics are
// fitted on the training part only and applied to both. Evaluator() is the
// held-out set's TorchSiteEvaluator (null without evaluation, or when no
// class has two examples to split). A contract without evaluation loads and
// trains exactly as before.
// Torch-free TU (the trainer is created through torch_trainer.h).
#ifndef FEDLEARN_CLIENT_SITE_PREPARER_H_
#define FEDLEARN_CLIENT_SITE_PREPARER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "client/run_preparer.h"
#include "client/training/record_privacy_budget.h"
#include "common/data/data_source.h"
#include "common/data/dataset.h"

namespace fedlearn {

struct SitePreparerOptions {
  // Where this site's data is (site-local: never sent).
  DataSourceConfig data;
  // Optional: play one shard of the data (simulating a site).
  std::string partition;  // "", iid, dirichlet:A, shards:K
  int num_partitions = 1;
  int partition_index = 0;
  uint64_t partition_seed = 1;
  // The site's copy of the module when the run trains a TorchScript model.
  std::string torchscript_path;
  // The site's copy of the pre-trained base (.fmodel or safetensors) when
  // the run freezes parameters; "" = none (a TorchScript module's own
  // weights). Its frozen tensors must hash to the contract's
  // base_weights_sha256.
  std::string base_weights_path;
  // If set, the run must use this architecture (a site pinning what it
  // expects; --model).
  std::string expected_architecture;
  // If non-empty: contract.pb and standardizer.json are written here.
  std::string state_dir;
  // Optional (kind ""): this site's own evaluation file for federated
  // evaluation, instead of holding out part of `data`.
  DataSourceConfig eval_data;
  // Record-level DP (client/training/record_dp_trainer.h): off unless
  // record_dp.enabled(), then validated settings. Every run's trainer trains
  // with DP-SGD and spends from one ledger, opened at the first Prepare().
  RecordDpSettings record_dp;
  // Hears the site's record-level epsilon after each training; may be empty.
  std::function<void(double)> on_record_epsilon;
};

class SitePreparer : public RunPreparer {
 public:
  // Loads data lazily from `options.data` at Prepare().
  explicit SitePreparer(SitePreparerOptions options);
  // With data already in memory (a simulation's shard); `options.data` and
  // the partition fields are ignored. Tabular shards must be raw
  // (unstandardised): Prepare fits this site's statistics.
  SitePreparer(SitePreparerOptions options, Dataset preloaded);
  ~SitePreparer() override;

  absl::StatusOr<LocalTrainer*> Prepare(
      const v1::RunContract& contract) override;
  LocalEvaluator* Evaluator() override { return evaluator_.get(); }

 private:
  // The site's training data and, with federated evaluation, its held-out
  // data, both standardised with the training part's statistics.
  struct SiteData {
    Dataset train;
    std::optional<Dataset> holdout;
  };
  absl::StatusOr<SiteData> LoadSiteData(const v1::RunContract& contract);
  // The whole of this site's data (or its partition), unstandardised.
  absl::StatusOr<Dataset> LoadRawData(const DataSourceConfig& source,
                                      const std::optional<TableSchema>& schema);
  absl::StatusOr<Dataset> LoadEvalFile(
      const DataSourceConfig& source, const std::optional<TableSchema>& schema);

  const SitePreparerOptions options_;
  std::optional<Dataset> preloaded_;
  bool consumed_preloaded_ = false;
  std::unique_ptr<LocalTrainer> trainer_;
  std::unique_ptr<LocalEvaluator> evaluator_;
  std::unique_ptr<RecordPrivacyBudget> record_budget_;  // per site, not run
};

// Files a prepared site keeps in its state directory.
inline constexpr char kSiteContractFile[] = "contract.pb";
inline constexpr char kSiteStandardizerFile[] = "standardizer.json";

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SITE_PREPARER_H_
