#include "apps/certs/kit_project.h"

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/config_schema.h"
#include "common/tls/cert_authority.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

const ConfigSchema<KitProject>& ProjectSchema() {
  static const ConfigSchema<KitProject>* schema = [] {
    auto* s = new ConfigSchema<KitProject>("fedlearn-certs project file");
    s->Field(
        "project.name", "CA name and run id",
        [](auto& p) -> auto& { return p.name; });
    s->Field(
         "project.valid_days", "validity of every certificate",
         [](auto& p) -> auto& { return p.valid_days; })
        .AtLeast(1);
    s->Field(
         "project.crl_days", "nextUpdate of each crl.pem",
         [](auto& p) -> auto& { return p.crl_days; })
        .AtLeast(1);
    s->Field(
        "coordinator.name", "server certificate CN",
        [](auto& p) -> auto& { return p.coordinator_name; });
    s->Field(
        "coordinator.dns_names", "DNS names sites may dial",
        [](auto& p) -> auto& { return p.coordinator_dns; });
    s->Field(
        "coordinator.ip_addresses", "IP addresses sites may dial",
        [](auto& p) -> auto& { return p.coordinator_ips; });
    s->Field(
        "coordinator.address", "host sites dial",
        [](auto& p) -> auto& { return p.coordinator_address; });
    s->Field(
         "coordinator.port", "port the coordinator listens on",
         [](auto& p) -> auto& { return p.port; })
        .Within(1, 65535);
    s->Field(
        "coordinator.listen", "listen address",
        [](auto& p) -> auto& { return p.listen; });
    s->Field(
        "coordinator.base_config", "the run's coordinator settings",
        [](auto& p) -> auto& { return p.base_config; });
    s->Field(
        "sites.ids", "one kit per site",
        [](auto& p) -> auto& { return p.sites; });
    s->Field(
        "operators.names", "one kit per operator",
        [](auto& p) -> auto& { return p.operators; });
    return s;
  }();
  return *schema;
}

}  // namespace

std::string KitProject::DialAddress() const {
  std::string host = coordinator_address;
  if (host.empty()) {
    host = !coordinator_dns.empty() ? coordinator_dns.front()
                                    : coordinator_ips.front();
  }
  if (absl::StrContains(host, ":")) host = absl::StrCat("[", host, "]");
  return absl::StrCat(host, ":", port);
}

std::string KitProject::ListenAddress() const {
  return listen.empty() ? absl::StrCat("0.0.0.0:", port) : listen;
}

absl::Status ValidateSiteId(const std::string& id) {
  RETURN_IF_ERROR(ValidateClientId(id));
  if (id == "coordinator" || absl::StartsWith(id, "operator-")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "site id '", id, "' would collide with another kit's directory"));
  }
  return absl::OkStatus();
}

absl::Status ValidateKitProject(const KitProject& project) {
  RETURN_IF_ERROR(ProjectSchema().Check(project));
  if (project.coordinator_dns.empty() && project.coordinator_ips.empty()) {
    return absl::InvalidArgumentError(
        "coordinator needs at least one of dns_names and ip_addresses: the "
        "names sites dial");
  }
  RETURN_IF_ERROR(
      ValidateServerNames(project.coordinator_dns, project.coordinator_ips));
  std::set<std::string> seen;
  for (const std::string& id : project.sites) {
    RETURN_IF_ERROR(ValidateSiteId(id));
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("site '", id, "' is listed twice"));
    }
  }
  for (const std::string& name : project.operators) {
    RETURN_IF_ERROR(ValidateClientId(name));
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "operator '", name,
          "' is listed twice or shares its name with a site: identities "
          "must be unique"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<KitProject> LoadKitProject(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  KitProject project;
  RETURN_IF_ERROR(ProjectSchema().Parse(text, path, &project));
  if (absl::Status s = ValidateKitProject(project); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  if (!project.base_config.empty() &&
      std::filesystem::path(project.base_config).is_relative()) {
    project.base_config =
        (std::filesystem::path(path).parent_path() / project.base_config)
            .lexically_normal()
            .string();
  }
  return project;
}

}  // namespace fedlearn
