#include "common/data/partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// Draws of a whole Dirichlet partition before giving up on
// min_samples_per_client (Flower's DirichletPartitioner allows 10).
constexpr int kMaxDirichletDraws = 100;

absl::Status CheckClientCount(size_t num_samples, int num_clients) {
  if (num_clients < 1 || static_cast<size_t>(num_clients) > num_samples) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_clients must be in [1, ", num_samples,
                     "] (the number of samples), got ", num_clients));
  }
  return absl::OkStatus();
}

absl::Status CheckLabels(const std::vector<int32_t>& labels,
                         int32_t num_classes) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", labels[i], " of sample ", i,
                       " is outside [0, ", num_classes, ")"));
    }
  }
  return absl::OkStatus();
}

// Sample indices grouped by class, each group in random order.
std::vector<std::vector<size_t>> ShuffledByClass(
    const std::vector<int32_t>& labels, int32_t num_classes,
    std::mt19937_64& rng) {
  std::vector<std::vector<size_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);
  for (std::vector<size_t>& members : by_class) {
    std::shuffle(members.begin(), members.end(), rng);
  }
  return by_class;
}

ClientIndices SortEach(ClientIndices parts) {
  for (std::vector<size_t>& part : parts) std::sort(part.begin(), part.end());
  return parts;
}

}  // namespace

absl::StatusOr<ClientIndices> PartitionIid(size_t num_samples, int num_clients,
                                           uint64_t seed) {
  RETURN_IF_ERROR(CheckClientCount(num_samples, num_clients));
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(num_samples);
  std::iota(order.begin(), order.end(), size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  ClientIndices parts(num_clients);
  for (size_t c = 0; c < parts.size(); ++c) {
    parts[c].assign(order.begin() + num_samples * c / num_clients,
                    order.begin() + num_samples * (c + 1) / num_clients);
  }
  return SortEach(std::move(parts));
}

absl::StatusOr<ClientIndices> PartitionDirichlet(
    const std::vector<int32_t>& labels, int32_t num_classes, int num_clients,
    double alpha, uint64_t seed, size_t min_samples_per_client) {
  RETURN_IF_ERROR(CheckClientCount(labels.size(), num_clients));
  RETURN_IF_ERROR(CheckLabels(labels, num_classes));
  if (!(alpha > 0) || !std::isfinite(alpha)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Dirichlet alpha must be positive and finite, got ", alpha));
  }
  if (min_samples_per_client * num_clients > labels.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        num_clients, " clients with at least ", min_samples_per_client,
        " samples each need more than the ", labels.size(), " samples"));
  }

  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> gamma(alpha, 1.0);
  std::uniform_int_distribution<int> any_client(0, num_clients - 1);
  std::vector<double> weights(num_clients);
  for (int draw = 0; draw < kMaxDirichletDraws; ++draw) {
    ClientIndices parts(num_clients);
    for (const std::vector<size_t>& members :
         ShuffledByClass(labels, num_classes, rng)) {
      // Normalised independent Gamma(alpha) draws are Dir(alpha). For tiny
      // alpha all may underflow to 0; the limit of Dir(alpha) as alpha -> 0
      // is a uniformly chosen vertex, so use that.
      for (double& w : weights) w = gamma(rng);
      double total = std::accumulate(weights.begin(), weights.end(), 0.0);
      if (total == 0) {
        weights[any_client(rng)] = 1;
        total = 1;
      }
      double cumulative = 0;
      size_t begin = 0;
      for (int c = 0; c < num_clients; ++c) {
        cumulative += weights[c];
        const size_t end =
            c + 1 == num_clients
                ? members.size()
                : std::min(
                      members.size(),
                      static_cast<size_t>(cumulative / total * members.size()));
        parts[c].insert(parts[c].end(), members.begin() + begin,
                        members.begin() + end);
        begin = end;
      }
    }
    const bool all_large_enough =
        std::all_of(parts.begin(), parts.end(), [&](const auto& part) {
          return part.size() >= min_samples_per_client;
        });
    if (all_large_enough) return SortEach(std::move(parts));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "none of ", kMaxDirichletDraws, " Dirichlet(", alpha,
      ") partitions gave each of ", num_clients, " clients at least ",
      min_samples_per_client,
      " samples; raise alpha, lower the minimum or use fewer clients"));
}

absl::StatusOr<ClientIndices> PartitionShards(
    const std::vector<int32_t>& labels, int32_t num_classes, int num_clients,
    int labels_per_client, uint64_t seed) {
  RETURN_IF_ERROR(CheckClientCount(labels.size(), num_clients));
  RETURN_IF_ERROR(CheckLabels(labels, num_classes));
  if (labels_per_client < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "labels_per_client must be at least 1, got ", labels_per_client));
  }
  const size_t num_shards =
      static_cast<size_t>(num_clients) * labels_per_client;
  if (num_shards > labels.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(num_shards, " shards need at least as many samples, got ",
                     labels.size()));
  }

  std::mt19937_64 rng(seed);
  const std::vector<std::vector<size_t>> by_class =
      ShuffledByClass(labels, num_classes, rng);
  // Every present class gets one shard, the rest go by the D'Hondt rule
  // (next shard to the class with the largest size / (shards + 1)), which
  // keeps shard sizes as even as possible and never exceeds a class's size.
  std::vector<size_t> shards_per_class(num_classes, 0);
  size_t assigned = 0;
  for (int32_t k = 0; k < num_classes; ++k) {
    if (!by_class[k].empty()) {
      shards_per_class[k] = 1;
      ++assigned;
    }
  }
  if (assigned > num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        num_clients, " clients x ", labels_per_client, " labels = ", num_shards,
        " shards cannot cover the ", assigned, " classes present"));
  }
  for (; assigned < num_shards; ++assigned) {
    int32_t best = 0;
    for (int32_t k = 1; k < num_classes; ++k) {
      if (by_class[k].size() * (shards_per_class[best] + 1) >
          by_class[best].size() * (shards_per_class[k] + 1)) {
        best = k;
      }
    }
    ++shards_per_class[best];
  }

  std::vector<std::vector<size_t>> shards;
  for (int32_t k = 0; k < num_classes; ++k) {
    const std::vector<size_t>& members = by_class[k];
    const size_t n = members.size(), s = shards_per_class[k];
    for (size_t i = 0; i < s; ++i) {
      shards.emplace_back(members.begin() + n * i / s,
                          members.begin() + n * (i + 1) / s);
    }
  }
  std::shuffle(shards.begin(), shards.end(), rng);
  ClientIndices parts(num_clients);
  for (size_t i = 0; i < shards.size(); ++i) {
    std::vector<size_t>& part = parts[i / labels_per_client];
    part.insert(part.end(), shards[i].begin(), shards[i].end());
  }
  return SortEach(std::move(parts));
}

absl::StatusOr<PartitionSpec> ParsePartitionSpec(std::string_view spec_text) {
  // Debian's abseil has its own string_view type, distinct from std's.
  const absl::string_view text(spec_text.data(), spec_text.size());
  PartitionSpec spec;
  if (text == "iid") return spec;
  const std::pair<absl::string_view, absl::string_view> kind_value =
      absl::StrSplit(text, absl::MaxSplits(':', 1));
  if (kind_value.first == "dirichlet") {
    spec.kind = PartitionSpec::Kind::kDirichlet;
    if (absl::SimpleAtod(kind_value.second, &spec.alpha) && spec.alpha > 0 &&
        std::isfinite(spec.alpha)) {
      return spec;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "partition \"", text, "\": alpha must be a positive number"));
  }
  if (kind_value.first == "shards") {
    spec.kind = PartitionSpec::Kind::kShards;
    if (absl::SimpleAtoi(kind_value.second, &spec.labels_per_client) &&
        spec.labels_per_client >= 1) {
      return spec;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "partition \"", text, "\": labels per client must be an integer >= 1"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown partition \"", text,
                   "\"; expected iid, dirichlet:<alpha> or shards:<labels>"));
}

absl::StatusOr<ClientIndices> Partition(const PartitionSpec& spec,
                                        const std::vector<int32_t>& labels,
                                        int32_t num_classes, int num_clients,
                                        uint64_t seed) {
  switch (spec.kind) {
    case PartitionSpec::Kind::kIid:
      return PartitionIid(labels.size(), num_clients, seed);
    case PartitionSpec::Kind::kDirichlet:
      return PartitionDirichlet(labels, num_classes, num_clients, spec.alpha,
                                seed);
    case PartitionSpec::Kind::kShards:
      return PartitionShards(labels, num_classes, num_clients,
                             spec.labels_per_client, seed);
  }
  return absl::InvalidArgumentError("unknown partition kind");
}

double MeanLabelSkew(const ClientIndices& parts,
                     const std::vector<int32_t>& labels, int32_t num_classes) {
  std::vector<double> global(num_classes, 0.0);
  for (int32_t label : labels) global[label] += 1.0 / labels.size();
  double total = 0;
  int non_empty = 0;
  for (const std::vector<size_t>& part : parts) {
    if (part.empty()) continue;
    std::vector<double> local(num_classes, 0.0);
    for (size_t i : part) local[labels[i]] += 1.0 / part.size();
    double distance = 0;
    for (int32_t k = 0; k < num_classes; ++k) {
      distance += std::abs(local[k] - global[k]);
    }
    total += distance / 2;
    ++non_empty;
  }
  return non_empty == 0 ? 0 : total / non_empty;
}

}  // namespace fedlearn
