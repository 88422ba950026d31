// The project file `fedlearn-certs kits` reads: who the coordinator is (its
// certificate names and the address sites dial), which sites and operators
// get a kit. TOML, one declared schema (common/config/config_schema.h):
//
//   [project]
//   name = "hospital-consortium"     # CA name and run id
//   [coordinator]
//   dns_names = ["coordinator.example.org"]
//   ip_addresses = []
//   port = 7443
//   base_config = "hospital.toml"    # optional: the run's settings
//   [sites]
//   ids = ["hospital-a", "hospital-b"]
//   [operators]
//   names = ["alice"]
//
// Guarantees: LoadKitProject refuses unknown keys, wrong types, invalid ids
// or names (cert_authority.h's rules), a site id that would collide with
// another kit's directory ("coordinator", "operator-*"), the same identity
// twice (a site and an operator may not share a CN), and a coordinator with
// no DNS name or IP. A relative base_config is resolved against the project
// file's directory. Thread-compatible value types.
#ifndef FEDLEARN_APPS_CERTS_KIT_PROJECT_H_
#define FEDLEARN_APPS_CERTS_KIT_PROJECT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedlearn {

struct KitProject {
  std::string name = "fedlearn";
  int valid_days = 365;  // of every certificate (the CA: 10 x this)
  int crl_days = 30;     // nextUpdate of every crl.pem written
  std::string coordinator_name = "coordinator";  // server certificate CN
  std::vector<std::string> coordinator_dns = {"localhost"};
  std::vector<std::string> coordinator_ips = {"127.0.0.1"};
  // HOST the sites dial; "" = the first DNS name, else the first IP.
  std::string coordinator_address;
  int port = 7443;
  std::string listen;       // "" = 0.0.0.0:<port>
  std::string base_config;  // "" = none
  std::vector<std::string> sites;
  std::vector<std::string> operators;

  // coordinator_address, or its default; "HOST:PORT" (IPv6 bracketed).
  std::string DialAddress() const;
  std::string ListenAddress() const;
};

absl::StatusOr<KitProject> LoadKitProject(const std::string& path);

// The checks of LoadKitProject on a finished project.
absl::Status ValidateKitProject(const KitProject& project);

// OK iff `id` may name a site kit (ValidateClientId and not a reserved kit
// directory name).
absl::Status ValidateSiteId(const std::string& id);

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_CERTS_KIT_PROJECT_H_
