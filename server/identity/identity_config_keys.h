// The [security] keys that fill an IdentityConfig, declared once here and
// added to a program's config schema (the coordinator's:
// coordinator_config_schema.cc).
// Header-only (a template over the program's config type), so this module
// does not depend on the program's configuration library.
// Thread-safety: call while the schema is built.
#ifndef FEDLEARN_SERVER_IDENTITY_IDENTITY_CONFIG_KEYS_H_
#define FEDLEARN_SERVER_IDENTITY_IDENTITY_CONFIG_KEYS_H_

#include "common/config/config_schema.h"
#include "server/identity/identity_config.h"

namespace fedlearn {

// `ref` is a generic lambda `[](auto& c) -> auto& { return c.identity; }`.
template <typename Config, typename Ref>
void AddIdentityKeys(ConfigSchema<Config>& s, Ref ref) {
  s.Section("security",
            "who may join: chained to the CA AND enrolled for the run");
  s.Field(
      "security.enrolled_clients",
      "client ids (certificate CNs) admitted to this run",
      [ref](auto& c) -> auto& { return ref(c).enrolled_clients; });
  s.Field(
      "security.enrolment_file",
      "more ids, one per line ('#' comments); re-read when it changes",
      [ref](auto& c) -> auto& { return ref(c).enrolment_file; });
  s.Field(
      "security.allow_any_enrolled_by_ca",
      "DEVELOPMENT ONLY: admit every certificate the CA issued",
      [ref](auto& c) -> auto& { return ref(c).allow_any_enrolled_by_ca; });
  s.Field(
      "security.crl_file",
      "PEM CRL signed by the CA; re-read when it changes or on SIGHUP",
      [ref](auto& c) -> auto& { return ref(c).crl_file; });
  s.Field(
      "security.accept_legacy_certificates",
      "treat certificates without a role (pre-role kits) as sites",
      [ref](auto& c) -> auto& { return ref(c).accept_legacy_certificates; });
}

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_IDENTITY_IDENTITY_CONFIG_KEYS_H_
