// The client identities of one scale-out client pool: issued by the run's CA
// (ca.pem + ca.key in `ca_dir`, which is only read, never written) for the
// pool's range only, and written with ca.pem into a private temporary
// directory (mkdtemp, mode 0700; keys 0600) that the destructor removes. The
// CA key is held only in memory (SecretBytes) while issuing.
//
// Why a pool holds the CA key at all: a research scale-out has no sites to
// hand identities to, so each pool mints its own range's; the key grants
// nothing outside the simulation's throw-away federation (see
// docs/operations.md). A real deployment issues one kit per site instead.
//
// Refuses: a missing or unusable CA (FailedPrecondition, naming the files).
// Thread-compatible.
#ifndef FEDLEARN_APPS_SIMULATION_POOL_CERTIFICATES_H_
#define FEDLEARN_APPS_SIMULATION_POOL_CERTIFICATES_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "apps/simulation/sim_flags.h"
#include "common/transport/tls_config.h"

namespace fedlearn {

class PoolCertificates {
 public:
  // `on_progress(done, total)` after each certificate; may be empty.
  static absl::StatusOr<std::unique_ptr<PoolCertificates>> Issue(
      const std::string& ca_dir, ClientRange range, int valid_days,
      const std::function<void(int, int)>& on_progress);

  ~PoolCertificates();
  PoolCertificates(const PoolCertificates&) = delete;
  PoolCertificates& operator=(const PoolCertificates&) = delete;

  // The identity of virtual client `i` (REQUIRES: i in the range).
  TlsConfig ForClient(int i) const;
  const std::string& dir() const { return dir_; }

 private:
  explicit PoolCertificates(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_SIMULATION_POOL_CERTIFICATES_H_
