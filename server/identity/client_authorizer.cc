#include "server/identity/client_authorizer.h"

#include <algorithm>
#include <iterator>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/crypto/sha256.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// Distinct certificates remembered at once; beyond it the cache starts over
// (bounds memory against a peer presenting many certificates).
constexpr size_t kMaxCachedCertificates = 4096;

}  // namespace

absl::StatusOr<std::unique_ptr<ClientAuthorizer>> ClientAuthorizer::Create(
    Options options) {
  ASSIGN_OR_RETURN(PeerCertificateInspector inspector,
                   PeerCertificateInspector::Create(options.ca_pem));
  ASSIGN_OR_RETURN(std::unique_ptr<EnrolmentList> enrolment,
                   EnrolmentList::Create(options.identity));
  ASSIGN_OR_RETURN(std::unique_ptr<CrlFile> crl,
                   CrlFile::Create(options.identity.crl_file, options.ca_pem));
  if (!options.identity.HasEnrolmentSource()) {
    spdlog::error(
        "no client is enrolled for run '{}': every site will be refused "
        "until you list them in security.enrolled_clients or "
        "security.enrolment_file (development only: "
        "security.allow_any_enrolled_by_ca = true)",
        options.run_id);
  } else if (options.identity.allow_any_enrolled_by_ca) {
    spdlog::warn(
        "security.allow_any_enrolled_by_ca = true: run '{}' admits ANY "
        "certificate the CA issued, enrolled or not. Development only: list "
        "the sites in security.enrolled_clients or security.enrolment_file",
        options.run_id);
  }
  return std::unique_ptr<ClientAuthorizer>(
      new ClientAuthorizer(std::move(options), std::move(inspector),
                           std::move(enrolment), std::move(crl)));
}

ClientAuthorizer::ClientAuthorizer(Options options,
                                   PeerCertificateInspector inspector,
                                   std::unique_ptr<EnrolmentList> enrolment,
                                   std::unique_ptr<CrlFile> crl)
    : options_(std::move(options)),
      inspector_(std::move(inspector)),
      clock_(options_.clock != nullptr ? options_.clock : &system_clock_),
      enrolment_(std::move(enrolment)),
      crl_(std::move(crl)) {}

absl::StatusOr<PeerCertificate> ClientAuthorizer::Inspect(
    std::string_view cert_pem) {
  const std::string key = Sha256Hex(cert_pem);
  const int64_t now = clock_->UnixMillis() / 1000;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now <= it->second.not_after_unix) {
      return it->second;
    }
  }
  // Not cached, or expired since: the full check (which refuses an expired
  // certificate with OpenSSL's reason).
  ASSIGN_OR_RETURN(PeerCertificate peer, inspector_.Inspect(cert_pem));
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.size() >= kMaxCachedCertificates) cache_.clear();
  cache_[key] = peer;
  return peer;
}

absl::Status ClientAuthorizer::Refused(absl::Status why,
                                       const std::string& client_id,
                                       const std::string& serial) {
  spdlog::warn("refused: {}", why.message());
  if (options_.audit != nullptr) {
    AuditEvent event;
    event.event = "refused";
    event.client_id = client_id;
    event.details["reason"] = EscapeUntrusted(why.message(), 300);
    if (!serial.empty()) event.details["serial"] = serial;
    options_.audit->Record(event);
  }
  return why;
}

absl::Status ClientAuthorizer::CheckSiteRole(const PeerCertificate& peer) {
  if (peer.role == CertificateRole::kSite) return absl::OkStatus();
  if (peer.role == CertificateRole::kUnknown &&
      options_.identity.accept_legacy_certificates) {
    std::lock_guard<std::mutex> lock(mu_);
    if (warned_legacy_.insert(peer.client_id).second) {
      // One warning says it all; a federation of 1,000 legacy sites must
      // not print 1,000 lines. The rest are at debug level.
      const bool first = warned_legacy_.size() == 1;
      spdlog::log(
          first ? spdlog::level::warn : spdlog::level::debug,
          "client '{}' presented a certificate without a role "
          "(issued before roles existed); accepted as a site. "
          "Re-issue it (fedlearn-certs) to carry role 'site'{}",
          peer.client_id,
          first ? "; further such clients are logged at debug level" : "");
    }
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "certificate CN '", peer.client_id, "' has role '",
      std::string(CertificateRoleName(peer.role)),
      "'; client RPCs need a 'site' certificate (an operator certificate is "
      "for admin commands only)"));
}

absl::StatusOr<AuthorizedPeer> ClientAuthorizer::AuthorizeClient(
    std::string_view cert_pem) {
  absl::StatusOr<PeerCertificate> peer = Inspect(cert_pem);
  if (!peer.ok()) return Refused(peer.status(), "", "");
  if (crl_->IsRevoked(peer->serial)) {
    return Refused(absl::PermissionDeniedError(absl::StrCat(
                       "certificate CN '", peer->client_id, "' (serial ",
                       peer->serial, ") is revoked")),
                   peer->client_id, peer->serial);
  }
  if (absl::Status s = CheckSiteRole(*peer); !s.ok()) {
    return Refused(s, peer->client_id, peer->serial);
  }
  if (!enrolment_->Contains(peer->client_id)) {
    return Refused(absl::PermissionDeniedError(absl::StrCat(
                       "certificate CN '", peer->client_id,
                       "' is not enrolled for run '", options_.run_id, "'")),
                   peer->client_id, peer->serial);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    serial_in_use_[peer->client_id] = peer->serial;
  }
  return AuthorizedPeer{peer->client_id, peer->serial, peer->role};
}

absl::StatusOr<AuthorizedPeer> ClientAuthorizer::AuthorizeOperator(
    std::string_view cert_pem) {
  absl::StatusOr<PeerCertificate> peer = Inspect(cert_pem);
  if (!peer.ok()) return Refused(peer.status(), "", "");
  if (crl_->IsRevoked(peer->serial)) {
    return Refused(absl::PermissionDeniedError(absl::StrCat(
                       "operator certificate CN '", peer->client_id,
                       "' (serial ", peer->serial, ") is revoked")),
                   peer->client_id, peer->serial);
  }
  if (peer->role != CertificateRole::kOperator) {
    return Refused(absl::PermissionDeniedError(absl::StrCat(
                       "certificate CN '", peer->client_id, "' has role '",
                       std::string(CertificateRoleName(peer->role)),
                       "'; admin commands need an 'operator' certificate")),
                   peer->client_id, peer->serial);
  }
  return AuthorizedPeer{peer->client_id, peer->serial, peer->role};
}

std::string ClientAuthorizer::SerialInUse(const std::string& client_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = serial_in_use_.find(client_id);
  return it == serial_in_use_.end() ? "" : it->second;
}

namespace {

// `after` minus `before`, as a JSON array (sorted: both are sets).
nlohmann::json Difference(const std::set<std::string>& after,
                          const std::set<std::string>& before) {
  nlohmann::json out = nlohmann::json::array();
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(out));
  return out;
}

}  // namespace

void ClientAuthorizer::RecordChange(const char* event,
                                    const std::set<std::string>& before,
                                    const std::set<std::string>& after,
                                    const char* added, const char* removed) {
  if (options_.audit == nullptr || before == after) return;
  AuditEvent change;
  change.event = event;
  change.details[added] = Difference(after, before);
  change.details[removed] = Difference(before, after);
  change.details["count"] = after.size();
  options_.audit->Record(change);
}

std::vector<Eviction> ClientAuthorizer::Reload(bool force) {
  const std::set<std::string> enrolled_before = enrolment_->ids();
  const std::set<std::string> revoked_before = crl_->revoked();
  for (absl::StatusOr<bool> changed :
       {enrolment_->Reload(force), crl_->Reload(force)}) {
    if (changed.ok()) continue;
    spdlog::error("{}", changed.status().message());
    if (options_.audit != nullptr) {
      AuditEvent refused;
      refused.event = "identity_reload_refused";
      refused.details["reason"] = std::string(changed.status().message());
      options_.audit->Record(refused);
    }
  }
  // Enrolment changes and new revocations are on the record before the
  // sessions they end.
  RecordChange("enrolment_changed", enrolled_before, enrolment_->ids(), "added",
               "removed");
  RecordChange("revocation_list_changed", revoked_before, crl_->revoked(),
               "revoked_serials", "unrevoked_serials");
  std::vector<Eviction> evictions;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = serial_in_use_.begin(); it != serial_in_use_.end();) {
    const std::string& id = it->first;
    const std::string& serial = it->second;
    AuditEvent event;
    event.client_id = id;
    event.details["serial"] = serial;
    if (crl_->IsRevoked(serial)) {
      event.event = "revoked";
      evictions.push_back(
          {id, absl::StrCat("certificate serial ", serial, " was revoked")});
    } else if (!enrolment_->Contains(id)) {
      event.event = "evicted";
      evictions.push_back({id, absl::StrCat("no longer enrolled for run '",
                                            options_.run_id, "'")});
    } else {
      ++it;
      continue;
    }
    event.details["reason"] = evictions.back().reason;
    if (options_.audit != nullptr) options_.audit->Record(event);
    spdlog::warn("ending the session of client '{}': {}", id,
                 evictions.back().reason);
    it = serial_in_use_.erase(it);
  }
  return evictions;
}

}  // namespace fedlearn
