#include "server/status/admin_service.h"

#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

constexpr char kPeerCertificateProperty[] = "x509_pem_cert";

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

v1::RunState ToProto(RunState state) {
  switch (state) {
    case RunState::kWaitingForClients:
      return v1::RUN_STATE_WAITING_FOR_CLIENTS;
    case RunState::kRunning:
      return v1::RUN_STATE_RUNNING;
    case RunState::kFinished:
      return v1::RUN_STATE_FINISHED;
    case RunState::kFailed:
      return v1::RUN_STATE_FAILED;
  }
  return v1::RUN_STATE_UNSPECIFIED;
}

void ToProto(const CompletedRoundStatus& done, v1::CompletedRound* out) {
  out->set_round(done.round);
  out->set_attempt(done.attempt);
  out->set_selected(done.selected);
  out->set_participants(done.participants);
  out->set_dropped(done.dropped);
  out->set_rejected(done.rejected);
  out->set_has_test_metrics(done.test_accuracy.has_value());
  out->set_test_accuracy(done.test_accuracy.value_or(0));
  out->set_test_loss(done.test_loss.value_or(0));
  out->set_seconds(done.seconds);
  out->set_secure(done.secure);
  out->set_epsilon(done.epsilon.value_or(0));
}

}  // namespace

v1::GetStatusResponse ToProto(const RunStatus& s) {
  v1::GetStatusResponse out;
  out.set_run_id(s.run_id);
  out.set_coordinator_version(s.coordinator_version);
  out.set_state(ToProto(s.state));
  out.set_round(s.round);
  out.set_attempt(s.attempt);
  out.set_phase(s.phase);
  out.set_clients_registered(static_cast<uint32_t>(s.clients_registered));
  out.set_clients_live(static_cast<uint32_t>(s.clients_live));
  out.set_clients_selected(static_cast<uint32_t>(s.clients_selected));
  out.set_rounds_configured(static_cast<uint32_t>(s.rounds_configured));
  out.set_rounds_completed(s.rounds_completed);
  out.set_dp(s.dp);
  out.set_epsilon_spent(s.epsilon_spent);
  out.set_epsilon_budget(s.epsilon_budget);
  out.set_delta(s.delta);
  if (s.last_round.has_value()) {
    ToProto(*s.last_round, out.mutable_last_round());
  }
  out.set_uptime_seconds(s.uptime_seconds);
  out.set_finished_reason(s.finished_reason);
  out.set_failure(s.failure);
  return out;
}

AdminService::AdminService(const RunStatusTracker* tracker,
                           const RoundEngine* engine, Options options)
    : tracker_(tracker),
      engine_(engine),
      options_(std::move(options)),
      rate_limiter_(options_.clock != nullptr ? options_.clock : &system_clock_,
                    options_.limits.rpc_rate_per_second,
                    options_.limits.rpc_burst,
                    options_.limits.max_tracked_identities) {}

absl::StatusOr<std::string> AdminService::AuthorizeCaller(
    grpc::ServerContext* context) {
  if (options_.insecure) {
    if (!warned_insecure_.exchange(true)) {
      spdlog::warn(
          "INSECURE MODE: serving the run's status to an unauthenticated "
          "caller ({}); with mutual TLS only operator certificates may",
          context->peer());
    }
    return absl::StrCat("insecure:", context->peer());
  }
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError(
        "admin RPCs need an operator certificate; the peer presented none");
  }
  std::vector<grpc::string_ref> pems =
      auth->FindPropertyValues(kPeerCertificateProperty);
  if (pems.size() != 1) {
    return absl::UnauthenticatedError("peer certificate is unavailable");
  }
  if (options_.authorizer == nullptr) {
    return absl::PermissionDeniedError(
        "this coordinator has no operator authorizer; admin RPCs are off");
  }
  ASSIGN_OR_RETURN(AuthorizedPeer peer,
                   options_.authorizer->AuthorizeOperator(
                       std::string_view(pems[0].data(), pems[0].size())));
  return peer.client_id;
}

grpc::Status AdminService::GetStatus(grpc::ServerContext* context,
                                     const v1::GetStatusRequest* request,
                                     v1::GetStatusResponse* response) {
  absl::StatusOr<std::string> caller = AuthorizeCaller(context);
  if (!caller.ok()) {
    return ToGrpcStatus(
        absl::Status(caller.status().code(),
                     absl::StrCat("GetStatus: ", caller.status().message())));
  }
  if (absl::Status allowed = rate_limiter_.Allow(*caller); !allowed.ok()) {
    return ToGrpcStatus(allowed);
  }
  RunStatus status = tracker_->Snapshot();
  if (engine_ != nullptr) ApplyEngineView(engine_->status_view(), &status);
  *response = ToProto(status);
  return grpc::Status::OK;
}

}  // namespace fedlearn
