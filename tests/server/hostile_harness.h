// A hostile-client harness: one real coordinator in process (RoundEngine,
// CoordinatorService, the gRPC server on 127.0.0.1:0 with real mutual-TLS
// certificates), three honest clients running the real client stack
// (ClientSession over GrpcCoordinatorTransport, a fake trainer with a fixed
// delta) and one hostile client, "mallory", holding her own CA-signed
// certificate and speaking raw fedlearn.v1 through a gRPC stub.
//
// What a test can rely on: honest deltas are 0.25, 0.5 and 0.75 everywhere
// with weights 100, 100 and 200, so every round moves the global model by
// exactly kHonestMean; a valid update from mallory uses kHonestMean too, so
// the aggregate is the honest clients' mean whether or not she is in it,
// and anything else she smuggles in shows. The engine's driver starts only
// after every client meant to be in the first cohort has registered, so the
// first cohort is exactly the honest three (plus mallory when
// `mallory_in_cohort`).
//
// Thread-safety: one test thread drives a Federation; its honest clients
// and the engine run on their own threads, stopped by the destructor.
#ifndef FEDLEARN_TESTS_SERVER_HOSTILE_HARNESS_H_
#define FEDLEARN_TESTS_SERVER_HOSTILE_HARNESS_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "client/secagg/client_state.h"
#include "common/tls/cert_authority.h"
#include "common/transport/tls_config.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/identity/client_authorizer.h"
#include "server/round/round_engine.h"

namespace fedlearn::hostile {

inline constexpr size_t kDimension = 64;
inline constexpr char kRunId[] = "hostile-run";
inline constexpr float kHonestMean = 0.5625f;
inline constexpr uint64_t kMalloryExamples = 100;
inline const std::vector<std::string>& HonestIds() {
  static const auto* ids =
      new std::vector<std::string>{"alice", "bob", "carol"};
  return *ids;
}

// The certificates of one test process: a federation CA with the honest
// ids, mallory and an operator, and another CA that also issued "mallory".
class Pki {
 public:
  static const Pki& Get();
  TlsConfig Tls(const std::string& id) const;
  // Mallory's certificate from another CA (trusting the real one).
  TlsConfig ForeignTls() const;
  // A certificate issued by the federation CA with `options`, written as
  // <file_name>.pem/.key.
  TlsConfig Issue(const std::string& file_name, const std::string& cn,
                  const IssueOptions& options) const;
  // What SecAggClient needs to act as `id`.
  SecAggIdentity Identity(const std::string& id) const;
  const std::string& dir() const { return dir_; }
  std::string crl_path() const { return dir_ + "/crl.pem"; }

 private:
  Pki();
  std::string dir_;
  std::string other_dir_;
};

struct FederationOptions {
  bool secure = false;
  int num_rounds = 1;
  // Mallory registers before the first round starts, so she is selected.
  bool mallory_in_cohort = false;
  // The honest clients wait (registered, before their first fetch) until
  // ReleaseHonest(), so mallory acts while the first round is open. Secure
  // cases need them running: mallory's messages follow theirs.
  bool hold_honest = true;
  // Called on the engine config and service options before anything starts.
  std::function<void(RoundEngineConfig&)> edit_config;
  std::function<void(CoordinatorService::Options&)> edit_service;
};

// Mallory's raw fedlearn.v1 calls. Each has a deadline; none throws.
class RawClient {
 public:
  RawClient(std::shared_ptr<grpc::Channel> channel, std::string session_id);

  v1::Coordinator::Stub& stub() { return *stub_; }
  grpc::Status GetContract(v1::GetContractResponse* response = nullptr);
  grpc::Status Register(
      const std::string& digest,
      const std::function<void(v1::RegisterRequest&)>& edit = {},
      v1::RegisterResponse* response = nullptr);
  // Reads the whole task stream; `header` gets the TaskHeader if any.
  grpc::Status Fetch(v1::TaskHeader* header, v1::NoTask* no_task = nullptr);
  // A header, then each chunk as update_data, then WritesDone.
  grpc::Status Push(const v1::UpdateHeader& header,
                    const std::vector<std::string>& chunks);
  grpc::Status Push(const std::vector<v1::ResultChunk>& messages);
  grpc::Status Heartbeat();
  grpc::Status Leave(const std::string& reason, const std::string& session_id);
  grpc::Status Exchange(const v1::SecAggRequest& request,
                        v1::SecAggResponse* response);
  const std::string& session_id() const { return session_id_; }

 private:
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  std::string session_id_;
};

// The plaintext update header a well-behaved client sends for `task`.
v1::UpdateHeader ValidHeader(const v1::TaskHeader& task,
                             uint64_t num_examples = kMalloryExamples);
// `n` float32 values `value`, little-endian, in one chunk.
std::string FloatChunk(size_t n, float value);

class Federation {
 public:
  explicit Federation(FederationOptions options);
  ~Federation();

  // Server, honest registrations (and mallory's, if in the cohort), then
  // the honest loops and the engine's driver.
  absl::Status Start();
  RawClient& mallory() { return *mallory_; }
  // A raw client over a channel presenting `tls` (cert may be empty: none).
  std::unique_ptr<RawClient> Connect(const TlsConfig& tls,
                                     const std::string& session_id) const;
  std::unique_ptr<RawClient> ConnectWithoutCertificate() const;
  RoundEngine& engine() { return *engine_; }
  void ReleaseHonest() { released_ = true; }
  const std::string& digest() const { return digest_; }

  // True once round `round` is collecting (or the run is past it).
  bool WaitForRound(uint64_t round, Duration timeout);
  // Waits for the run to end, then stops the honest clients.
  absl::Status WaitForRunEnd(Duration timeout);
  // The run ended OK after every round, each round's aggregate the honest
  // mean (secure rounds: within quantization error), and no honest client
  // failed.
  void ExpectHonestRoundsCompleted();

 private:
  void RunHonest(int index);

  FederationOptions options_;
  SystemClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<ClientAuthorizer> authorizer_;
  std::unique_ptr<CoordinatorService> service_;
  RunningServer server_;
  std::string digest_;
  std::unique_ptr<RawClient> mallory_;
  struct Honest;
  std::vector<std::unique_ptr<Honest>> honest_;
  std::vector<std::thread> threads_;
  std::thread driver_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> run_done_{false};
  bool ended_ = false;  // WaitForRunEnd ran
  std::atomic<bool> released_{false};
  absl::Status run_outcome_;
};

// One row of docs/security.md's table of hostile inputs: a fresh federation,
// mallory's action (run once the first round is collecting), the status she
// must get, and the honest clients' rounds must complete regardless.
struct HostileCase {
  std::string name;
  FederationOptions federation;
  std::function<grpc::Status(Federation&)> act;
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;  // a substring of her status's message ("" = any)
  // Insiders: mallory leaves after acting, so the round need not wait.
  bool leave_after = true;
};
inline void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }
// Runs `c` and checks both halves of it.
void RunHostileCase(const HostileCase& c);
std::string CaseName(const ::testing::TestParamInfo<HostileCase>& info);
// Selected mallory (in the cohort) fetches her task; gtest failure if not.
v1::TaskHeader FetchTask(Federation& federation);

// Mallory's secure-aggregation upload, step by step, with a tamper hook.
struct SecAggTamper {
  enum class Action { kSend, kDrop, kSendAndStop };
  // Sees every client message before it is sent.
  std::function<Action(v1::SecAggClientMessage&)> edit_message;
  // Sees the masked input before it is pushed; true: stop after the push.
  std::function<bool(std::vector<uint32_t>&, v1::UpdateHeader&)> edit_masked;
};
struct SecAggOutcome {
  // The status of the call that carried the last kSendAndStop message or
  // stopping masked input, else of the last call made.
  grpc::Status status;
  bool finished = false;  // the upload ran to its end
  std::vector<v1::SecAggServerMessage> received;
};
// Fetches mallory's task and runs her upload until the tamper stops it, the
// protocol ends or `timeout` passes.
SecAggOutcome RunMallorySecAgg(Federation& federation, const SecAggTamper& t,
                               Duration timeout = std::chrono::seconds(6));

}  // namespace fedlearn::hostile

#endif  // FEDLEARN_TESTS_SERVER_HOSTILE_HARNESS_H_
