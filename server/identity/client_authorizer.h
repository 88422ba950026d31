// Who may call the coordinator: the decision the service adapter asks for at
// every RPC, given the peer's certificate PEM (gRPC's `x509_pem_cert`).
//
// A client RPC is admitted iff the certificate passes PeerCertificateInspector
// (chains to the CA, exactly one CN that is a valid id, clientAuth EKU), its
// role is "site" (a certificate with no role, issued before roles existed,
// counts as a site when IdentityConfig::accept_legacy_certificates, with a
// warning once per identity), its serial is not on the CRL, and its CN is
// enrolled for the run. Admin commands use AuthorizeOperator: role
// "operator" and not revoked (operators are not on the sites' enrolment
// list). Everything else is refused: Unauthenticated when the certificate
// names nobody, PermissionDenied when it names someone who may not do this,
// each refusal recorded in the audit trail ("refused", with the reason).
//
// The parse and chain check are cached by the certificate's SHA-256 (a busy
// client costs one hash per RPC, not a parse); the cheap checks (role,
// enrolment, revocation) run every time, so a reload takes effect at the
// next RPC. The authorizer remembers which certificate serial each identity
// last used, so Reload() can name the live sessions a new CRL (or a shorter
// enrolment file) ends; the caller evicts them (RoundEngine::Evict).
//
// Never records or logs a key; certificate-derived text is escaped.
// Thread-safety: thread-safe; Authorize* from any transport thread, Reload
// from one driver thread.
#ifndef FEDLEARN_SERVER_IDENTITY_CLIENT_AUTHORIZER_H_
#define FEDLEARN_SERVER_IDENTITY_CLIENT_AUTHORIZER_H_

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/util/clock.h"
#include "server/audit/audit_sink.h"
#include "server/identity/crl_file.h"
#include "server/identity/enrolment_list.h"
#include "server/identity/identity_config.h"
#include "server/identity/peer_certificate.h"

namespace fedlearn {

struct AuthorizedPeer {
  std::string client_id;
  std::string serial;
  CertificateRole role = CertificateRole::kUnknown;
};

// A live identity a reload took the right to take part from.
struct Eviction {
  std::string client_id;
  std::string reason;
};

class ClientAuthorizer {
 public:
  struct Options {
    std::string run_id;
    IdentityConfig identity;
    // The CA client certificates chain to ("": the TLS handshake alone
    // checks the chain; PeerCertificateInspector).
    std::string ca_pem;
    AuditSink* audit = nullptr;    // not owned; null: no trail
    const Clock* clock = nullptr;  // not owned; null: the system clock
  };

  // Reads the enrolment file and the CRL; fails on either being unusable.
  static absl::StatusOr<std::unique_ptr<ClientAuthorizer>> Create(
      Options options);

  // A client RPC (GetContract, Register, ... ); see the file comment.
  absl::StatusOr<AuthorizedPeer> AuthorizeClient(std::string_view cert_pem);
  // An admin command: role "operator", not revoked.
  absl::StatusOr<AuthorizedPeer> AuthorizeOperator(std::string_view cert_pem);

  // The serial of the certificate `client_id` was last admitted with, ""
  // if none.
  std::string SerialInUse(const std::string& client_id) const;

  // Re-reads the enrolment file and the CRL if they changed (or `force`).
  // A file that fails is logged and its previous contents kept. Returns the
  // identities in use that may no longer take part (each recorded in the
  // audit trail as "revoked" or "evicted"), each named once.
  std::vector<Eviction> Reload(bool force);

  const EnrolmentList& enrolment() const { return *enrolment_; }

 private:
  ClientAuthorizer(Options options, PeerCertificateInspector inspector,
                   std::unique_ptr<EnrolmentList> enrolment,
                   std::unique_ptr<CrlFile> crl);

  // The inspected certificate (cached by hash), or why it names nobody.
  absl::StatusOr<PeerCertificate> Inspect(std::string_view cert_pem);
  // Records a refusal and hands it back.
  absl::Status Refused(absl::Status why, const std::string& client_id,
                       const std::string& serial);
  // Role "site" or an accepted legacy certificate.
  absl::Status CheckSiteRole(const PeerCertificate& peer);
  // Audits `event` with the ids that entered (`added`) and left
  // (`removed`) between `before` and `after`, if any did.
  void RecordChange(const char* event, const std::set<std::string>& before,
                    const std::set<std::string>& after, const char* added,
                    const char* removed);

  const Options options_;
  const PeerCertificateInspector inspector_;
  SystemClock system_clock_;
  const Clock* const clock_;
  std::unique_ptr<EnrolmentList> enrolment_;
  std::unique_ptr<CrlFile> crl_;

  mutable std::mutex mu_;
  std::map<std::string, PeerCertificate> cache_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> serial_in_use_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> warned_legacy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_IDENTITY_CLIENT_AUTHORIZER_H_
