#include "server/coordinator_service.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "server/result_upload_reactor.h"
#include "server/task_download_reactor.h"

namespace fedlearn {
namespace {

// GRPC_X509_PEM_CERT_PROPERTY_NAME: the peer's leaf certificate, PEM.
constexpr char kPeerCertificateProperty[] = "x509_pem_cert";

// Options::authorizer's stand-in: certificate checks and roles, anyone
// enrolled (the handshake checked the chain).
ClientAuthorizer& TlsOnlyAuthorizer() {
  static ClientAuthorizer* const authorizer = [] {
    ClientAuthorizer::Options options;
    options.identity.allow_any_enrolled_by_ca = true;
    return ClientAuthorizer::Create(std::move(options))->release();
  }();
  return *authorizer;
}

bool IsValidClientId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

CoordinatorService::CoordinatorService(RoundEngine* engine, Options options)
    : engine_(engine),
      options_(options),
      own_clock_(options.clock == nullptr ? std::make_unique<SystemClock>()
                                          : nullptr),
      clock_(options.clock != nullptr ? options.clock : own_clock_.get()),
      rate_limiter_(clock_, options.limits.rpc_rate_per_second,
                    options.limits.rpc_burst,
                    options.limits.max_tracked_identities),
      admission_(options.limits),
      watchdog_(clock_),
      fetch_waits_(clock_, std::max(options.limits.max_waiting_fetches, 0)),
      secagg_waits_(clock_,
                    std::max(options.limits.max_waiting_secagg_exchanges, 0)) {
  streams_.engine = engine_;
  streams_.waits = &fetch_waits_;
  streams_.secagg_waits = &secagg_waits_;
  engine_->AddListener(&wait_notifier_);
  engine_->AddListener(&secagg_notifier_);
  streams_.admission = &admission_;
  streams_.watchdog = &watchdog_;
  streams_.limits = options_.limits;
  streams_.upload_buffers = UpdateBufferPool::Create(
      static_cast<size_t>(std::max(options_.limits.max_concurrent_uploads, 0)));
  streams_.metrics = options_.metrics;
  streams_.admit = [this](grpc::ServerContextBase* context,
                          const std::string& claimed) {
    return AdmitRpc(context, claimed);
  };
  if (options_.run_watchdog) {
    watchdog_.Start(options_.limits.watchdog_period);
    fetch_waits_.Start();
    secagg_waits_.Start();
  }
}

CoordinatorService::~CoordinatorService() {
  engine_->RemoveListener(&secagg_notifier_);
  engine_->RemoveListener(&wait_notifier_);
}

absl::StatusOr<std::string> CoordinatorService::AdmitRpc(
    grpc::ServerContextBase* context, const std::string& claimed) {
  ASSIGN_OR_RETURN(std::string id, ClientIdentity(context, claimed));
  RETURN_IF_ERROR(rate_limiter_.Allow(id));
  return id;
}

grpc::ServerWriteReactor<v1::TaskChunk>* CoordinatorService::FetchTask(
    grpc::CallbackServerContext* context, const v1::FetchTaskRequest* request) {
  return new TaskDownloadReactor(&streams_, context, request);
}

grpc::ServerReadReactor<grpc::ByteBuffer>* CoordinatorService::PushResult(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  return new ResultUploadReactor(&streams_, context, response);
}

absl::StatusOr<std::string> CoordinatorService::ClientIdentity(
    grpc::ServerContextBase* context, const std::string& claimed) const {
  if (options_.insecure) {
    if (!IsValidClientId(claimed)) {
      return absl::InvalidArgumentError(
          "insecure mode: claimed_client_id must be 1-64 chars of "
          "[A-Za-z0-9._-]");
    }
    return claimed;
  }
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("peer presented no client certificate");
  }
  // The whole certificate, not gRPC's x509_common_name: that property shows
  // one CN even when the subject carries several.
  std::vector<grpc::string_ref> pems =
      auth->FindPropertyValues(kPeerCertificateProperty);
  if (pems.size() != 1) {
    return absl::UnauthenticatedError("peer certificate is unavailable");
  }
  ClientAuthorizer* authorizer = options_.authorizer != nullptr
                                     ? options_.authorizer
                                     : &TlsOnlyAuthorizer();
  ASSIGN_OR_RETURN(AuthorizedPeer peer,
                   authorizer->AuthorizeClient(
                       std::string_view(pems[0].data(), pems[0].size())));
  return peer.client_id;
}

void CoordinatorService::RecordJoin(const std::string& client_id,
                                    uint64_t num_examples) const {
  if (options_.audit == nullptr) return;
  AuditEvent event;
  event.event = "join";
  event.client_id = client_id;
  event.details["num_examples"] = num_examples;
  if (!options_.insecure) {
    const ClientAuthorizer* authorizer = options_.authorizer != nullptr
                                             ? options_.authorizer
                                             : &TlsOnlyAuthorizer();
    event.details["serial"] = authorizer->SerialInUse(client_id);
  }
  options_.audit->Record(event);
}

v1::RoundRef CoordinatorService::CurrentRef() const {
  v1::RoundRef ref;
  ref.set_run_id(engine_->run_id());
  ref.set_round(engine_->current_round());
  ref.set_model_version(engine_->model_version());
  return ref;
}

grpc::Status CoordinatorService::Register(grpc::ServerContext* context,
                                          const v1::RegisterRequest* request,
                                          v1::RegisterResponse* response) {
  CountedRpc counted(options_.metrics, "Register", *request, *response);
  absl::StatusOr<std::string> id =
      AdmitRpc(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  if (!request->ref().run_id().empty() &&
      request->ref().run_id() != engine_->run_id()) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("this client asked for run '",
                     EscapeUntrusted(request->ref().run_id(), 64),
                     "', the coordinator runs '", engine_->run_id(), "'")));
  }
  if (request->contract_digest().empty()) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "register with the digest of the run contract (GetContract): this "
        "client did not check the run's model and data schema"));
  }
  if (absl::Status s =
          engine_->Register(*id, request->num_examples(),
                            request->contract_digest(), request->session_id());
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  RecordJoin(*id, request->num_examples());
  *response->mutable_ref() = CurrentRef();
  response->set_client_id(*id);
  response->set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetContract(
    grpc::ServerContext* context, const v1::GetContractRequest* request,
    v1::GetContractResponse* response) {
  CountedRpc counted(options_.metrics, "GetContract", *request, *response);
  absl::StatusOr<std::string> id =
      AdmitRpc(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  ContractOffer offer = engine_->GetContract();
  *response->mutable_contract() = std::move(offer.contract);
  response->set_contract_digest(offer.digest);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::Leave(grpc::ServerContext* context,
                                       const v1::LeaveRequest* request,
                                       v1::LeaveResponse* response) {
  CountedRpc counted(options_.metrics, "Leave", *request, *response);
  absl::StatusOr<std::string> id =
      AdmitRpc(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  return ToGrpcStatus(engine_->Leave(*id, request->session_id(),
                                     request->permanent(), request->reason()));
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext* context,
                                           const v1::HeartbeatRequest* request,
                                           v1::HeartbeatResponse* response) {
  CountedRpc counted(options_.metrics, "Heartbeat", *request, *response);
  absl::StatusOr<std::string> id =
      AdmitRpc(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  if (absl::Status s = engine_->Heartbeat(*id); !s.ok()) return ToGrpcStatus(s);
  *response->mutable_ref() = CurrentRef();
  const RoundEngine::Phase phase = engine_->phase();
  // Halted (its state could not be written) is not finished: see NoTask.
  const bool halted = engine_->halted();
  response->set_run_halted(halted);
  response->set_run_finished(!halted &&
                             (phase == RoundEngine::Phase::kFinished ||
                              phase == RoundEngine::Phase::kFailed));
  if (phase == RoundEngine::Phase::kFailed) {
    response->set_run_failed(!halted);
    response->set_reason(std::string(engine_->outcome().message()));
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* CoordinatorService::SecAggExchange(
    grpc::CallbackServerContext* context, const v1::SecAggRequest* request,
    v1::SecAggResponse* response) {
  return new SecAggExchangeReactor(&streams_, context, request, response);
}

}  // namespace fedlearn
