// The CA directory of a kits project: ca.key (0600) and ca.pem, the record
// of every certificate issued (issued.json) and the current revocation list
// (crl.pem), which is regenerated from the record on every Save.
//
// Guarantees: the directory is 0700; every file is replaced atomically
// (WriteFileAtomically); issued.json is saved before a new certificate's
// files are written anywhere, so every certificate that reaches a kit can
// be revoked later; revocation is by serial and never undone. Refuses
// (FailedPrecondition) a directory holding only one of ca.pem and ca.key,
// and an issued.json it cannot parse. Not safe for concurrent use of one
// directory by several processes.
#ifndef FEDLEARN_APPS_CERTS_KIT_AUTHORITY_H_
#define FEDLEARN_APPS_CERTS_KIT_AUTHORITY_H_

#include <ctime>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tls/cert_authority.h"

namespace fedlearn {

struct IssuedCertificate {
  std::string serial;  // uppercase hex (SerialOfCertificate)
  std::string id;      // the CN
  CertificateRole role = CertificateRole::kUnknown;
  std::time_t not_after = 0;
  bool revoked = false;
  std::time_t revoked_at = 0;
  std::string reason;  // free text, as the operator gave it
};

class KitAuthority {
 public:
  // The CA in `ca_dir`. NotFound if it holds no CA.
  static absl::StatusOr<KitAuthority> Open(const std::string& ca_dir);
  // Open, or, if `ca_dir` holds no CA, create one named `ca_name` (valid
  // 10 x `valid_days`) with an empty record; `*created` says which.
  static absl::StatusOr<KitAuthority> OpenOrCreate(const std::string& ca_dir,
                                                   const std::string& ca_name,
                                                   int valid_days, int crl_days,
                                                   bool* created);

  KitAuthority(KitAuthority&&) = default;
  KitAuthority& operator=(KitAuthority&&) = default;

  const PemKeyPair& ca() const { return ca_; }
  const std::string& dir() const { return dir_; }
  std::string CrlPath() const { return dir_ + "/crl.pem"; }
  const std::vector<IssuedCertificate>& issued() const { return issued_; }

  // Issues a client certificate (role kSite or kOperator) or, for
  // kCoordinator, the server certificate, records it and saves the record.
  absl::StatusOr<PemKeyPair> IssueClient(const std::string& id,
                                         CertificateRole role, int valid_days);
  absl::StatusOr<PemKeyPair> IssueServer(const std::string& common_name,
                                         const std::vector<std::string>& dns,
                                         const std::vector<std::string>& ips,
                                         int valid_days);

  // Marks every unrevoked certificate of `id` with `role` revoked, except
  // `keep_serial`; returns the serials it revoked (not yet saved).
  std::vector<std::string> Revoke(const std::string& id, CertificateRole role,
                                  const std::string& reason,
                                  const std::string& keep_serial = "");

  // Writes issued.json and a fresh crl.pem (nextUpdate `crl_days` ahead).
  // Returns the CRL PEM.
  absl::StatusOr<std::string> Save(int crl_days);

 private:
  KitAuthority(std::string dir, PemKeyPair ca,
               std::vector<IssuedCertificate> issued)
      : dir_(std::move(dir)), ca_(std::move(ca)), issued_(std::move(issued)) {}
  absl::Status Record(const PemKeyPair& pair, const std::string& id,
                      CertificateRole role);
  absl::Status SaveRecord() const;

  std::string dir_;
  PemKeyPair ca_;
  std::vector<IssuedCertificate> issued_;
};

// Creates `path` (and its parents) and makes it 0700: it holds a key.
absl::Status EnsurePrivateDirectory(const std::string& path);

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_CERTS_KIT_AUTHORITY_H_
