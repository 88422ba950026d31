#include "server/secagg/unmasking_state.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/key_agreement.h"
#include "common/secagg/key_shares.h"
#include "common/secagg/masking.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"
#include "server/secagg/terminal_states.h"

namespace fedlearn {
namespace {

const char* KindName(SecretKind kind) {
  return kind == SecretKind::kSelfMaskSeed ? "self-mask seed" : "masking key";
}

}  // namespace

UnmaskingServerState::~UnmaskingServerState() {
  for (auto* by_owner : {&seed_shares_, &key_shares_}) {
    for (auto& [owner, shares] : *by_owner) {
      for (ShamirShare& s : shares) WipeShamirShare(&s);
    }
  }
}

std::optional<SecretKind> UnmaskingServerState::PermittedSecret(
    int owner) const {
  if (u3_.count(owner)) return SecretKind::kSelfMaskSeed;
  if (u2_.count(owner)) return SecretKind::kMaskingKey;
  return std::nullopt;
}

absl::Status UnmaskingServerState::Accept(
    std::map<int, std::pair<SecretKind, ShamirShare>> taken) {
  for (auto& [owner, entry] : taken) {
    auto& kinds = context_->ledger.accepted[owner];
    const SecretKind other = entry.first == SecretKind::kSelfMaskSeed
                                 ? SecretKind::kMaskingKey
                                 : SecretKind::kSelfMaskSeed;
    if (kinds.count(other)) {  // unreachable: PermittedSecret is fixed by U3
      return absl::InternalError(
          "refusing a second kind of secret for one client");
    }
    kinds.insert(entry.first);
    auto& store =
        entry.first == SecretKind::kSelfMaskSeed ? seed_shares_ : key_shares_;
    store[owner].push_back(std::move(entry.second));
  }
  return absl::OkStatus();
}

absl::Status UnmaskingServerState::HandlePhaseMessage(
    int index, const v1::SecAggClientMessage& message) {
  if (!message.has_unmasking_response()) {
    return SecAggServerState::HandlePhaseMessage(index, message);
  }
  const SecAggParameters& params = context_->params;
  const std::string& id = context_->id(index);
  // What this client can and must reveal: its own seed share, and one share
  // of each neighbour it exchanged key shares with.
  std::map<int, SecretKind> expected = {{index, SecretKind::kSelfMaskSeed}};
  for (int v : NeighboursIn(params, index, u2_))
    expected.emplace(v, *PermittedSecret(v));

  std::map<int, std::pair<SecretKind, ShamirShare>> taken;
  for (const v1::RevealedShare& revealed :
       message.unmasking_response().shares()) {
    std::optional<int> owner = params.IndexOf(revealed.owner());
    auto it = owner ? expected.find(*owner) : expected.end();
    if (it == expected.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id, "' may not reveal a share of '",
                       EscapeUntrusted(revealed.owner(), 100), "'"));
    }
    SecretKind kind;
    const v1::SecretShare* proto;
    if (revealed.has_self_mask_seed_share()) {
      kind = SecretKind::kSelfMaskSeed;
      proto = &revealed.self_mask_seed_share();
    } else if (revealed.has_masking_key_share()) {
      kind = SecretKind::kMaskingKey;
      proto = &revealed.masking_key_share();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id, "' revealed an empty share of '",
                       context_->id(*owner), "'"));
    }
    if (kind != it->second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "client '", id, "' revealed a ", KindName(kind), " share of '",
          context_->id(*owner), "'; only its ", KindName(it->second),
          " may be learned",
          *owner == index ? " (a client may not unmask itself)" : ""));
    }
    auto share = ShareFromProto(*proto);
    if (!share.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id, "' revealed a share of '",
                       context_->id(*owner), "': ", share.status().message()));
    }
    if (share->x != static_cast<uint32_t>(index + 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id,
                       "' revealed a share at another client's x-coordinate"));
    }
    if (!taken.emplace(*owner, std::make_pair(kind, *std::move(share)))
             .second) {
      return absl::InvalidArgumentError(
          absl::StrCat("client '", id, "' revealed two shares of '",
                       context_->id(*owner), "'"));
    }
  }
  if (taken.size() != expected.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("client '", id, "' revealed ", taken.size(),
                     " shares, expected ", expected.size()));
  }
  return Accept(std::move(taken));
}

absl::StatusOr<SecretBytes> UnmaskingServerState::Reconstruct(int owner,
                                                              SecretKind kind) {
  const int t = context_->params.threshold;
  auto& store = kind == SecretKind::kSelfMaskSeed ? seed_shares_ : key_shares_;
  std::vector<ShamirShare>& shares = store[owner];
  if (static_cast<int>(shares.size()) < t) {
    return absl::AbortedError(absl::StrCat(
        "cannot reconstruct the ", KindName(kind), " of '", context_->id(owner),
        "': only ", shares.size(), " shares arrived, threshold is ", t));
  }
  auto secret = ShamirReconstruct(shares, t);
  if (!secret.ok()) {
    return absl::AbortedError(
        absl::StrCat("cannot reconstruct the ", KindName(kind), " of '",
                     context_->id(owner), "': ", secret.status().message()));
  }
  if (static_cast<int>(shares.size()) > t) {
    // A second, different t-subset must agree: catches a corrupted share.
    std::vector<ShamirShare> last;
    for (size_t i = shares.size() - t; i < shares.size(); ++i)
      last.push_back(shares[i]);
    auto check = ShamirReconstruct(last, t);
    for (ShamirShare& s : last) WipeShamirShare(&s);
    if (!check.ok() || !(*check == *secret)) {
      return absl::AbortedError(absl::StrCat(
          "the shares of the ", KindName(kind), " of '", context_->id(owner),
          "' are inconsistent: a client sent a bad share"));
    }
  }
  context_->ledger.reconstructed[owner].insert(kind);
  return secret;
}

absl::StatusOr<std::unique_ptr<SecAggServerState>>
UnmaskingServerState::Advance() {
  const SecAggParameters& params = context_->params;
  std::map<int, SecretBytes> seeds;
  std::map<int, SecretBytes> masking_keys;
  for (int u : u3_) {
    ASSIGN_OR_RETURN(SecretBytes seed,
                     Reconstruct(u, SecretKind::kSelfMaskSeed));
    seeds.emplace(u, std::move(seed));
  }
  for (int v : u2_) {
    if (u3_.count(v) || NeighboursIn(params, v, u3_).empty()) continue;
    ASSIGN_OR_RETURN(SecretBytes key, Reconstruct(v, SecretKind::kMaskingKey));
    auto pair = X25519KeyPairFromPrivate(key);
    if (!pair.ok() ||
        pair->public_key != context_->advertised[v]->masking_public_key()) {
      return absl::AbortedError(
          absl::StrCat("the masking key rebuilt for '", context_->id(v),
                       "' does not match the key it advertised"));
    }
    masking_keys.emplace(v, std::move(key));
  }

  // Every mask to remove, expanded together on the shared pool (the result
  // is the same words as removing them one by one; see MaskSet).
  std::vector<X25519PrivateKey> keys;
  keys.reserve(masking_keys.size());  // MaskSet keeps pointers into it
  for (const auto& [v, raw_key] : masking_keys) {
    ASSIGN_OR_RETURN(X25519PrivateKey key, X25519PrivateKey::Create(raw_key));
    keys.push_back(std::move(key));
  }
  MaskSet masks(params);
  for (const auto& [u, seed] : seeds) masks.AddSelf(seed, u, -1);
  size_t next_key = 0;
  for (const auto& [v, raw_key] : masking_keys) {
    const X25519PrivateKey& key = keys[next_key++];
    for (int u : NeighboursIn(params, v, u3_)) {
      masks.AddPairwise(key, context_->advertised[u]->masking_public_key(),
                        /*owner_index=*/u, /*peer_index=*/v, /*direction=*/-1);
    }
  }
  absl::Span<uint32_t> sum(context_->sum);
  RETURN_IF_ERROR(masks.ApplyTo(sum));
  ReduceModulo(sum, params.modulus_mask());
  return std::make_unique<CompletedServerState>(context_);
}

}  // namespace fedlearn
