// Partitioners that split one dataset among simulated clients, IID or with
// the label skew that federated learning has to cope with in practice.
//
// Every partitioner assigns each sample to exactly one client and returns the
// indices per client, each client's list sorted. Partitions are a pure
// function of the arguments and the seed (std::mt19937_64 driving standard
// distributions: reproducible for a given standard library, not across
// libraries, and not meant to be unpredictable). Invalid arguments, including
// labels outside [0, num_classes), yield InvalidArgument, never a crash.
#ifndef FEDLEARN_COMMON_DATA_PARTITION_H_
#define FEDLEARN_COMMON_DATA_PARTITION_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fedlearn {

// ClientIndices[c] holds the sample indices of client c, sorted.
using ClientIndices = std::vector<std::vector<size_t>>;

// A uniformly random split into num_clients parts whose sizes differ by at
// most one. Requires 1 <= num_clients <= num_samples.
absl::StatusOr<ClientIndices> PartitionIid(size_t num_samples, int num_clients,
                                           uint64_t seed);

// Label skew after Hsu, Qi & Brown 2019 ("Measuring the effects of
// non-identical data distribution", as in Flower's DirichletPartitioner): for
// each class, client proportions ~ Dir(alpha) and the class's samples are split
// accordingly. Small alpha concentrates each class on few clients; large alpha
// approaches IID. Whole draws are repeated (a bounded number of times, then
// InvalidArgument) until every client has >= min_samples_per_client samples.
absl::StatusOr<ClientIndices> PartitionDirichlet(
    const std::vector<int32_t>& labels, int32_t num_classes, int num_clients,
    double alpha, uint64_t seed, size_t min_samples_per_client = 10);

// Pathological non-IID split of McMahan et al. 2017: samples sorted by label
// are cut into num_clients * labels_per_client shards, and each client gets
// labels_per_client random shards. Shards never straddle two classes (each
// class is cut into a number of shards proportional to its size), so every
// client holds at most labels_per_client classes; this needs at least as
// many shards as classes present.
absl::StatusOr<ClientIndices> PartitionShards(
    const std::vector<int32_t>& labels, int32_t num_classes, int num_clients,
    int labels_per_client, uint64_t seed);

// A partitioning scheme as written in configs and on command lines:
// "iid", "dirichlet:<alpha>" (alpha > 0) or "shards:<labels per client>".
struct PartitionSpec {
  enum class Kind { kIid, kDirichlet, kShards };
  Kind kind = Kind::kIid;
  double alpha = 0.5;
  int labels_per_client = 2;
};

absl::StatusOr<PartitionSpec> ParsePartitionSpec(std::string_view text);

// Dispatches to the partitioner `spec` names (Dirichlet with its default
// min_samples_per_client).
absl::StatusOr<ClientIndices> Partition(const PartitionSpec& spec,
                                        const std::vector<int32_t>& labels,
                                        int32_t num_classes, int num_clients,
                                        uint64_t seed);

// Mean over non-empty clients of the total-variation distance between the
// client's label distribution and the global one: 0 for a perfectly
// stratified split, approaching 1 - 1/num_classes when every client holds a
// single class of balanced data. Labels must lie in [0, num_classes).
double MeanLabelSkew(const ClientIndices& parts,
                     const std::vector<int32_t>& labels, int32_t num_classes);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_PARTITION_H_
