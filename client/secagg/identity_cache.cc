#include "client/secagg/identity_cache.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crypto/signature.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {

SecAggIdentity ShareSecAggIdentity(const SecAggIdentity& identity) {
  SecAggIdentity copy;
  copy.client_id = identity.client_id;
  copy.cert_pem = identity.cert_pem;
  copy.ca_pem = identity.ca_pem;
  copy.signing_key = identity.signing_key;
  return copy;
}

absl::StatusOr<SecAggIdentity> SecAggIdentityCache::Get(
    std::string_view client_id, absl::Time now, Loader load) {
  if (entry_.has_value() && entry_->identity.client_id == client_id &&
      entry_->validity.Contains(now)) {
    return ShareSecAggIdentity(entry_->identity);
  }
  entry_.reset();
  ++loads_;
  ASSIGN_OR_RETURN(SecAggIdentity loaded, load());
  if (loaded.client_id != client_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("the identity loaded for '",
                     EscapeUntrusted(std::string(client_id), 100), "' is for '",
                     EscapeUntrusted(loaded.client_id, 100), "'"));
  }
  if (loaded.signing_key == nullptr) {
    if (loaded.key_pem.empty()) {
      return absl::InvalidArgumentError("the loaded identity has no key");
    }
    ASSIGN_OR_RETURN(SigningKey key, SigningKey::Create(loaded.key_pem.view()));
    loaded.signing_key = std::make_shared<const SigningKey>(std::move(key));
  }
  loaded.key_pem = SecretBytes();  // wiped: the parsed key suffices
  absl::StatusOr<ValidityPeriod> validity = ValidityPeriodOf(loaded.cert_pem);
  if (!validity.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the secure-aggregation certificate: ", validity.status().message()));
  }
  entry_ = Entry{std::move(loaded), *validity};
  return ShareSecAggIdentity(entry_->identity);
}

}  // namespace fedlearn
