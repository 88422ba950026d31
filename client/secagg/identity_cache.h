// One client's secure-aggregation identity, loaded from its files and its
// private key parsed once, for every round it takes part in: reading and
// decoding the certificate, CA and key (OpenSSL 3's decoders) cost more than
// all the signatures of a round.
//
// Guarantees: Get hands back the cached identity only for the client id it
// was loaded for and only while `now` is within the cached certificate's
// validity period; otherwise it runs the loader again and caches what it
// returns. So a different client id never gets another's key, and an
// expired (or not yet valid) own certificate gets the loader's error exactly
// as without the cache (or a renewed file, if one was installed). A failed
// load is not cached: the next Get tries again. The returned identity shares
// the parsed key (SecAggIdentity::signing_key) and has an empty key_pem: the
// PEM is wiped once parsed.
// Not re-read while valid: a key or certificate rotated on disk takes effect
// when the client restarts, as for its TLS channel, which reads the same
// files once when it is created (client/grpc_coordinator_transport.h).
// Thread-compatible: one cache per client session, one caller at a time.
// The shared SigningKey is immutable and may sign on several threads.
#ifndef FEDLEARN_CLIENT_SECAGG_IDENTITY_CACHE_H_
#define FEDLEARN_CLIENT_SECAGG_IDENTITY_CACHE_H_

#include <optional>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/secagg/client_state.h"
#include "common/crypto/certificate_chain.h"

namespace fedlearn {

class SecAggIdentityCache {
 public:
  using Loader = absl::FunctionRef<absl::StatusOr<SecAggIdentity>()>;

  // The identity of `client_id` at `now` (see the file comment). `load`
  // reads it from the files; its error is returned as is.
  // InvalidArgument if what it loads is for another id, has no key, or its
  // key or certificate does not parse.
  absl::StatusOr<SecAggIdentity> Get(std::string_view client_id, absl::Time now,
                                     Loader load);
  // Get at the current time.
  absl::StatusOr<SecAggIdentity> Get(std::string_view client_id, Loader load) {
    return Get(client_id, absl::Now(), load);
  }

  // How many times a Get ran the loader (tests and diagnostics).
  int loads() const { return loads_; }

 private:
  struct Entry {
    SecAggIdentity identity;  // key_pem empty, signing_key set
    ValidityPeriod validity;
  };

  std::optional<Entry> entry_;
  int loads_ = 0;
};

// A copy of `identity` that shares its parsed key: same id, certificate, CA
// and signing_key, empty key_pem.
SecAggIdentity ShareSecAggIdentity(const SecAggIdentity& identity);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_IDENTITY_CACHE_H_
