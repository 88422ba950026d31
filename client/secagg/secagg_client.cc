#include "client/secagg/secagg_client.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "client/secagg/advertise_keys_state.h"
#include "client/secagg/terminal_states.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

absl::Status CheckInput(const SecAggParameters& params,
                        const std::vector<uint32_t>& input) {
  if (input.size() != params.vector_length) {
    return absl::InvalidArgumentError(absl::StrCat("input has ", input.size(),
                                                   " values, expected ",
                                                   params.vector_length));
  }
  const uint32_t mask = params.modulus_mask();
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] > mask) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input value ", i, " is not below 2^", params.modulus_bits));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SecAggClient>> SecAggClient::Create(
    const v1::SecAggConfig& config, SecAggIdentity identity,
    std::vector<uint32_t> input, SecAggClientEnvironment environment) {
  ASSIGN_OR_RETURN(SecAggParameters params,
                   SecAggParameters::FromProto(config));
  std::optional<int> self = params.IndexOf(identity.client_id);
  if (!self) {
    return absl::InvalidArgumentError(
        absl::StrCat("client '", EscapeUntrusted(identity.client_id, 100),
                     "' is not in the cohort"));
  }
  if (identity.cert_pem.empty() || identity.ca_pem.empty() ||
      (identity.signing_key == nullptr && identity.key_pem.empty())) {
    return absl::InvalidArgumentError(
        "identity needs a certificate, its key and the CA");
  }
  RETURN_IF_ERROR(CheckInput(params, input));
  // Parse the CA and the key once; their PEM decoding costs several times the
  // checks and signatures they serve.
  auto ca = CertificateVerifier::Create(identity.ca_pem);
  if (!ca.ok()) return absl::InvalidArgumentError(ca.status().message());
  std::shared_ptr<const SigningKey> signing_key =
      std::move(identity.signing_key);
  if (signing_key == nullptr) {
    const std::string_view key_pem(
        reinterpret_cast<const char*>(identity.key_pem.data()),
        identity.key_pem.size());
    ASSIGN_OR_RETURN(SigningKey parsed, SigningKey::Create(key_pem));
    signing_key = std::make_shared<const SigningKey>(std::move(parsed));
  }
  identity.key_pem = SecretBytes();  // wipes the PEM: the parsed key suffices
  if (environment.prng == nullptr) {
    environment.prng = std::make_unique<OsSecurePrng>();
  }
  if (environment.listener == nullptr) {
    environment.listener = std::make_unique<LoggingSecAggClientListener>();
  }
  auto context = std::make_shared<ClientRoundContext>(ClientRoundContext{
      std::move(params), *self, std::move(identity), *std::move(ca),
      std::move(signing_key), std::move(environment.prng)});
  auto state = std::make_unique<AdvertiseKeysState>(context, std::move(input));
  std::unique_ptr<SecAggClient> client(new SecAggClient(
      std::move(context), std::move(state), std::move(environment.listener)));
  client->listener_->OnPhaseEntered(client->client_id(), client->phase());
  return client;
}

void SecAggClient::Enter(std::unique_ptr<SecAggClientState> next) {
  state_ = std::move(next);
  listener_->OnPhaseEntered(context_->self_id(), state_->Name());
}

absl::Status SecAggClient::Abort(absl::Status reason, bool tell_server) {
  listener_->OnAborted(context_->self_id(), state_->Name(), reason);
  if (tell_server) {
    v1::SecAggClientMessage message = context_->NewMessage();
    v1::Abort* abort = message.mutable_abort();
    // Every quoted client string in a reason is already escaped; this bounds
    // the whole.
    abort->set_reason(std::string(reason.message().substr(0, 1000)));
    for (const std::string& id : state_->BlamedSenders()) abort->add_blamed(id);
    abort_message_ = std::move(message);
  }
  abort_reason_ = reason;
  state_ = std::make_unique<AbortedClientState>(reason);
  return reason;
}

absl::StatusOr<v1::SecAggClientMessage> SecAggClient::Start() {
  if (aborted()) return state_->Start().status();
  auto transition = state_->Start();
  if (!transition.ok()) {
    // Start() twice is a caller error, not a protocol violation: no abort.
    if (absl::IsFailedPrecondition(transition.status())) {
      return transition.status();
    }
    return Abort(transition.status());
  }
  Enter(std::move(transition->next));
  return *std::move(transition->reply.message);
}

absl::StatusOr<SecAggClient::Reply> SecAggClient::Handle(
    const v1::SecAggServerMessage& message) {
  if (aborted()) {
    return absl::FailedPreconditionError(
        absl::StrCat("secure aggregation aborted: ", abort_reason_.message()));
  }
  const SecAggParameters& params = context_->params;
  if (message.session_id() != params.session_id ||
      message.round() != params.round) {
    return Abort(absl::PermissionDeniedError(absl::StrCat(
        "message for another session or round (round ", message.round(),
        ", this is round ", params.round, "): replayed or misrouted")));
  }
  if (message.has_abort()) {
    return Abort(absl::AbortedError(absl::StrCat(
                     "server aborted the round: ",
                     EscapeUntrusted(message.abort().reason(), 200))),
                 /*tell_server=*/false);
  }
  auto transition = state_->Handle(message);
  if (!transition.ok()) return Abort(transition.status());
  Enter(std::move(transition->next));
  return std::move(transition->reply);
}

}  // namespace fedlearn
