#include "common/tls/provision_directory.h"

#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crypto/secret_bytes.h"
#include "common/tls/cert_authority.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;

constexpr char kCaCommonName[] = "fedlearn-ca";
constexpr char kServerCommonName[] = "fedlearn-coordinator";

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string PemPath(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / (name + ".pem")).string();
}

std::string KeyPath(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / (name + ".key")).string();
}

// Key first: if we die in between, the missing .pem makes the next run
// reissue the pair.
absl::Status WritePair(const std::string& dir, const std::string& name,
                       const PemKeyPair& pair,
                       std::vector<std::string>* written) {
  const std::string key_path = KeyPath(dir, name);
  const std::string pem_path = PemPath(dir, name);
  RETURN_IF_ERROR(WriteFileAtomically(key_path, pair.key_pem.view(), 0600));
  RETURN_IF_ERROR(WriteFileAtomically(pem_path, pair.cert_pem, 0644));
  written->push_back(pem_path);
  written->push_back(key_path);
  return absl::OkStatus();
}

absl::StatusOr<PemKeyPair> LoadCertificateAuthority(const std::string& dir) {
  PemKeyPair ca;
  ASSIGN_OR_RETURN(ca.cert_pem, ReadFileToString(PemPath(dir, "ca")));
  ASSIGN_OR_RETURN(std::string key, ReadFileToString(KeyPath(dir, "ca")));
  ca.key_pem = SecretBytes::FromString(std::move(key));
  if (absl::Status s = CheckCertificateAuthority(ca); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unusable ca.pem/ca.key in ", dir, ": ", s.message(),
        "; regenerating them (force) invalidates every issued certificate"));
  }
  return ca;
}

// The explicit ids, then prefix + 001..N, without duplicates.
absl::StatusOr<std::vector<std::string>> ClientIds(
    const ProvisionOptions& options) {
  std::vector<std::string> candidates = options.client_ids;
  for (int i = 1; i <= options.num_clients; ++i) {
    candidates.push_back(
        absl::StrCat(options.client_prefix, absl::Dec(i, absl::kZeroPad3)));
  }
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (std::string& id : candidates) {
    RETURN_IF_ERROR(ValidateClientId(id));
    if (seen.insert(id).second) ids.push_back(std::move(id));
  }
  return ids;
}

absl::Status CheckOptions(const ProvisionOptions& options) {
  if (options.out_dir.empty()) {
    return absl::InvalidArgumentError("output directory must be given");
  }
  if (options.num_clients < 0 || options.valid_days < 1) {
    return absl::InvalidArgumentError(
        "need num_clients >= 0 and valid_days >= 1");
  }
  return ValidateServerNames(options.server_dns, options.server_ips);
}

// The directory's CA: a new one (written, and every certificate must then
// be reissued) or the existing one (kept).
absl::StatusOr<PemKeyPair> ObtainCertificateAuthority(
    const ProvisionOptions& options, bool reissue_all,
    ProvisionReport* report) {
  const std::string& dir = options.out_dir;
  if (reissue_all) {
    ASSIGN_OR_RETURN(PemKeyPair ca, CreateCertificateAuthority(
                                        kCaCommonName, options.valid_days));
    RETURN_IF_ERROR(WritePair(dir, "ca", ca, &report->written));
    return ca;
  }
  if (Exists(PemPath(dir, "ca")) != Exists(KeyPath(dir, "ca"))) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir,
        " holds only one of ca.pem and ca.key; restore the other or "
        "regenerate both (force), which invalidates every issued "
        "certificate"));
  }
  ASSIGN_OR_RETURN(PemKeyPair ca, LoadCertificateAuthority(dir));
  report->kept = {PemPath(dir, "ca"), KeyPath(dir, "ca")};
  return ca;
}

// Issues `name`'s pair with `issue` unless both files exist and may be kept.
template <typename Issue>
absl::Status ProvisionPair(const std::string& dir, const std::string& name,
                           bool reissue_all, Issue issue,
                           ProvisionReport* report) {
  const std::string pem_path = PemPath(dir, name);
  const std::string key_path = KeyPath(dir, name);
  if (!reissue_all && Exists(pem_path) && Exists(key_path)) {
    report->kept.push_back(pem_path);
    report->kept.push_back(key_path);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(PemKeyPair pair, issue());
  return WritePair(dir, name, pair, &report->written);
}

// The server's pair and each client's, issued by `ca` (see ProvisionPair).
absl::Status ProvisionLeaves(const PemKeyPair& ca,
                             const ProvisionOptions& options,
                             const std::vector<std::string>& client_ids,
                             bool reissue_all, ProvisionReport* report) {
  const std::string& dir = options.out_dir;
  const int total = static_cast<int>(client_ids.size()) + 1;
  int done = 0;
  auto progress = [&] {
    if (options.on_progress) options.on_progress(++done, total);
  };
  RETURN_IF_ERROR(ProvisionPair(
      dir, "server", reissue_all,
      [&] {
        return IssueServerCertificate(ca, kServerCommonName, options.server_dns,
                                      options.server_ips, options.valid_days);
      },
      report));
  progress();
  for (const std::string& id : client_ids) {
    RETURN_IF_ERROR(ProvisionPair(
        dir, id, reissue_all,
        [&] { return IssueClientCertificate(ca, id, options.valid_days); },
        report));
    progress();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ProvisionReport> ProvisionDirectory(
    const ProvisionOptions& options) {
  // Everything is validated before the first file is touched.
  RETURN_IF_ERROR(CheckOptions(options));
  ASSIGN_OR_RETURN(std::vector<std::string> client_ids, ClientIds(options));
  const std::string& dir = options.out_dir;
  RETURN_IF_ERROR(MakeDirectories(dir));

  ProvisionReport report;
  // A fresh CA invalidates every certificate already in the directory.
  const bool reissue_all = options.force || (!Exists(PemPath(dir, "ca")) &&
                                             !Exists(KeyPath(dir, "ca")));
  ASSIGN_OR_RETURN(PemKeyPair ca,
                   ObtainCertificateAuthority(options, reissue_all, &report));
  RETURN_IF_ERROR(
      ProvisionLeaves(ca, options, client_ids, reissue_all, &report));
  return report;
}

absl::StatusOr<ProvisionReport> ProvisionEphemeralDirectory(
    const ProvisionOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  ASSIGN_OR_RETURN(std::vector<std::string> client_ids, ClientIds(options));
  const std::string& dir = options.out_dir;
  RETURN_IF_ERROR(MakeDirectories(dir));
  ProvisionReport report;
  // A CA key an older version left here would outlive the run; removing it
  // first also keeps a crash below from pairing it with a new ca.pem.
  std::error_code ec;
  if (fs::remove(KeyPath(dir, "ca"), ec)) {
    report.removed.push_back(KeyPath(dir, "ca"));
  } else if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot remove ", KeyPath(dir, "ca"), ": ", ec.message()));
  }
  ASSIGN_OR_RETURN(PemKeyPair ca, CreateCertificateAuthority(
                                      kCaCommonName, options.valid_days));
  RETURN_IF_ERROR(WriteFileAtomically(PemPath(dir, "ca"), ca.cert_pem, 0644));
  report.written.push_back(PemPath(dir, "ca"));
  RETURN_IF_ERROR(ProvisionLeaves(ca, options, client_ids,
                                  /*reissue_all=*/true, &report));
  return report;  // `ca`, the only copy of its key, is wiped here.
}

absl::Status IssueClientFiles(const std::string& ca_dir,
                              const std::string& client_id,
                              const std::string& out_dir, int valid_days) {
  RETURN_IF_ERROR(ValidateClientId(client_id));
  for (const std::string& path :
       {PemPath(out_dir, client_id), KeyPath(out_dir, client_id)}) {
    if (Exists(path)) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " already exists; remove it to reissue"));
    }
  }
  ASSIGN_OR_RETURN(PemKeyPair ca, LoadCertificateAuthority(ca_dir));
  ASSIGN_OR_RETURN(PemKeyPair pair,
                   IssueClientCertificate(ca, client_id, valid_days));
  RETURN_IF_ERROR(MakeDirectories(out_dir));
  std::vector<std::string> written;
  return WritePair(out_dir, client_id, pair, &written);
}

}  // namespace fedlearn
