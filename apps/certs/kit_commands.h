// The kit subcommands of fedlearn-certs: `kits` lays out a project's CA
// directory and one startup kit per party; `add-site`, `add-operator`,
// `rotate` and `revoke` change it afterwards. Layout under OUT:
//
//   OUT/ca/                 ca.key (0600), ca.pem, crl.pem, issued.json
//   OUT/kits/coordinator/   server.pem/.key, ca.pem, crl.pem,
//                           coordinator.toml, README.md
//   OUT/kits/<site>/        <site>.pem/.key, ca.pem, client.toml, README.md
//   OUT/kits/operator-<n>/  <n>.pem/.key, ca.pem, README.md
//
// Commands that take --ca-dir find the kits in its sibling "kits".
// Guarantees: no kit ever receives ca.key; keys are written 0600 before
// their certificate, and directories holding keys are 0700; an existing
// key/certificate pair is kept, never overwritten, except by `rotate`,
// which writes a new pair and revokes the old serial; every command that
// changes the revocation state writes a fresh crl.pem to the CA directory
// and to the coordinator kit (if it is there). Progress lines ("wrote",
// "kept", what to copy where) go to `out`. Not safe for concurrent runs on
// one directory.
#ifndef FEDLEARN_APPS_CERTS_KIT_COMMANDS_H_
#define FEDLEARN_APPS_CERTS_KIT_COMMANDS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "common/tls/cert_authority.h"

namespace fedlearn {

absl::Status RunKits(const std::string& project_path,
                     const std::string& out_dir, std::ostream& out);

// A kit for `site` (kept if it exists), enrolled in the coordinator kit.
absl::Status RunAddSite(const std::string& ca_dir,
                        const std::string& project_path,
                        const std::string& site, std::ostream& out);

absl::Status RunAddOperator(const std::string& ca_dir,
                            const std::string& project_path,
                            const std::string& name, std::ostream& out);

// A new key and certificate (valid `valid_days`) for `id`'s kit; every
// older certificate of `id` is revoked as superseded. Also readmits a
// revoked party. `role` is kSite or kOperator; `crl_days` as the project's.
absl::Status RunRotate(const std::string& ca_dir, const std::string& id,
                       CertificateRole role, int valid_days, int crl_days,
                       std::ostream& out);

absl::Status RunRevoke(const std::string& ca_dir, const std::string& id,
                       CertificateRole role, const std::string& reason,
                       int crl_days, std::ostream& out);

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_CERTS_KIT_COMMANDS_H_
