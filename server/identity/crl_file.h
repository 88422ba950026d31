// The coordinator's revocation list: the CA-signed PEM CRL at
// `[security] crl_file`, as last verified.
//
// Guarantees: only a CRL whose signature and issuer verify against the CA
// (revocation_list.h) replaces the serials in force; a file that is missing,
// unparsable or signed by anyone else is refused, logged as an error and the
// previous list kept (at startup, Create fails instead: a coordinator never
// starts believing nothing is revoked because its CRL was bad). A CRL past
// its nextUpdate is still used (it revokes at least what it names), with a
// warning. Reload() re-reads only when the file's mtime or size changed,
// unless forced (SIGHUP).
// Thread-safety: thread-safe (one internal mutex).
#ifndef FEDLEARN_SERVER_IDENTITY_CRL_FILE_H_
#define FEDLEARN_SERVER_IDENTITY_CRL_FILE_H_

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace fedlearn {

class CrlFile {
 public:
  // `path` empty: nothing is ever revoked.
  static absl::StatusOr<std::unique_ptr<CrlFile>> Create(std::string path,
                                                         std::string ca_pem);

  // `serial` as SerialOfCertificate writes it (uppercase hex).
  bool IsRevoked(const std::string& serial) const;
  // Re-reads the file if it changed (or `force`). True if the revoked set
  // changed; an error (previous list kept) if the new file was refused.
  absl::StatusOr<bool> Reload(bool force);
  std::set<std::string> revoked() const;

 private:
  CrlFile(std::string path, std::string ca_pem)
      : path_(std::move(path)), ca_pem_(std::move(ca_pem)) {}

  const std::string path_;
  const std::string ca_pem_;
  mutable std::mutex mu_;
  std::set<std::string> revoked_ ABSL_GUARDED_BY(mu_);
  std::pair<int64_t, int64_t> stamp_ ABSL_GUARDED_BY(mu_){-1, -1};
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_IDENTITY_CRL_FILE_H_
