#include "apps/certs/kit_configs.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"
#include "toml++/toml.h"

namespace fedlearn {
namespace {

constexpr char kCoordinatorHeader[] =
    "# fedlearn-coordinator configuration, written by `fedlearn-certs kits`\n"
    "# (and updated by add-site). Start the coordinator from this directory:\n"
    "#   fedlearn-coordinator --config coordinator.toml\n"
    "# Every key is documented by `fedlearn-coordinator --print-config`.\n\n";

constexpr int64_t kMinSecureSites = 3;

absl::StatusOr<toml::table> ParseToml(const std::string& text,
                                      const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": ", std::string(e.description())));
  }
}

toml::table& Section(toml::table& root, const char* name) {
  if (!root.contains(name) || !root[name].is_table()) {
    root.insert_or_assign(name, toml::table{});
  }
  return *root[name].as_table();
}

void SetIfAbsent(toml::table& section, const char* key, toml::node&& value) {
  if (!section.contains(key)) section.insert(key, std::move(value));
}

std::vector<std::string> StringsOf(const toml::node* node) {
  std::vector<std::string> out;
  const toml::array* array = node != nullptr ? node->as_array() : nullptr;
  if (array == nullptr) return out;
  for (const toml::node& item : *array) {
    if (const auto* s = item.as_string()) out.push_back(s->get());
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> CoordinatorToml(
    const KitProject& project, const std::string& existing,
    const std::vector<std::string>& enrolled) {
  toml::table root;
  if (!existing.empty()) {
    ASSIGN_OR_RETURN(root, ParseToml(existing, "coordinator.toml"));
  } else if (!project.base_config.empty()) {
    ASSIGN_OR_RETURN(std::string base, ReadFileToString(project.base_config));
    ASSIGN_OR_RETURN(root, ParseToml(base, project.base_config));
    root.erase("simulation");  // fedlearn-sim only
  }
  toml::table& server = Section(root, "server");
  server.insert_or_assign("listen", project.ListenAddress());
  server.insert_or_assign("ca", "ca.pem");
  server.insert_or_assign("cert", "server.pem");
  server.insert_or_assign("key", "server.key");
  toml::table& security = Section(root, "security");
  std::set<std::string> ids(enrolled.begin(), enrolled.end());
  for (const std::string& id : StringsOf(security.get("enrolled_clients"))) {
    ids.insert(id);
  }
  toml::array list;
  for (const std::string& id : ids) list.push_back(id);
  security.insert_or_assign("enrolled_clients", std::move(list));
  security.insert_or_assign("crl_file", "crl.pem");
  if (existing.empty()) {
    toml::table& run = Section(root, "run");
    SetIfAbsent(run, "id", toml::value<std::string>(project.name));
    SetIfAbsent(run, "state_dir", toml::value<std::string>("state"));
    // Secure aggregation (on by default) needs three clients per round.
    const int64_t sites =
        std::max<int64_t>(kMinSecureSites, project.sites.size());
    toml::table& rounds = Section(root, "rounds");
    SetIfAbsent(rounds, "min_clients", toml::value<int64_t>(sites));
    SetIfAbsent(rounds, "clients_per_round", toml::value<int64_t>(sites));
    SetIfAbsent(rounds, "min_updates", toml::value<int64_t>(sites));
  }
  std::ostringstream text;
  text << kCoordinatorHeader << root << "\n";
  return text.str();
}

absl::StatusOr<std::vector<std::string>> EnrolledClientsOf(
    const std::string& coordinator_toml) {
  ASSIGN_OR_RETURN(toml::table root,
                   ParseToml(coordinator_toml, "coordinator.toml"));
  return StringsOf(root.at_path("security.enrolled_clients").node());
}

std::string ClientToml(const KitProject& project, const std::string& site) {
  return absl::StrReplaceAll(
      R"(# fedlearn-client configuration of site "$SITE", written by
# `fedlearn-certs kits`. Start the daemon from this directory:
#   fedlearn-client --config client.toml --data csv --data-path /data/site.csv
# Every key is documented by `fedlearn-client --print-config`.

[coordinator]
address = "$ADDRESS"

[identity]
ca = "ca.pem"
cert = "$SITE.pem"
key = "$SITE.key"

[site]
state_dir = "state"

# The local data: set it here or with --data / --data-path.
# [data]
# kind = "csv"
# path = "/data/site.csv"
)",
      {{"$SITE", site}, {"$ADDRESS", project.DialAddress()}});
}

std::string SiteReadme(const KitProject& project, const std::string& site) {
  return absl::StrReplaceAll(
      R"(# Startup kit of site $SITE ($PROJECT)

| file | what it is | secret? |
|---|---|---|
| `$SITE.key` | this site's private key | **yes**: never copy it off this host |
| `$SITE.pem` | this site's certificate (CN `$SITE`, role site) | no |
| `ca.pem` | the federation's CA: how this site recognises the coordinator | no |
| `client.toml` | the daemon's configuration (coordinator `$ADDRESS`) | no |

Keep this directory readable by the daemon's user only (`chmod 700`).
Start the daemon from this directory, naming your data:

    fedlearn-client --config client.toml --data csv --data-path /data/site.csv

Your data never leaves this host. If the key may have leaked, tell the
federation's CA operator: they revoke this certificate and send you a new
kit (`fedlearn-certs rotate`).
)",
      {{"$SITE", site},
       {"$PROJECT", project.name},
       {"$ADDRESS", project.DialAddress()}});
}

std::string CoordinatorReadme(const KitProject& project) {
  return absl::StrReplaceAll(
      R"(# Startup kit of the coordinator ($PROJECT)

| file | what it is | secret? |
|---|---|---|
| `server.key` | the coordinator's private key | **yes** |
| `server.pem` | its certificate (names the sites dial: $ADDRESS) | no |
| `ca.pem` | the federation's CA: which site certificates to trust | no |
| `crl.pem` | revoked certificates, signed by the CA | no |
| `coordinator.toml` | the run's configuration, with the enrolled sites | no |

This kit holds no CA key: new sites, rotations and revocations are made on
the CA's host, which sends a fresh `crl.pem` (and the `enrolled_clients`
line of a new site). Start the coordinator from this directory:

    fedlearn-coordinator --config coordinator.toml
)",
      {{"$PROJECT", project.name}, {"$ADDRESS", project.DialAddress()}});
}

std::string OperatorReadme(const KitProject& project, const std::string& name) {
  return absl::StrReplaceAll(
      R"(# Operator kit of $NAME ($PROJECT)

`$NAME.key` (secret) and `$NAME.pem` identify you to the coordinator's
admin commands (certificate role operator); `ca.pem` is the federation's
CA. Keep `$NAME.key` on your own machine, readable by you only.
)",
      {{"$NAME", name}, {"$PROJECT", project.name}});
}

}  // namespace fedlearn
