#include "apps/simulation/pool_certificates.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/tls/cert_authority.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// A new file of a directory only this process can enter: no need for the
// atomic, durable write the state directory needs.
absl::Status WriteNewFile(const std::string& path, std::string_view data,
                          mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return absl::DataLossError(absl::StrCat("cannot write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ::close(fd) == 0
             ? absl::OkStatus()
             : absl::DataLossError(absl::StrCat("cannot write ", path));
}

absl::StatusOr<PemKeyPair> LoadCa(const std::string& ca_dir) {
  const std::string cert = ca_dir + "/ca.pem";
  const std::string key = ca_dir + "/ca.key";
  absl::StatusOr<std::string> cert_pem = ReadFileToString(cert);
  absl::StatusOr<std::string> key_pem = ReadFileToString(key);
  if (!cert_pem.ok() || !key_pem.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a client pool issues its clients' certificates with the run's CA: ",
        cert, " and ", key, " must be readable (fedlearn-certs init --out ",
        ca_dir, " --clients 0)"));
  }
  PemKeyPair ca{*std::move(cert_pem),
                SecretBytes::FromString(*std::move(key_pem))};
  if (absl::Status s = CheckCertificateAuthority(ca); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("unusable CA in ", ca_dir, ": ", s.message()));
  }
  return ca;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PoolCertificates>> PoolCertificates::Issue(
    const std::string& ca_dir, ClientRange range, int valid_days,
    const std::function<void(int, int)>& on_progress) {
  ASSIGN_OR_RETURN(PemKeyPair ca, LoadCa(ca_dir));
  std::string templ =
      (std::filesystem::temp_directory_path() / "fedlearn-pool-XXXXXX")
          .string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create a private directory for the pool's certificates: ",
        std::strerror(errno)));
  }
  // From here on the destructor removes the directory, also on error.
  std::unique_ptr<PoolCertificates> pool(new PoolCertificates(templ));
  RETURN_IF_ERROR(WriteNewFile(templ + "/ca.pem", ca.cert_pem, 0644));
  for (int i = range.begin; i < range.end; ++i) {
    const std::string id = SimulatedClientName(i);
    ASSIGN_OR_RETURN(PemKeyPair pair,
                     IssueClientCertificate(ca, id, valid_days));
    RETURN_IF_ERROR(
        WriteNewFile(templ + "/" + id + ".key", pair.key_pem.view(), 0600));
    RETURN_IF_ERROR(
        WriteNewFile(templ + "/" + id + ".pem", pair.cert_pem, 0644));
    if (on_progress) on_progress(i - range.begin + 1, range.size());
  }
  return pool;
}

PoolCertificates::~PoolCertificates() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

TlsConfig PoolCertificates::ForClient(int i) const {
  return TlsConfig::FromDirectory(dir_, SimulatedClientName(i));
}

}  // namespace fedlearn
