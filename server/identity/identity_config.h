// Who may join a run, as the coordinator's [security] section declares it.
//
// The run admits an identity only if its certificate chains to the CA (the
// TLS handshake checks that) AND it is enrolled: named in
// `enrolled_clients`, or one line of `enrolment_file` (reloadable without a
// restart). `allow_any_enrolled_by_ca` waives the list for development: any
// certificate the CA issued is admitted, and the coordinator says so loudly
// at startup. The default is none of the three: nobody is enrolled, every
// site is refused (PERMISSION_DENIED, naming the run) and the coordinator
// logs an error at startup saying so. A forgotten list fails closed, never
// open; an enrolment file written later is picked up without a restart.
// `crl_file` is an optional PEM CRL signed by the CA, reloaded when it
// changes or on SIGHUP.
//
// A plain value type; thread-compatible.
#ifndef FEDLEARN_SERVER_IDENTITY_IDENTITY_CONFIG_H_
#define FEDLEARN_SERVER_IDENTITY_IDENTITY_CONFIG_H_

#include <string>
#include <vector>

#include "common/util/clock.h"

namespace fedlearn {

struct IdentityConfig {
  std::vector<std::string> enrolled_clients;
  std::string enrolment_file;  // one id per line; '#' starts a comment
  bool allow_any_enrolled_by_ca = false;
  std::string crl_file;  // "" = no revocation list
  // How often the enrolment file and the CRL are checked for changes.
  Duration reload_interval{std::chrono::seconds(2)};
  // Certificates with no role (issued before roles existed) are treated as
  // sites; false refuses them.
  bool accept_legacy_certificates = true;

  bool HasEnrolmentSource() const {
    return allow_any_enrolled_by_ca || !enrolled_clients.empty() ||
           !enrolment_file.empty();
  }
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_IDENTITY_IDENTITY_CONFIG_H_
