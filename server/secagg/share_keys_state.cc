#include "server/secagg/share_keys_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/crypto/aead.h"
#include "common/util/escape.h"
#include "server/secagg/masked_input_collection_state.h"

namespace fedlearn {
namespace {
constexpr size_t kMaxCiphertextBytes = 4096;
}  // namespace

absl::Status ShareKeysServerState::HandlePhaseMessage(
    int index, const v1::SecAggClientMessage& message) {
  if (!message.has_share_keys_response()) {
    return SecAggServerState::HandlePhaseMessage(index, message);
  }
  const SecAggParameters& params = context_->params;
  const std::string& id = context_->id(index);
  const std::vector<int> expected = NeighboursIn(params, index, u1_);
  std::map<int, std::string> shares;
  for (const v1::EncryptedKeyShares& s :
       message.share_keys_response().shares()) {
    if (s.sender() != id) {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id, "' sent key shares as '",
                       EscapeUntrusted(s.sender(), 100), "'"));
    }
    std::optional<int> recipient = params.IndexOf(s.recipient());
    if (!recipient ||
        !std::binary_search(expected.begin(), expected.end(), *recipient)) {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id, "' sent key shares to '",
                       EscapeUntrusted(s.recipient(), 100),
                       "', not one of its neighbours that advertised keys"));
    }
    // Shorter than a nonce and a tag cannot be an AEAD ciphertext.
    if (s.ciphertext().size() < kAeadNonceBytes + kAeadTagBytes ||
        s.ciphertext().size() > kMaxCiphertextBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id, "' sent a malformed ciphertext for '",
                       context_->id(*recipient), "'"));
    }
    if (!shares.emplace(*recipient, s.ciphertext()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id, "' sent two ciphertexts for '",
                       context_->id(*recipient), "'"));
    }
  }
  if (shares.size() != expected.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("client '", id, "' sent key shares to ", shares.size(),
                     " of its ", expected.size(), " neighbours"));
  }
  outgoing_[index] = std::move(shares);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SecAggServerState>>
ShareKeysServerState::Advance() {
  const SecAggParameters& params = context_->params;
  std::set<int> u2 = Responders();
  if (static_cast<int>(u2.size()) < params.threshold) {
    return absl::AbortedError(absl::StrCat(
        "only ", u2.size(), " clients shared their keys, threshold is ",
        params.threshold));
  }
  std::map<int, v1::SecAggServerMessage> requests;
  for (int u : u2) {
    v1::SecAggServerMessage message = context_->NewMessage();
    v1::MaskedInputRequest* request = message.mutable_masked_input_request();
    for (int v : NeighboursIn(params, u, u2)) {
      v1::EncryptedKeyShares* s = request->add_shares();
      s->set_sender(context_->id(v));
      s->set_recipient(context_->id(u));
      s->set_ciphertext(std::move(outgoing_[v][u]));
    }
    requests.emplace(u, std::move(message));
  }
  outgoing_.clear();
  context_->shared_keys = u2;
  auto next =
      std::make_unique<MaskedInputCollectionState>(context_, std::move(u2));
  next->SetRequests(std::move(requests));
  return next;
}

}  // namespace fedlearn
