#include "apps/certs/kit_authority.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace fedlearn {
namespace {

constexpr int kRecordVersion = 1;

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

std::string IsoTime(std::time_t t) {
  struct tm parts {};
  gmtime_r(&t, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

nlohmann::json ToJson(const IssuedCertificate& c) {
  nlohmann::json j = {{"serial", c.serial},
                      {"id", c.id},
                      {"role", std::string(CertificateRoleName(c.role))},
                      {"not_after", IsoTime(c.not_after)},
                      {"not_after_unix", static_cast<int64_t>(c.not_after)},
                      {"revoked", c.revoked}};
  if (c.revoked) {
    j["revoked_at"] = IsoTime(c.revoked_at);
    j["revoked_at_unix"] = static_cast<int64_t>(c.revoked_at);
    j["reason"] = c.reason;
  }
  return j;
}

IssuedCertificate FromJson(const nlohmann::json& j) {
  IssuedCertificate c;
  c.serial = j.at("serial").get<std::string>();
  c.id = j.at("id").get<std::string>();
  c.role = CertificateRoleFromName(j.at("role").get<std::string>());
  c.not_after = j.at("not_after_unix").get<int64_t>();
  c.revoked = j.at("revoked").get<bool>();
  if (c.revoked) {
    c.revoked_at = j.at("revoked_at_unix").get<int64_t>();
    c.reason = j.value("reason", "");
  }
  return c;
}

absl::StatusOr<std::vector<IssuedCertificate>> ReadRecord(
    const std::string& path) {
  std::vector<IssuedCertificate> issued;
  if (!Exists(path)) return issued;
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  try {
    const nlohmann::json root = nlohmann::json::parse(text);
    for (const nlohmann::json& entry : root.at("certificates")) {
      issued.push_back(FromJson(entry));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a certificate record: ", e.what()));
  }
  return issued;
}

absl::StatusOr<PemKeyPair> LoadCa(const std::string& dir) {
  PemKeyPair ca;
  ASSIGN_OR_RETURN(ca.cert_pem, ReadFileToString(dir + "/ca.pem"));
  ASSIGN_OR_RETURN(std::string key, ReadFileToString(dir + "/ca.key"));
  ca.key_pem = SecretBytes::FromString(std::move(key));
  RETURN_IF_ERROR(CheckCertificateAuthority(ca));
  return ca;
}

}  // namespace

absl::Status EnsurePrivateDirectory(const std::string& path) {
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  if (!parent.empty()) RETURN_IF_ERROR(MakeDirectories(parent.string()));
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  if (chmod(path.c_str(), 0700) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot chmod 0700 ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<KitAuthority> KitAuthority::Open(const std::string& ca_dir) {
  const bool has_pem = Exists(ca_dir + "/ca.pem");
  const bool has_key = Exists(ca_dir + "/ca.key");
  if (!has_pem && !has_key) {
    return absl::NotFoundError(
        absl::StrCat(ca_dir, " holds no CA (ca.pem and ca.key)"));
  }
  if (has_pem != has_key) {
    return absl::FailedPreconditionError(absl::StrCat(
        ca_dir, " holds only one of ca.pem and ca.key; restore the other"));
  }
  ASSIGN_OR_RETURN(PemKeyPair ca, LoadCa(ca_dir));
  ASSIGN_OR_RETURN(std::vector<IssuedCertificate> issued,
                   ReadRecord(ca_dir + "/issued.json"));
  return KitAuthority(ca_dir, std::move(ca), std::move(issued));
}

absl::StatusOr<KitAuthority> KitAuthority::OpenOrCreate(
    const std::string& ca_dir, const std::string& ca_name, int valid_days,
    int crl_days, bool* created) {
  RETURN_IF_ERROR(EnsurePrivateDirectory(ca_dir));
  absl::StatusOr<KitAuthority> existing = Open(ca_dir);
  *created = absl::IsNotFound(existing.status());
  if (!*created) return existing;
  ASSIGN_OR_RETURN(PemKeyPair ca,
                   CreateCertificateAuthority(absl::StrCat(ca_name, " CA"),
                                              10 * valid_days));
  // The key before the certificate: a crash in between leaves no ca.pem,
  // and Open then refuses the half-written directory instead of guessing.
  RETURN_IF_ERROR(
      WriteFileAtomically(ca_dir + "/ca.key", ca.key_pem.view(), 0600));
  RETURN_IF_ERROR(WriteFileAtomically(ca_dir + "/ca.pem", ca.cert_pem, 0644));
  KitAuthority authority(ca_dir, std::move(ca), {});
  RETURN_IF_ERROR(authority.Save(crl_days).status());
  return authority;
}

absl::Status KitAuthority::Record(const PemKeyPair& pair, const std::string& id,
                                  CertificateRole role) {
  IssuedCertificate entry;
  ASSIGN_OR_RETURN(entry.serial, SerialOfCertificate(pair.cert_pem));
  ASSIGN_OR_RETURN(entry.not_after, NotAfterOfCertificate(pair.cert_pem));
  entry.id = id;
  entry.role = role;
  issued_.push_back(std::move(entry));
  return SaveRecord();
}

absl::StatusOr<PemKeyPair> KitAuthority::IssueClient(const std::string& id,
                                                     CertificateRole role,
                                                     int valid_days) {
  IssueOptions options;
  options.valid_days = valid_days;
  options.role = role;
  ASSIGN_OR_RETURN(PemKeyPair pair, IssueClientCertificate(ca_, id, options));
  RETURN_IF_ERROR(Record(pair, id, role));
  return pair;
}

absl::StatusOr<PemKeyPair> KitAuthority::IssueServer(
    const std::string& common_name, const std::vector<std::string>& dns,
    const std::vector<std::string>& ips, int valid_days) {
  ASSIGN_OR_RETURN(
      PemKeyPair pair,
      IssueServerCertificate(ca_, common_name, dns, ips, valid_days));
  RETURN_IF_ERROR(Record(pair, common_name, CertificateRole::kCoordinator));
  return pair;
}

std::vector<std::string> KitAuthority::Revoke(const std::string& id,
                                              CertificateRole role,
                                              const std::string& reason,
                                              const std::string& keep_serial) {
  std::vector<std::string> revoked;
  const std::time_t now = std::time(nullptr);
  for (IssuedCertificate& c : issued_) {
    if (c.id != id || c.role != role || c.revoked || c.serial == keep_serial) {
      continue;
    }
    c.revoked = true;
    c.revoked_at = now;
    c.reason = reason;
    revoked.push_back(c.serial);
  }
  return revoked;
}

absl::Status KitAuthority::SaveRecord() const {
  nlohmann::json certificates = nlohmann::json::array();
  for (const IssuedCertificate& c : issued_) certificates.push_back(ToJson(c));
  const nlohmann::json root = {{"version", kRecordVersion},
                               {"certificates", certificates}};
  return WriteFileAtomically(dir_ + "/issued.json", root.dump(2) + "\n", 0644);
}

absl::StatusOr<std::string> KitAuthority::Save(int crl_days) {
  RETURN_IF_ERROR(SaveRecord());
  std::vector<RevokedCertificate> revoked;
  for (const IssuedCertificate& c : issued_) {
    if (!c.revoked) continue;
    // The operator's free text stays in issued.json; a rotation is the
    // standard reason "superseded".
    revoked.push_back({c.serial, c.revoked_at, c.reason});
  }
  ASSIGN_OR_RETURN(std::string crl,
                   CreateRevocationList(ca_, revoked, crl_days));
  RETURN_IF_ERROR(WriteFileAtomically(CrlPath(), crl, 0644));
  return crl;
}

}  // namespace fedlearn
