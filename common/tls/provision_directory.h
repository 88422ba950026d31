// A directory of mutual-TLS material as `fedlearn-certs init` and `issue`
// lay it out: ca.pem/ca.key, server.pem/server.key and <id>.pem/<id>.key per
// client (certificates from cert_authority.h).
//
// Guarantees: every input is validated before the first file is touched;
// each file is replaced atomically and durably (WriteFileAtomically: temp
// file, fsync, rename, fsync of the directory); keys are written 0600 and
// certificates 0644 (less the umask), the key of a pair before its
// certificate, so a crash in between leaves a missing .pem that the next
// run reissues. Refuses: a directory holding only one of ca.pem and ca.key,
// or a CA that does not parse or has expired (FailedPrecondition: only
// `force` replaces a CA, which invalidates every issued certificate).
// Revocation lists are revocation_list.h (`fedlearn-certs kits` keeps one);
// a directory provisioned here has none. Not safe to run concurrently on one
// directory.
#ifndef FEDLEARN_COMMON_TLS_PROVISION_DIRECTORY_H_
#define FEDLEARN_COMMON_TLS_PROVISION_DIRECTORY_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedlearn {

struct ProvisionOptions {
  std::string out_dir;
  // Generates client ids `client_prefix` + 001 .. num_clients.
  int num_clients = 0;
  std::string client_prefix = "client-";
  std::vector<std::string> client_ids;
  std::vector<std::string> server_dns = {"localhost"};
  std::vector<std::string> server_ips = {"127.0.0.1"};
  int valid_days = 365;
  // Regenerate the CA and every certificate even if the files exist.
  bool force = false;
  // Optional progress report (a terminal progress bar): called after each
  // leaf pair is issued or kept, the server's first, with the pairs done so
  // far and the total (1 + the number of client ids).
  std::function<void(int done, int total)> on_progress;
};

// Paths written and paths left untouched by ProvisionDirectory.
struct ProvisionReport {
  std::vector<std::string> written;
  std::vector<std::string> kept;
  std::vector<std::string> removed;  // ProvisionEphemeralDirectory only
};

// Writes the files above into `out_dir`, creating it if needed. Without
// `force`, an existing CA is reused and only certificates whose .pem or .key
// is missing are issued, so re-running is cheap and keeps issued
// certificates valid; an existing server.pem keeps its SANs even if
// `server_dns`/`server_ips` changed. A new CA (first run, or `force`)
// reissues everything.
absl::StatusOr<ProvisionReport> ProvisionDirectory(
    const ProvisionOptions& options);

// As ProvisionDirectory with `force`, but the CA exists only in memory:
// writes ca.pem and never ca.key (and removes a ca.key the directory
// holds), so nothing more can be issued for this CA once it returns. For
// throw-away federations (fedlearn-sim), whose state directory then holds no
// key that could mint identities.
absl::StatusOr<ProvisionReport> ProvisionEphemeralDirectory(
    const ProvisionOptions& options);

// Issues <client_id>.pem/.key into `out_dir` with the CA in `ca_dir`. Refuses
// (AlreadyExists) to overwrite an existing identity.
absl::Status IssueClientFiles(const std::string& ca_dir,
                              const std::string& client_id,
                              const std::string& out_dir, int valid_days);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_TLS_PROVISION_DIRECTORY_H_
