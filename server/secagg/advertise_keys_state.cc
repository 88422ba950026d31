#include "server/secagg/advertise_keys_state.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/crypto/key_agreement.h"
#include "common/util/escape.h"
#include "server/secagg/share_keys_state.h"

namespace fedlearn {
namespace {

constexpr size_t kMaxCertificateBytes = 16 * 1024;
constexpr size_t kMaxSignatureBytes = 1024;

std::set<int> AllClients(int n) {
  std::set<int> all;
  for (int i = 0; i < n; ++i) all.insert(i);
  return all;
}

}  // namespace

AdvertiseKeysServerState::AdvertiseKeysServerState(
    std::shared_ptr<ServerRoundContext> context)
    : SecAggServerState(context, AllClients(context->params.num_clients())) {}

absl::Status AdvertiseKeysServerState::HandlePhaseMessage(
    int index, const v1::SecAggClientMessage& message) {
  if (!message.has_advertise_keys())
    return SecAggServerState::HandlePhaseMessage(index, message);
  const v1::AdvertiseKeys& keys = message.advertise_keys();
  const std::string& id = context_->id(index);
  if (keys.client_id() != id) {
    return absl::InvalidArgumentError(
        absl::StrCat("client '", id, "' advertised keys under the id '",
                     EscapeUntrusted(keys.client_id(), 100), "'"));
  }
  if (keys.encryption_public_key().size() != kX25519KeyBytes ||
      keys.masking_public_key().size() != kX25519KeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client '", id, "' advertised keys that are not 32-byte X25519 keys"));
  }
  if (keys.certificate_pem().empty() ||
      keys.certificate_pem().size() > kMaxCertificateBytes ||
      keys.signature().empty() ||
      keys.signature().size() > kMaxSignatureBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client '", id,
        "' advertised keys without a usable certificate or signature"));
  }
  if (keys.encryption_public_key() == keys.masking_public_key() ||
      public_keys_.count(keys.encryption_public_key()) ||
      public_keys_.count(keys.masking_public_key())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client '", id, "' advertised a public key that is already in use"));
  }
  // Checked before the keys are claimed (below): a rejected advertisement
  // must not block the owner of keys it copied.
  if (context_->verifier != nullptr) {
    absl::Status verified = context_->verifier->Verify(
        context_->params.session_id, context_->params.round, id, keys);
    if (!verified.ok()) {
      context_->listener->OnAdvertisementRejected(
          id, std::string_view(verified.message().data(),
                               verified.message().size()));
      Reject(index);
      return absl::UnauthenticatedError(
          absl::StrCat("client '", id,
                       "' advertised keys the coordinator "
                       "cannot verify (dropped from this round): ",
                       EscapeUntrusted(verified.message(), 300)));
    }
  }
  public_keys_.insert(keys.encryption_public_key());
  public_keys_.insert(keys.masking_public_key());
  context_->advertised[index] = keys;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SecAggServerState>>
AdvertiseKeysServerState::Advance() {
  const SecAggParameters& params = context_->params;
  std::set<int> u1 = Responders();
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = u1.begin(); it != u1.end();) {
      if (static_cast<int>(NeighboursIn(params, *it, u1).size()) + 1 <
          params.threshold) {
        context_->listener->OnClientExcluded(context_->id(*it));
        it = u1.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  for (int i = 0; i < params.num_clients(); ++i) {
    if (!u1.count(i)) context_->advertised[i].reset();
  }
  if (static_cast<int>(u1.size()) < params.threshold) {
    return absl::AbortedError(absl::StrCat(
        "only ", u1.size(), " clients advertised usable keys, threshold is ",
        params.threshold));
  }
  std::map<int, v1::SecAggServerMessage> requests;
  for (int u : u1) {
    v1::SecAggServerMessage message = context_->NewMessage();
    v1::ShareKeysRequest* request = message.mutable_share_keys_request();
    for (int v : NeighboursIn(params, u, u1)) {
      *request->add_neighbour_keys() = *context_->advertised[v];
    }
    requests.emplace(u, std::move(message));
  }
  auto next = std::make_unique<ShareKeysServerState>(context_, std::move(u1));
  next->SetRequests(std::move(requests));
  return next;
}

}  // namespace fedlearn
