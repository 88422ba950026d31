// The virtual sites of a simulation or of one client pool: the training data
// loaded once, partitioned over the run's N clients with the run's seed
// ([run] seed), and one SitePreparer (model from the coordinator's contract,
// the client's own shard, its own statistics) for each client of the range.
// Every pool of a scale-out run loads the same data and partitions it the
// same way, then keeps only its range, so client i trains on the same shard
// whichever process hosts it.
//
// Refuses: a tabular (csv) simulation without [data], a partition spec that
// does not parse, data that does not fit [model]. Draws progress bars on a
// terminal (progress_bar.h). Thread-compatible.
#ifndef FEDLEARN_APPS_SIMULATION_VIRTUAL_SITES_H_
#define FEDLEARN_APPS_SIMULATION_VIRTUAL_SITES_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/simulation/sim_flags.h"
#include "client/site_preparer.h"
#include "server/coordinator_config.h"

namespace fedlearn {

struct VirtualSites {
  // preparers[k] is client range.begin + k.
  std::vector<std::unique_ptr<RunPreparer>> preparers;
  // Over all N clients (partition.h MeanLabelSkew).
  double mean_label_skew = 0;
};

absl::StatusOr<VirtualSites> PrepareVirtualSites(
    const CoordinatorConfig& config, ClientRange range);

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_SIMULATION_VIRTUAL_SITES_H_
