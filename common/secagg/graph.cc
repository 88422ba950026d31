#include "common/secagg/graph.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fedlearn {
namespace {

// log P[Binomial(m, p) < t], computed in log space.
double LogBinomialCdfBelow(int m, double p, int t) {
  if (t <= 0) return -INFINITY;
  if (p <= 0) return 0.0;  // no successes at all
  const double log_p = std::log(p);
  const double log_q = p >= 1 ? -INFINITY : std::log1p(-p);
  double log_sum = -INFINITY;
  for (int i = 0; i < t && i <= m; ++i) {
    const double log_term = std::lgamma(m + 1.0) - std::lgamma(i + 1.0) -
                            std::lgamma(m - i + 1.0) + i * log_p +
                            (m - i == 0 ? 0.0 : (m - i) * log_q);
    const double hi = std::max(log_sum, log_term);
    if (hi == -INFINITY) continue;
    log_sum = hi + std::log(std::exp(log_sum - hi) + std::exp(log_term - hi));
  }
  return log_sum;
}

int MajorityThreshold(int degree) { return (degree + 1) / 2 + 1; }

// Deterministic pseudorandom words from SHA-256(session_id || counter).
class HashStream {
 public:
  explicit HashStream(const std::string& seed) : seed_(seed) {}
  uint64_t Next() {
    if (used_ == 4) Refill();
    uint64_t word;
    std::memcpy(&word, block_ + 8 * used_, 8);
    ++used_;
    return word;
  }
  // Uniform in [0, bound) by rejection.
  uint64_t Uniform(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return x % bound;
  }

 private:
  void Refill() {
    std::string input = "fedlearn/secagg/graph/v1";
    input += seed_;
    for (int b = 0; b < 8; ++b)
      input.push_back(char((counter_ >> (8 * b)) & 0xff));
    ++counter_;
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
           block_);
    used_ = 0;
  }
  std::string seed_;
  uint64_t counter_ = 0;
  unsigned char block_[32];
  int used_ = 4;
};

}  // namespace

absl::StatusOr<GraphParameters> ChooseGraphParameters(int num_clients,
                                                      double dropout_rate,
                                                      int security_bits) {
  if (num_clients < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secure aggregation needs at least 3 clients per round, got ",
        num_clients, " (with 2, each client could subtract its own input)"));
  }
  if (!(dropout_rate >= 0 && dropout_rate < 0.5)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secagg dropout rate must be in [0, 0.5): the threshold is an honest "
        "majority of each neighbourhood; got ",
        dropout_rate));
  }
  if (security_bits < 1 || security_bits > 128) {
    return absl::InvalidArgumentError(
        "secagg security_bits must be in [1, 128]");
  }
  GraphParameters params;
  params.num_clients = num_clients;
  if (num_clients > kFullGraphMaxClients) {
    const double log_target = -security_bits * std::log(2.0) -
                              std::log(static_cast<double>(num_clients));
    // Security floor (Bell et al.: degree must grow like log n so that the
    // honest part of the graph stays connected): k >= 2 * ceil(log2 n).
    const int floor_k = 2 * static_cast<int>(std::ceil(
                                std::log2(static_cast<double>(num_clients))));
    for (int k = floor_k; k < num_clients - 1; k += 2) {
      const int t = MajorityThreshold(k);
      if (LogBinomialCdfBelow(k + 1, 1.0 - dropout_rate, t) <= log_target) {
        params.degree = k;
        params.threshold = t;
        return params;
      }
    }
  }
  params.degree = num_clients - 1;
  params.threshold = MajorityThreshold(params.degree);
  return params;
}

absl::StatusOr<SecAggGraph> SecAggGraph::Create(const std::string& session_id,
                                                int num_clients, int degree) {
  if (num_clients < 2 || degree < 1 || degree > num_clients - 1 ||
      (degree != num_clients - 1 && degree % 2 != 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid secagg graph: ", num_clients, " clients, degree ",
                     degree, " (must be even, or n-1 for the full graph)"));
  }
  SecAggGraph graph;
  graph.degree_ = degree;
  graph.neighbours_.assign(num_clients, {});
  if (degree == num_clients - 1) {
    for (int i = 0; i < num_clients; ++i) {
      for (int j = 0; j < num_clients; ++j) {
        if (j != i) graph.neighbours_[i].push_back(j);
      }
    }
    return graph;
  }
  // ring[p] = client at ring position p (Fisher-Yates on a hash stream).
  std::vector<int> ring(num_clients);
  for (int i = 0; i < num_clients; ++i) ring[i] = i;
  HashStream stream(session_id);
  for (int i = num_clients - 1; i > 0; --i) {
    std::swap(ring[i], ring[stream.Uniform(static_cast<uint64_t>(i) + 1)]);
  }
  for (int p = 0; p < num_clients; ++p) {
    std::vector<int>& out = graph.neighbours_[ring[p]];
    for (int j = 1; j <= degree / 2; ++j) {
      out.push_back(ring[(p + j) % num_clients]);
      out.push_back(ring[(p - j + num_clients) % num_clients]);
    }
    std::sort(out.begin(), out.end());
  }
  return graph;
}

bool SecAggGraph::AreNeighbours(int a, int b) const {
  if (a < 0 || b < 0 || a >= num_clients() || b >= num_clients()) return false;
  return std::binary_search(neighbours_[a].begin(), neighbours_[a].end(), b);
}

}  // namespace fedlearn
