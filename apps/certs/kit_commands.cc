#include "apps/certs/kit_commands.h"

#include <algorithm>
#include <filesystem>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apps/certs/kit_authority.h"
#include "apps/certs/kit_configs.h"
#include "apps/certs/kit_project.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string KitsDirOf(const std::string& ca_dir) {
  fs::path ca = fs::path(ca_dir).lexically_normal();
  if (ca.filename().empty()) ca = ca.parent_path();
  return (ca.parent_path() / "kits").string();
}

std::string KitDir(const std::string& kits, const std::string& id,
                   CertificateRole role) {
  return kits + "/" +
         (role == CertificateRole::kOperator ? OperatorKitName(id) : id);
}

// Writes `contents` unless the file exists (`replace_if_different`: unless
// it already holds exactly `contents`).
absl::Status WriteKitFile(const std::string& path, const std::string& contents,
                          bool replace_if_different, std::ostream& out) {
  if (Exists(path)) {
    ASSIGN_OR_RETURN(std::string current, ReadFileToString(path));
    if (!replace_if_different || current == contents) {
      out << "kept  " << path << "\n";
      return absl::OkStatus();
    }
  }
  RETURN_IF_ERROR(WriteFileAtomically(path, contents, 0644));
  out << "wrote " << path << "\n";
  return absl::OkStatus();
}

absl::Status WriteIdentity(const std::string& dir, const std::string& name,
                           const PemKeyPair& pair, std::ostream& out) {
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + name + ".key",
                                      pair.key_pem.view(), 0600));
  RETURN_IF_ERROR(
      WriteFileAtomically(dir + "/" + name + ".pem", pair.cert_pem, 0644));
  out << "wrote " << dir << "/" << name << ".pem and " << name << ".key\n";
  return absl::OkStatus();
}

// Issues `name`'s pair into `dir` with `issue` unless both files exist.
absl::Status EnsureIdentity(
    const std::string& dir, const std::string& name,
    const std::function<absl::StatusOr<PemKeyPair>()>& issue,
    std::ostream& out) {
  RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  if (Exists(dir + "/" + name + ".pem") && Exists(dir + "/" + name + ".key")) {
    out << "kept  " << dir << "/" << name << ".pem and " << name
        << ".key (delete both, or use rotate, to reissue)\n";
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(PemKeyPair pair, issue());
  return WriteIdentity(dir, name, pair, out);
}

// A kept certificate the record says is revoked would be refused by the
// coordinator: say so rather than report the kit as ready.
absl::Status WarnIfRevoked(const KitAuthority& authority,
                           const std::string& pem_path, std::ostream& out) {
  if (!Exists(pem_path)) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string pem, ReadFileToString(pem_path));
  ASSIGN_OR_RETURN(std::string serial, SerialOfCertificate(pem));
  for (const IssuedCertificate& c : authority.issued()) {
    if (c.serial == serial && c.revoked) {
      out << "WARNING: " << pem_path << " (serial " << serial
          << ") is revoked; `fedlearn-certs rotate` issues a new one\n";
    }
  }
  return absl::OkStatus();
}

absl::Status EnsureClientKit(const KitProject& project, KitAuthority& authority,
                             const std::string& kits, const std::string& id,
                             CertificateRole role, std::ostream& out) {
  const std::string dir = KitDir(kits, id, role);
  RETURN_IF_ERROR(WarnIfRevoked(authority, dir + "/" + id + ".pem", out));
  RETURN_IF_ERROR(EnsureIdentity(
      dir, id,
      [&] { return authority.IssueClient(id, role, project.valid_days); },
      out));
  RETURN_IF_ERROR(
      WriteKitFile(dir + "/ca.pem", authority.ca().cert_pem, true, out));
  if (role == CertificateRole::kOperator) {
    return WriteKitFile(dir + "/README.md", OperatorReadme(project, id), false,
                        out);
  }
  RETURN_IF_ERROR(
      WriteKitFile(dir + "/client.toml", ClientToml(project, id), false, out));
  return WriteKitFile(dir + "/README.md", SiteReadme(project, id), false, out);
}

// Adds `enrolled` to the coordinator kit's coordinator.toml (creating it
// from the project if missing) and prints the line for a deployed copy.
absl::Status UpdateCoordinatorConfig(const KitProject& project,
                                     const std::string& kits,
                                     const std::vector<std::string>& enrolled,
                                     std::ostream& out) {
  const std::string path = kits + "/" + kCoordinatorKit + "/coordinator.toml";
  std::string existing;
  if (Exists(path)) {
    ASSIGN_OR_RETURN(existing, ReadFileToString(path));
  }
  ASSIGN_OR_RETURN(std::string text,
                   CoordinatorToml(project, existing, enrolled));
  RETURN_IF_ERROR(WriteKitFile(path, text, true, out));
  ASSIGN_OR_RETURN(std::vector<std::string> ids, EnrolledClientsOf(text));
  out << "enrolled at the coordinator ([security] in coordinator.toml):\n"
      << "  enrolled_clients = [\"" << absl::StrJoin(ids, "\", \"") << "\"]\n";
  return absl::OkStatus();
}

// The CRL Save wrote, copied into the coordinator kit if it is here.
absl::Status PublishCrl(const KitAuthority& authority, const std::string& crl,
                        const std::string& kits, std::ostream& out) {
  out << "wrote " << authority.CrlPath() << "\n";
  const std::string coordinator = kits + "/" + kCoordinatorKit;
  if (Exists(coordinator)) {
    RETURN_IF_ERROR(WriteKitFile(coordinator + "/crl.pem", crl, true, out));
  }
  out << "copy " << authority.CrlPath()
      << " to the coordinator host, over the file its [security] crl_file "
         "names (crl.pem in its kit); the coordinator reloads it when it "
         "changes.\n";
  return absl::OkStatus();
}

}  // namespace

absl::Status RunKits(const std::string& project_path,
                     const std::string& out_dir, std::ostream& out) {
  ASSIGN_OR_RETURN(KitProject project, LoadKitProject(project_path));
  const std::string ca_dir = out_dir + "/ca";
  const std::string kits = out_dir + "/kits";
  bool created = false;
  ASSIGN_OR_RETURN(
      KitAuthority authority,
      KitAuthority::OpenOrCreate(ca_dir, project.name, project.valid_days,
                                 project.crl_days, &created));
  out << (created ? "wrote " : "kept  ") << ca_dir
      << "/ca.pem and ca.key (ca.key stays here: no kit gets it)\n";
  RETURN_IF_ERROR(EnsurePrivateDirectory(kits));
  const std::string coordinator = kits + "/" + kCoordinatorKit;
  RETURN_IF_ERROR(EnsureIdentity(
      coordinator, "server",
      [&] {
        return authority.IssueServer(
            project.coordinator_name, project.coordinator_dns,
            project.coordinator_ips, project.valid_days);
      },
      out));
  for (const std::string& site : project.sites) {
    RETURN_IF_ERROR(EnsureClientKit(project, authority, kits, site,
                                    CertificateRole::kSite, out));
  }
  for (const std::string& name : project.operators) {
    RETURN_IF_ERROR(EnsureClientKit(project, authority, kits, name,
                                    CertificateRole::kOperator, out));
  }
  RETURN_IF_ERROR(WriteKitFile(coordinator + "/ca.pem", authority.ca().cert_pem,
                               true, out));
  RETURN_IF_ERROR(WriteKitFile(coordinator + "/README.md",
                               CoordinatorReadme(project), false, out));
  ASSIGN_OR_RETURN(std::string crl, authority.Save(project.crl_days));
  out << "wrote " << authority.CrlPath() << "\n";
  RETURN_IF_ERROR(WriteKitFile(coordinator + "/crl.pem", crl, true, out));
  RETURN_IF_ERROR(UpdateCoordinatorConfig(project, kits, project.sites, out));
  if (project.base_config.empty() && project.sites.size() < 3) {
    out << "note: secure aggregation needs 3 sites per round, so "
           "coordinator.toml waits for 3; add sites, or set [secagg] "
           "enabled = false (the coordinator then sees each update)\n";
  }
  out << "send each directory of " << kits
      << " to its party (each holds its own private key); keep " << ca_dir
      << " on the CA's host.\n";
  return absl::OkStatus();
}

absl::Status RunAddSite(const std::string& ca_dir,
                        const std::string& project_path,
                        const std::string& site, std::ostream& out) {
  ASSIGN_OR_RETURN(KitProject project, LoadKitProject(project_path));
  RETURN_IF_ERROR(ValidateSiteId(site));
  ASSIGN_OR_RETURN(KitAuthority authority, KitAuthority::Open(ca_dir));
  const std::string kits = KitsDirOf(ca_dir);
  RETURN_IF_ERROR(EnsureClientKit(project, authority, kits, site,
                                  CertificateRole::kSite, out));
  RETURN_IF_ERROR(UpdateCoordinatorConfig(project, kits, {site}, out));
  if (std::find(project.sites.begin(), project.sites.end(), site) ==
      project.sites.end()) {
    out << "add \"" << site << "\" to [sites] ids in " << project_path
        << " so the project file lists every site.\n";
  }
  return absl::OkStatus();
}

absl::Status RunAddOperator(const std::string& ca_dir,
                            const std::string& project_path,
                            const std::string& name, std::ostream& out) {
  ASSIGN_OR_RETURN(KitProject project, LoadKitProject(project_path));
  RETURN_IF_ERROR(ValidateClientId(name));
  ASSIGN_OR_RETURN(KitAuthority authority, KitAuthority::Open(ca_dir));
  return EnsureClientKit(project, authority, KitsDirOf(ca_dir), name,
                         CertificateRole::kOperator, out);
}

absl::Status RunRotate(const std::string& ca_dir, const std::string& id,
                       CertificateRole role, int valid_days, int crl_days,
                       std::ostream& out) {
  RETURN_IF_ERROR(ValidateClientId(id));
  ASSIGN_OR_RETURN(KitAuthority authority, KitAuthority::Open(ca_dir));
  const std::vector<IssuedCertificate>& issued = authority.issued();
  // Revoked ones count: rotating is also how a revoked party is readmitted.
  if (std::none_of(issued.begin(), issued.end(),
                   [&](const IssuedCertificate& c) {
                     return c.id == id && c.role == role;
                   })) {
    return absl::NotFoundError(absl::StrCat(
        "no ", std::string(CertificateRoleName(role)), " certificate of '", id,
        "' in ", ca_dir, "/issued.json: nothing to rotate (add it first)"));
  }
  ASSIGN_OR_RETURN(PemKeyPair pair,
                   authority.IssueClient(id, role, valid_days));
  const std::string kits = KitsDirOf(ca_dir);
  const std::string dir = KitDir(kits, id, role);
  RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  RETURN_IF_ERROR(WriteIdentity(dir, id, pair, out));
  ASSIGN_OR_RETURN(std::string serial, SerialOfCertificate(pair.cert_pem));
  for (const std::string& old :
       authority.Revoke(id, role, "superseded", serial)) {
    out << "revoked " << old << " (superseded by " << serial << ")\n";
  }
  ASSIGN_OR_RETURN(std::string crl, authority.Save(crl_days));
  RETURN_IF_ERROR(PublishCrl(authority, crl, kits, out));
  out << "send " << dir << "/" << id << ".pem and " << id
      << ".key to its party, replacing the old pair.\n";
  return absl::OkStatus();
}

absl::Status RunRevoke(const std::string& ca_dir, const std::string& id,
                       CertificateRole role, const std::string& reason,
                       int crl_days, std::ostream& out) {
  RETURN_IF_ERROR(ValidateClientId(id));
  ASSIGN_OR_RETURN(KitAuthority authority, KitAuthority::Open(ca_dir));
  const std::vector<std::string> revoked = authority.Revoke(id, role, reason);
  if (revoked.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no unrevoked ", std::string(CertificateRoleName(role)),
                     " certificate of '", id, "' in ", ca_dir, "/issued.json"));
  }
  for (const std::string& serial : revoked) {
    out << "revoked " << serial << "\n";
  }
  ASSIGN_OR_RETURN(std::string crl, authority.Save(crl_days));
  return PublishCrl(authority, crl, KitsDirOf(ca_dir), out);
}

}  // namespace fedlearn
