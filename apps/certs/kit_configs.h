// The text files of a kit: the coordinator's coordinator.toml, a site's
// client.toml and the README.md of each kit. Paths inside them are relative
// to the kit directory: each program is started from inside its kit.
//
// Guarantees: CoordinatorToml keeps every setting of the base config (or of
// an existing coordinator.toml) and sets only the TLS file names,
// [server] listen, [security] enrolled_clients (sorted, the union of what
// was there and `enrolled`) and crl_file, plus run.id, run.state_dir and
// the [rounds] sizes (the number of sites, at least the 3 secure
// aggregation needs) when there is no base; the base's [simulation]
// (fedlearn-sim only) is dropped. Comments of the base are not carried over
// (toml++ does not keep them). The key names are those of
// server/coordinator_config_schema.cc. Stateless functions.
#ifndef FEDLEARN_APPS_CERTS_KIT_CONFIGS_H_
#define FEDLEARN_APPS_CERTS_KIT_CONFIGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/certs/kit_project.h"

namespace fedlearn {

inline constexpr char kCoordinatorKit[] = "coordinator";
inline std::string OperatorKitName(const std::string& name) {
  return "operator-" + name;
}

// `existing` is the kit's current coordinator.toml ("" = none: start from
// project.base_config, or from defaults).
absl::StatusOr<std::string> CoordinatorToml(
    const KitProject& project, const std::string& existing,
    const std::vector<std::string>& enrolled);

// The [security] enrolled_clients of a coordinator.toml (empty if none).
absl::StatusOr<std::vector<std::string>> EnrolledClientsOf(
    const std::string& coordinator_toml);

std::string ClientToml(const KitProject& project, const std::string& site);
std::string SiteReadme(const KitProject& project, const std::string& site);
std::string CoordinatorReadme(const KitProject& project);
std::string OperatorReadme(const KitProject& project, const std::string& name);

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_CERTS_KIT_CONFIGS_H_
