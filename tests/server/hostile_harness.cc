#include "tests/server/hostile_harness.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/client_session.h"
#include "client/grpc_coordinator_transport.h"
#include "client/secagg/secagg_client.h"
#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
#include "common/tls/provision_directory.h"
#include "common/tls/revocation_list.h"
#include "common/transport/grpc_credentials.h"
#include "common/util/atomic_file.h"
#include "common/util/status_class.h"
#include "common/util/status_macros.h"
#include "common/wire/masked_value_codec.h"
#include "gtest/gtest.h"
#include "server/identity/client_authorizer.h"

namespace fedlearn::hostile {
namespace {

constexpr Duration kRoundTimeout = std::chrono::seconds(2);

FlatModel InitialModel() {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back(
      {"w", {static_cast<int64_t>(kDimension)}, DType::kFloat32});
  model.values = FlatVector(kDimension);
  for (size_t i = 0; i < kDimension; ++i) {
    model.values[i] = static_cast<float>(i) * 0.01f;
  }
  return model;
}

class FixedDeltaTrainer : public LocalTrainer {
 public:
  FixedDeltaTrainer(float value, uint64_t examples)
      : spec_(InitialModel().spec), value_(value), examples_(examples) {}
  const ModelSpec& Spec() const override { return spec_; }
  uint64_t NumExamples() const override { return examples_; }
  absl::StatusOr<TrainingResult> Train(const FlatVector& global,
                                       const TrainingConfig&,
                                       const std::atomic<bool>&) override {
    TrainingResult r;
    r.delta = FlatVector(global.size());
    for (size_t i = 0; i < global.size(); ++i) r.delta[i] = value_;
    r.num_examples = examples_;
    r.train_loss = 0.5;
    return r;
  }

 private:
  ModelSpec spec_;
  float value_;
  uint64_t examples_;
};

RoundEngineConfig BaseConfig(const FederationOptions& options) {
  RoundEngineConfig c;
  c.run_id = kRunId;
  c.num_rounds = options.num_rounds;
  c.min_clients = 3;
  c.clients_per_round = 0;
  c.fraction = 1.0;
  c.min_updates = 3;
  c.round_timeout = kRoundTimeout;
  c.max_round_attempts = 2;
  c.client_liveness = std::chrono::hours(1);
  c.poll_interval_ms = 20;
  c.max_examples_per_update = 100'000;
  c.secagg.enabled = options.secure;
  c.secagg.modulus_bits = 32;
  c.secagg.quantization_bits = 20;
  c.secagg.clip_range = 1.0;
  c.secagg.max_weight = 10'000;
  c.secagg.phase_timeout = std::chrono::seconds(1);
  // As the coordinator does: advertisements are verified against the CA.
  c.secagg.ca_pem = ReadFileToString(Pki::Get().dir() + "/ca.pem").value_or("");
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------

Pki::Pki() {
  const std::string base =
      ::testing::TempDir() + "/hostile_" + std::to_string(getpid());
  dir_ = base + "_certs";
  other_dir_ = base + "_other_ca";
  std::filesystem::remove_all(dir_);
  std::filesystem::remove_all(other_dir_);
  ProvisionOptions options;
  options.out_dir = dir_;
  options.client_ids = {"alice", "bob", "carol", "mallory"};
  EXPECT_TRUE(ProvisionDirectory(options).ok());
  options.out_dir = other_dir_;
  options.client_ids = {"mallory"};
  EXPECT_TRUE(ProvisionDirectory(options).ok());
  // Sites the federation CA issued beside the provisioned ones: "rex"
  // (enrolled, then revoked), "eve" (never enrolled), "ops" (an operator),
  // and a two-CN subject.
  IssueOptions site;
  Issue("rex", "rex", site);
  Issue("eve", "eve", site);
  IssueOptions op;
  op.role = CertificateRole::kOperator;
  Issue("ops", "ops", op);
  IssueOptions coordinator;
  coordinator.role = CertificateRole::kCoordinator;
  Issue("coord", "coord", coordinator);
  IssueOptions two_cn;
  two_cn.extra_common_names = {"alice"};
  Issue("two-cn", "mallory", two_cn);
  PemKeyPair ca;
  ca.cert_pem = *ReadFileToString(dir_ + "/ca.pem");
  ca.key_pem = SecretBytes(*ReadFileToString(dir_ + "/ca.key"));
  absl::StatusOr<std::string> serial =
      SerialOfCertificate(*ReadFileToString(dir_ + "/rex.pem"));
  EXPECT_TRUE(serial.ok()) << serial.status();
  absl::StatusOr<std::string> crl = CreateRevocationList(
      ca,
      {RevokedCertificate{serial.value_or(""), std::time(nullptr) - 60,
                          "keyCompromise"}},
      30);
  EXPECT_TRUE(crl.ok()) << crl.status();
  EXPECT_TRUE(WriteFileAtomically(crl_path(), crl.value_or("")).ok());
  // The directories go when the test process ends.
  std::atexit([] {
    const Pki& pki = Get();
    std::filesystem::remove_all(pki.dir_);
    std::filesystem::remove_all(pki.other_dir_);
  });
}

const Pki& Pki::Get() {
  static const Pki* pki = new Pki();
  return *pki;
}

TlsConfig Pki::Tls(const std::string& id) const {
  return TlsConfig::FromDirectory(dir_, id);
}

TlsConfig Pki::ForeignTls() const {
  TlsConfig tls = TlsConfig::FromDirectory(other_dir_, "mallory");
  tls.ca_cert_path = dir_ + "/ca.pem";
  return tls;
}

TlsConfig Pki::Issue(const std::string& file_name, const std::string& cn,
                     const IssueOptions& options) const {
  PemKeyPair ca;
  ca.cert_pem = *ReadFileToString(dir_ + "/ca.pem");
  ca.key_pem = SecretBytes(*ReadFileToString(dir_ + "/ca.key"));
  absl::StatusOr<PemKeyPair> pair = IssueClientCertificate(ca, cn, options);
  EXPECT_TRUE(pair.ok()) << pair.status();
  TlsConfig tls = TlsConfig::FromDirectory(dir_, file_name);
  if (!pair.ok()) return tls;
  const std::string key(reinterpret_cast<const char*>(pair->key_pem.data()),
                        pair->key_pem.size());
  EXPECT_TRUE(WriteFileAtomically(tls.key_path, key).ok());
  EXPECT_TRUE(WriteFileAtomically(tls.cert_path, pair->cert_pem).ok());
  return tls;
}

SecAggIdentity Pki::Identity(const std::string& id) const {
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(Tls(id));
  EXPECT_TRUE(material.ok()) << material.status();
  return SecAggIdentity{id, material->cert_pem, std::move(material->key_pem),
                        material->ca_cert_pem, /*signing_key=*/nullptr};
}

// ---------------------------------------------------------------------------

struct Federation::Honest {
  Honest(std::string id, float value, uint64_t examples)
      : id(std::move(id)), trainer(value, examples) {}
  std::string id;
  FixedDeltaTrainer trainer;
  std::unique_ptr<GrpcCoordinatorTransport> transport;
  std::unique_ptr<ClientSession> session;
  std::atomic<bool> finished{false};
  absl::Status outcome;     // of kRunFinished
  absl::Status last_error;  // of the last kFailed step
  std::atomic<int> failures{0};
};

Federation::Federation(FederationOptions options)
    : options_(std::move(options)) {}

Federation::~Federation() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (driver_.joinable()) driver_.join();
  if (server_.server) {
    server_.server->Shutdown(std::chrono::system_clock::now() +
                             std::chrono::seconds(1));
  }
}

std::unique_ptr<RawClient> Federation::Connect(
    const TlsConfig& tls, const std::string& session_id) const {
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  EXPECT_TRUE(material.ok()) << material.status();
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  // Each raw client its own connection, as a separate process would have.
  static std::atomic<int> channels{0};
  args.SetInt("fedlearn.hostile.channel", ++channels);
  auto channel =
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_.port),
                                MutualTlsChannelCredentials(*material), args);
  return std::make_unique<RawClient>(channel, session_id);
}

std::unique_ptr<RawClient> Federation::ConnectWithoutCertificate() const {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *ReadFileToString(Pki::Get().dir() + "/ca.pem");
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel =
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_.port),
                                grpc::SslCredentials(ssl), args);
  return std::make_unique<RawClient>(channel, "no-certificate");
}

absl::Status Federation::Start() {
  RoundEngineConfig config = BaseConfig(options_);
  if (options_.edit_config) options_.edit_config(config);
  ASSIGN_OR_RETURN(engine_, RoundEngine::Create(config, InitialModel(), 1,
                                                &clock_, nullptr));
  ClientAuthorizer::Options identity;
  identity.run_id = kRunId;
  identity.identity.enrolled_clients = {"alice", "bob", "carol", "mallory",
                                        "rex",   "ops", "coord", "two-cn"};
  identity.identity.crl_file = Pki::Get().crl_path();
  ASSIGN_OR_RETURN(identity.ca_pem,
                   ReadFileToString(Pki::Get().dir() + "/ca.pem"));
  ASSIGN_OR_RETURN(authorizer_, ClientAuthorizer::Create(identity));
  CoordinatorService::Options service_options;
  service_options.authorizer = authorizer_.get();
  // Honest streams never pause: a short idle limit keeps the cases fast.
  service_options.limits.stream_idle_timeout = std::chrono::seconds(1);
  if (options_.edit_service) options_.edit_service(service_options);
  service_ =
      std::make_unique<CoordinatorService>(engine_.get(), service_options);
  ASSIGN_OR_RETURN(
      server_,
      StartGrpcServer("127.0.0.1:0",
                      TlsConfig::FromDirectory(Pki::Get().dir(), "server"),
                      service_.get(), service_options.limits));
  digest_ = engine_->GetContract().digest;
  mallory_ = Connect(Pki::Get().Tls("mallory"), "mallory-session-1");

  const float values[] = {0.25f, 0.5f, 0.75f};
  const uint64_t weights[] = {100, 100, 200};
  for (int i = 0; i < 3; ++i) {
    auto h = std::make_unique<Honest>(HonestIds()[i], values[i], weights[i]);
    GrpcTransportOptions transport;
    transport.target = "127.0.0.1:" + std::to_string(server_.port);
    transport.server_name_override = "localhost";
    transport.tls = Pki::Get().Tls(h->id);
    transport.rpc_timeout = std::chrono::seconds(5);
    transport.transfer_timeout = std::chrono::seconds(5);
    ASSIGN_OR_RETURN(h->transport, GrpcCoordinatorTransport::Create(transport));
    ClientSession::Options session_options;
    session_options.identity = transport.tls;
    session_options.secagg_timeout = std::chrono::seconds(8);
    h->session = std::make_unique<ClientSession>(
        h->transport.get(), &h->trainer, nullptr, session_options);
    for (auto want : {ClientSession::StepKind::kPrepared,
                      ClientSession::StepKind::kRegistered}) {
      ClientSession::StepResult r = h->session->Step(stop_);
      if (r.kind != want) {
        return absl::InternalError(
            absl::StrCat(h->id, " could not join: ", r.status.ToString()));
      }
    }
    honest_.push_back(std::move(h));
  }
  if (options_.mallory_in_cohort) {
    grpc::Status s = mallory_->Register(digest_);
    if (!s.ok()) {
      return absl::InternalError("mallory could not register: " +
                                 s.error_message());
    }
  }
  for (int i = 0; i < 3; ++i)
    threads_.emplace_back([this, i] { RunHonest(i); });
  driver_ = std::thread([this] {
    run_outcome_ = engine_->RunUntilDone(stop_, std::chrono::milliseconds(20));
    run_done_ = true;
  });
  return absl::OkStatus();
}

void Federation::RunHonest(int index) {
  Honest& h = *honest_[index];
  while (!stop_ && options_.hold_honest && !released_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (!stop_) {
    ClientSession::StepResult r = h.session->Step(stop_);
    switch (r.kind) {
      case ClientSession::StepKind::kRunFinished:
        h.outcome = r.status;
        h.finished = true;
        return;
      case ClientSession::StepKind::kFailed:
        ++h.failures;
        h.last_error = r.status;
        if (IsPermanent(r.status)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        break;
      case ClientSession::StepKind::kIdle:
        std::this_thread::sleep_for(std::chrono::milliseconds(
            std::clamp<uint32_t>(r.retry_after_ms, 5, 50)));
        break;
      default:
        break;
    }
  }
}

bool Federation::WaitForRound(uint64_t round, Duration timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    const RoundEngine::Phase phase = engine_->phase();
    if ((phase == RoundEngine::Phase::kTraining &&
         engine_->current_round() >= round) ||
        engine_->current_round() > round || run_done_) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

absl::Status Federation::WaitForRunEnd(Duration timeout) {
  if (ended_)
    return run_done_ ? run_outcome_
                     : absl::DeadlineExceededError("the run did not end");
  ended_ = true;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!run_done_ && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // The honest clients learn of the end from their next fetch.
  const auto honest_end =
      std::chrono::steady_clock::now() + std::chrono::seconds(2);
  auto all_finished = [&] {
    return std::all_of(honest_.begin(), honest_.end(),
                       [](const auto& h) { return h->finished.load(); });
  };
  while (run_done_ && !all_finished() &&
         std::chrono::steady_clock::now() < honest_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  driver_.join();
  if (!run_done_) return absl::DeadlineExceededError("the run did not end");
  return run_outcome_;
}

void Federation::ExpectHonestRoundsCompleted() {
  EXPECT_TRUE(run_outcome_.ok()) << run_outcome_;
  EXPECT_EQ(engine_->model_version(),
            static_cast<uint64_t>(options_.num_rounds));
  const FlatModel initial = InitialModel();
  std::shared_ptr<const FlatModel> global = engine_->global_model();
  ASSERT_EQ(global->values.size(), kDimension);
  const double tolerance = options_.secure ? 2e-3 : 1e-5;
  for (size_t i = 0; i < kDimension; ++i) {
    ASSERT_NEAR(global->values[i],
                initial.values[i] + options_.num_rounds * kHonestMean,
                tolerance)
        << "value " << i << ": the aggregate is not the honest clients' mean";
  }
  for (const auto& h : honest_) {
    EXPECT_TRUE(h->finished)
        << h->id << " did not see the run finish; " << h->failures
        << " failed steps, last: " << h->last_error;
    EXPECT_TRUE(h->outcome.ok()) << h->id << ": " << h->outcome;
  }
}

v1::TaskHeader FetchTask(Federation& federation) {
  v1::TaskHeader task;
  v1::NoTask no_task;
  grpc::Status s = federation.mallory().Fetch(&task, &no_task);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(task.has_ref()) << "mallory got no task: " << no_task.reason();
  return task;
}

std::string CaseName(const ::testing::TestParamInfo<HostileCase>& info) {
  return info.param.name;
}

void RunHostileCase(const HostileCase& c) {
  Federation federation(c.federation);
  absl::Status started = federation.Start();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(federation.WaitForRound(1, std::chrono::seconds(5)))
      << "round 1 never opened";
  const grpc::Status got = c.act(federation);
  federation.ReleaseHonest();
  if (c.federation.mallory_in_cohort && c.leave_after) {
    federation.mallory().Leave("done", federation.mallory().session_id());
  }
  EXPECT_EQ(got.error_code(), c.code) << "message: " << got.error_message();
  EXPECT_NE(got.error_message().find(c.message), std::string::npos)
      << "message: " << got.error_message();
  // Whatever she sent, the refusal does not echo it back at length.
  EXPECT_LE(got.error_message().size(), 1024u);
  absl::Status run = federation.WaitForRunEnd(std::chrono::seconds(
      4 * c.federation.num_rounds + (c.federation.secure ? 6 : 2)));
  EXPECT_TRUE(run.ok()) << run;
  federation.ExpectHonestRoundsCompleted();
}

}  // namespace fedlearn::hostile
