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
// Torch-free TU (the trainer is created through torch_trainer.h).
#ifndef FEDLEARN_CLIENT_SITE_PREPARER_H_
#define FEDLEARN_CLIENT_SITE_PREPARER_H_

#include <memory>
#include <optional>
#include <string>

#include "client/run_preparer.h"
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
  // If set, the run must use this architecture (a site pinning what it
  // expects; --model).
  std::string expected_architecture;
  // If non-empty: contract.pb and standardizer.json are written here.
  std::string state_dir;
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

 private:
  absl::StatusOr<Dataset> LoadSiteData(const v1::RunContract& contract);

  const SitePreparerOptions options_;
  std::optional<Dataset> preloaded_;
  bool consumed_preloaded_ = false;
  std::unique_ptr<LocalTrainer> trainer_;
};

// Files a prepared site keeps in its state directory.
inline constexpr char kSiteContractFile[] = "contract.pb";
inline constexpr char kSiteStandardizerFile[] = "standardizer.json";

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SITE_PREPARER_H_
