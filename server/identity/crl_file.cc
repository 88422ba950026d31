#include "server/identity/crl_file.h"

#include "absl/strings/str_cat.h"
#include "common/tls/revocation_list.h"
#include "common/util/atomic_file.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "server/identity/enrolment_list.h"

namespace fedlearn {

absl::StatusOr<std::unique_ptr<CrlFile>> CrlFile::Create(std::string path,
                                                         std::string ca_pem) {
  std::unique_ptr<CrlFile> crl(new CrlFile(std::move(path), std::move(ca_pem)));
  if (!crl->path_.empty()) RETURN_IF_ERROR(crl->Reload(true).status());
  return crl;
}

bool CrlFile::IsRevoked(const std::string& serial) const {
  std::lock_guard<std::mutex> lock(mu_);
  return revoked_.count(serial) > 0;
}

std::set<std::string> CrlFile::revoked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return revoked_;
}

absl::StatusOr<bool> CrlFile::Reload(bool force) {
  if (path_.empty()) return false;
  const std::pair<int64_t, int64_t> stamp = FileStamp(path_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!force && stamp == stamp_) return false;
    stamp_ = stamp;  // a refused file is reported once per change
  }
  absl::StatusOr<std::string> pem = ReadFileToString(path_);
  absl::StatusOr<RevocationListContents> contents =
      pem.ok() ? ReadRevocationList(*pem, ca_pem_)
               : absl::StatusOr<RevocationListContents>(pem.status());
  if (!contents.ok()) {
    return absl::Status(
        contents.status().code(),
        absl::StrCat("security.crl_file ", path_,
                     " refused, the previous revocation list stays in force: ",
                     contents.status().message()));
  }
  if (contents->expired) {
    spdlog::warn(
        "security.crl_file {}: the CRL is past its nextUpdate; still "
        "refusing the {} serial(s) it revokes. Publish a fresh CRL "
        "(fedlearn-certs revoke)",
        path_, contents->revoked_serials.size());
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (contents->revoked_serials == revoked_) return false;
  revoked_ = std::move(contents->revoked_serials);
  spdlog::info("security.crl_file {}: {} certificate(s) revoked", path_,
               revoked_.size());
  return true;
}

}  // namespace fedlearn
