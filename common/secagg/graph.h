// The SecAgg+ communication graph (Bell et al., CCS 2020) and how its
// parameters are chosen.
//
// Clients are identified by their position in the round's cohort, sorted by
// client id: index 0..n-1 (Shamir x-coordinate = index + 1). The graph is a
// Harary-style circulant graph over a pseudorandom permutation of the
// cohort: after permuting with a PRG keyed by the session id, each client is
// joined to the k/2 clients before and after it on the ring. Everyone
// derives the same graph from (session id, n, k); the server does not send
// it. With k = n - 1 (even or odd) the graph is complete: plain SecAgg.
//
// Parameter choice (ChooseGraphParameters): for n <= kFullGraphMaxClients
// the full graph (k = n - 1, same threshold rule). Otherwise the threshold
// within a neighbourhood is an
// honest majority of the k + 1 share holders (the k neighbours and the
// owner itself), t = floor((k+1)/2) + 1, and k is the smallest even degree
// such that, with each client independently dropping with probability
// `dropout_rate`, the probability that ANY client keeps fewer than t live
// neighbours-plus-itself is at most 2^-security_bits (binomial tail, union
// bound over the n clients), and at least 2 * ceil(log2 n) (the
// logarithmic degree SecAgg+ needs for the honest part of the graph to stay
// connected). `security_bits` thus bounds the chance that dropouts abort a
// round; privacy rests on the honest-majority threshold and the degree
// floor. Examples (dropout 10%, 20 bits): n=100 -> k=30, t=16; n=1000 ->
// k=34, t=18; n=10000 -> k=40, t=21.
#ifndef FEDLEARN_COMMON_SECAGG_GRAPH_H_
#define FEDLEARN_COMMON_SECAGG_GRAPH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fedlearn {

inline constexpr int kFullGraphMaxClients = 20;

struct GraphParameters {
  int num_clients = 0;  // n
  int degree = 0;       // k: neighbours per client (n - 1 for the full graph)
  // t: shares needed to reconstruct a client's secret, out of k + 1 holders
  // (its neighbours and itself).
  int threshold = 0;
  bool full_graph() const { return degree == num_clients - 1; }
};

absl::StatusOr<GraphParameters> ChooseGraphParameters(int num_clients,
                                                      double dropout_rate,
                                                      int security_bits);

class SecAggGraph {
 public:
  // InvalidArgument unless 1 <= degree <= n-1 and degree is even or n-1.
  static absl::StatusOr<SecAggGraph> Create(const std::string& session_id,
                                            int num_clients, int degree);
  int num_clients() const { return static_cast<int>(neighbours_.size()); }
  int degree() const { return degree_; }
  // Sorted neighbour indices of `index` (never includes `index`).
  const std::vector<int>& Neighbours(int index) const {
    return neighbours_[index];
  }
  bool AreNeighbours(int a, int b) const;

 private:
  SecAggGraph() = default;
  int degree_ = 0;
  std::vector<std::vector<int>> neighbours_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_GRAPH_H_
