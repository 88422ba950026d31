// Coordinator ingest over mutual TLS: bytes per second from N concurrent
// client uploads into the running FedAvg sum, against AES-256-GCM on one
// core (`openssl speed`) measured in the same run.
//
// The coordinator is the real one, in this process: RoundEngine,
// ClientAuthorizer, CoordinatorService and StartGrpcServer on 127.0.0.1:0
// with certificates from ProvisionDirectory. The clients run in a child
// process (this binary re-executed with --client), so their TLS and
// encoding never land in the coordinator's CPU accounting: the
// coordinator's CPU is getrusage(RUSAGE_SELF) over the measured window.
//
// One measurement: N uploaders plus one holdout register (the holdout keeps
// the round open, so the round's close is not measured), the uploaders
// fetch their task, report "ready"; the parent answers "go" and starts the
// clock; each uploader pushes its whole update (header + 1 MiB chunks, as
// GrpcCoordinatorTransport::PushResult does) and the child reports "done"
// once every push was accepted, i.e. decoded, validated and folded into the
// running sum. Before that, `--warmup W` (default 1) waves of N other
// uploaders push into the same round, so the measured uploads meet the
// coordinator as it runs round after round (pooled upload buffers, warm
// allocator), not its first upload; --warmup 0 measures that first one.
// Prints Markdown; see bench/README.md.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/tls/provision_directory.h"
#include "common/transport/grpc_credentials.h"
#include "common/util/atomic_file.h"
#include "common/util/clock.h"
#include "common/util/log.h"
#include "common/wire/proto_conversion.h"
#include "grpcpp/grpcpp.h"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/identity/client_authorizer.h"
#include "server/ingest_heap.h"
#include "server/round/round_engine.h"

extern char** environ;

namespace fedlearn {
namespace {

constexpr char kRunId[] = "ingest-bench";
constexpr uint64_t kExamples = 100;

std::string ClientId(int i) { return absl::StrCat("site-", i); }

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// ---------------------------------------------------------------- client

std::unique_ptr<v1::Coordinator::Stub> Connect(const std::string& dir,
                                               const std::string& id,
                                               int port) {
  absl::StatusOr<TlsMaterial> material =
      LoadTlsMaterial(TlsConfig::FromDirectory(dir, id));
  if (!material.ok()) {
    std::fprintf(stderr, "client %s: %s\n", id.c_str(),
                 material.status().ToString().c_str());
    std::exit(2);
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt("fedlearn.bench.channel", std::hash<std::string>()(id) & 0xffff);
  args.SetMaxReceiveMessageSize(64 << 20);
  return v1::Coordinator::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                MutualTlsChannelCredentials(*material), args));
}

bool Register(v1::Coordinator::Stub& stub, const std::string& id) {
  grpc::ClientContext c1;
  v1::GetContractResponse contract;
  if (!stub.GetContract(&c1, {}, &contract).ok()) return false;
  v1::RegisterRequest request;
  request.mutable_ref()->set_run_id(kRunId);
  request.set_num_examples(kExamples);
  request.set_contract_digest(contract.contract_digest());
  request.set_session_id(id + "-session");
  grpc::ClientContext c2;
  v1::RegisterResponse response;
  grpc::Status s = stub.Register(&c2, request, &response);
  if (!s.ok())
    std::fprintf(stderr, "%s: %s\n", id.c_str(), s.error_message().c_str());
  return s.ok();
}

// Fetches until a task arrives (the round starts once everyone registered).
bool FetchTask(v1::Coordinator::Stub& stub, v1::TaskHeader* header) {
  for (int attempt = 0; attempt < 600; ++attempt) {
    v1::FetchTaskRequest request;
    request.mutable_ref()->set_run_id(kRunId);
    grpc::ClientContext context;
    auto reader = stub.FetchTask(&context, request);
    v1::TaskChunk chunk;
    bool got = false;
    while (reader->Read(&chunk)) {
      if (chunk.has_header()) {
        *header = chunk.header();
        got = true;
      }
    }
    if (reader->Finish().ok() && got) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

grpc::Status Push(v1::Coordinator::Stub& stub, const v1::TaskHeader& task,
                  size_t values, const std::vector<v1::ResultChunk>& data) {
  v1::ResultChunk first;
  v1::UpdateHeader* header = first.mutable_header();
  *header->mutable_ref() = task.ref();
  header->set_num_examples(kExamples);
  header->set_num_values(values);
  header->set_train_loss(0.5);
  grpc::ClientContext context;
  v1::PushResultResponse response;
  auto writer = stub.PushResult(&context, &response);
  bool open = writer->Write(first);
  for (size_t i = 0; open && i < data.size(); ++i)
    open = writer->Write(data[i]);
  if (open) writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (s.ok() && !response.accepted()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, response.message());
  }
  return s;
}

// Pushes concurrently from stubs[first, first + n).
int PushAll(std::vector<std::unique_ptr<v1::Coordinator::Stub>>& stubs,
            int first, int n, size_t values,
            const std::vector<v1::ResultChunk>& data) {
  std::vector<v1::TaskHeader> tasks(n);
  for (int i = 0; i < n; ++i) {
    if (!FetchTask(*stubs[first + i], &tasks[i])) return -1;
  }
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      grpc::Status s = Push(*stubs[first + i], tasks[i], values, data);
      if (!s.ok()) {
        std::fprintf(stderr, "push %d: %s\n", first + i,
                     s.error_message().c_str());
        ++failed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return failed.load();
}

// The child: N uploaders, a holdout and `warm` x N warm-up uploaders, which
// push before "ready"; the protocol is one line each way.
int RunClients(int port, const std::string& dir, int n, size_t values,
               int warm) {
  std::vector<v1::ResultChunk> data;  // shared, encoded once
  std::vector<float> delta(kChunkValues);
  for (size_t offset = 0; offset < values; offset += kChunkValues) {
    const size_t len = std::min(kChunkValues, values - offset);
    for (size_t i = 0; i < len; ++i) {
      delta[i] = 1e-4f * static_cast<float>(((offset + i) % 1000)) - 0.05f;
    }
    data.emplace_back().set_update_data(
        std::string(reinterpret_cast<const char*>(delta.data()), 4 * len));
  }
  std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs;
  for (int i = 0; i <= n * (1 + warm); ++i) {
    stubs.push_back(Connect(dir, ClientId(i), port));
    if (!Register(*stubs.back(), ClientId(i))) return 3;
  }
  for (int w = 0; w < warm; ++w) {
    if (PushAll(stubs, n + 1 + w * n, n, values, data) != 0) return 4;
  }
  std::vector<v1::TaskHeader> tasks(n);
  for (int i = 0; i < n; ++i) {
    if (!FetchTask(*stubs[i], &tasks[i])) return 4;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  char line[16];
  if (std::fgets(line, sizeof line, stdin) == nullptr) return 5;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      grpc::Status s = Push(*stubs[i], tasks[i], values, data);
      if (!s.ok()) {
        std::fprintf(stderr, "push %d: %s\n", i, s.error_message().c_str());
        ++failed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::printf("done %d\n", failed.load());
  std::fflush(stdout);
  return failed == 0 ? 0 : 6;
}

// ---------------------------------------------------------------- server

struct Sample {
  double wall_s = 0;
  double cpu_s = 0;
  long faults = 0;  // minor page faults
  bool ok = false;
};

FlatModel Model(size_t values) {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back(
      {"w", {static_cast<int64_t>(values)}, DType::kFloat32});
  model.values = FlatVector(values);
  return model;
}

// `perf record --control fifo:CTL,ACK -D -1` samples the window only when
// the bench is given --perf-ctl CTL (and --perf-ack ACK): it writes
// "enable" / "disable" to CTL around the window and waits for perf's "ack".
struct PerfControl {
  std::string ctl;
  std::string ack;
  void Send(const char* command) const {
    if (ctl.empty()) return;
    FILE* c = std::fopen(ctl.c_str(), "w");
    if (c == nullptr) return;
    std::fputs(command, c);
    std::fclose(c);
    if (ack.empty()) return;
    FILE* a = std::fopen(ack.c_str(), "r");
    if (a == nullptr) return;
    char reply[8];
    (void)std::fgets(reply, sizeof reply, a);
    std::fclose(a);
  }
};

Sample MeasureOnce(const std::string& self, const std::string& dir, int n,
                   size_t values, int warm, const PerfControl& perf) {
  Sample out;
  SystemClock clock;
  RoundEngineConfig config;
  config.run_id = kRunId;
  config.num_rounds = 1;
  config.min_clients = n * (1 + warm) + 1;  // the holdout keeps it open
  config.fraction = 1.0;
  config.min_updates = n * (1 + warm);
  config.round_timeout = std::chrono::minutes(5);
  config.client_liveness = std::chrono::hours(1);
  config.poll_interval_ms = 20;
  config.max_examples_per_update = 100'000;
  config.secagg.enabled = false;  // plaintext FedAvg
  auto engine = RoundEngine::Create(config, Model(values), 1, &clock, nullptr);
  ClientAuthorizer::Options identity;
  identity.run_id = kRunId;
  for (int i = 0; i <= n * (1 + warm); ++i) {
    identity.identity.enrolled_clients.push_back(ClientId(i));
  }
  identity.ca_pem = *ReadFileToString(dir + "/ca.pem");
  auto authorizer = ClientAuthorizer::Create(identity);
  if (!engine.ok() || !authorizer.ok()) {
    std::fprintf(stderr, "setup failed: %s %s\n",
                 engine.status().ToString().c_str(),
                 authorizer.status().ToString().c_str());
    return out;
  }
  CoordinatorService::Options options;
  options.authorizer = authorizer->get();
  CoordinatorService service(engine->get(), options);
  absl::StatusOr<RunningServer> server =
      StartGrpcServer("127.0.0.1:0", TlsConfig::FromDirectory(dir, "server"),
                      &service, options.limits);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return out;
  }
  std::atomic<bool> stop{false};
  std::thread driver([&] {
    (void)(*engine)->RunUntilDone(stop, std::chrono::milliseconds(20));
  });

  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) std::abort();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
  const std::string port = std::to_string(server->port);
  const std::string clients = std::to_string(n);
  const std::string count = std::to_string(values);
  const std::string warmups = std::to_string(warm);
  std::vector<char*> argv = {
      const_cast<char*>(self.c_str()),    const_cast<char*>("--client"),
      const_cast<char*>(port.c_str()),    const_cast<char*>(dir.c_str()),
      const_cast<char*>(clients.c_str()), const_cast<char*>(count.c_str()),
      const_cast<char*>(warmups.c_str()), nullptr};
  pid_t child = 0;
  if (posix_spawn(&child, self.c_str(), &actions, nullptr, argv.data(),
                  environ) != 0) {
    std::abort();
  }
  close(to_child[0]);
  close(from_child[1]);
  FILE* in = fdopen(from_child[0], "r");
  FILE* go = fdopen(to_child[1], "w");
  char line[64] = {0};
  if (std::fgets(line, sizeof line, in) != nullptr &&
      std::strncmp(line, "ready", 5) == 0) {
    perf.Send("enable\n");
    const double cpu0 = CpuSeconds();
    const long faults0 = MinorFaults();
    const auto t0 = std::chrono::steady_clock::now();
    std::fputs("go\n", go);
    std::fflush(go);
    if (std::fgets(line, sizeof line, in) != nullptr) {
      const auto t1 = std::chrono::steady_clock::now();
      out.cpu_s = CpuSeconds() - cpu0;
      out.faults = MinorFaults() - faults0;
      out.wall_s = std::chrono::duration<double>(t1 - t0).count();
      perf.Send("disable\n");
      out.ok = std::strncmp(line, "done 0", 6) == 0;
    }
  }
  std::fclose(go);
  std::fclose(in);
  int status = 0;
  waitpid(child, &status, 0);
  posix_spawn_file_actions_destroy(&actions);
  stop = true;
  driver.join();
  server->server->Shutdown(std::chrono::system_clock::now());
  return out;
}

// AES-256-GCM bytes/s on one core for 16 KiB blocks, from `openssl speed`.
double OpensslAesGcm() {
  FILE* p = popen(
      "openssl speed -evp aes-256-gcm -seconds 2 -bytes 16384 2>/dev/null",
      "r");
  if (p == nullptr) return 0;
  char line[512];
  double k = 0;
  while (std::fgets(line, sizeof line, p) != nullptr) {
    if (std::strncmp(line, "AES-256-GCM", 11) == 0) {
      std::sscanf(line + 11, "%lfk", &k);
    }
  }
  pclose(p);
  return k * 1000.0;  // openssl prints 1000s of bytes per second
}

int Main(int argc, char** argv) {
  if (argc >= 7 && std::string(argv[1]) == "--client") {
    return RunClients(std::atoi(argv[2]), argv[3], std::atoi(argv[4]),
                      std::strtoull(argv[5], nullptr, 10), std::atoi(argv[6]));
  }
  size_t values = 25'000'000;
  int reps = 3;
  int warm = 1;
  std::vector<int> counts = {1, 2, 4};
  PerfControl perf;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--values") values = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--reps") reps = std::atoi(argv[i + 1]);
    if (flag == "--warmup") warm = std::atoi(argv[i + 1]);
    if (flag == "--clients") counts = {std::atoi(argv[i + 1])};
    if (flag == "--perf-ctl") perf.ctl = argv[i + 1];
    if (flag == "--perf-ack") perf.ack = argv[i + 1];
  }
  spdlog::set_level(spdlog::level::warn);
  // As fedlearn-coordinator's main() does (apps/coordinator_main.cc): no
  // lock-order graph for absl::Mutex, freed heap kept for gRPC's reads.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  RetainFreedHeapForIngest();
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  const std::string dir =
      absl::StrCat(std::filesystem::temp_directory_path().string(),
                   "/ingest_bench_", getpid());
  ProvisionOptions pki;
  pki.out_dir = dir;
  for (int i = 0; i <= counts.back() * (1 + warm); ++i)
    pki.client_ids.push_back(ClientId(i));
  if (auto s = ProvisionDirectory(pki); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    return 1;
  }
  const double aes_before = OpensslAesGcm();
  const double bytes_per_update = 4.0 * static_cast<double>(values);
  std::printf(
      "# ingest_bench (%s build, %u cores, %zu float32 = %.0f MB "
      "per update, best of %d, %d warm-up upload(s) per uploader)\n\n",
      FEDLEARN_BENCH_BUILD_TYPE, std::thread::hardware_concurrency(), values,
      bytes_per_update / 1e6, reps, warm);
  std::printf(
      "| N | wall s | coordinator CPU s | cores used | GB/s | "
      "GB/s per core | ratio to AES-GCM per core | minor faults |\n"
      "|---|---|---|---|---|---|---|---|\n");
  std::vector<std::pair<int, Sample>> rows;
  for (int n : counts) {
    Sample best;
    for (int r = 0; r < reps; ++r) {
      Sample s = MeasureOnce(self, dir, n, values, warm, perf);
      if (!s.ok) {
        std::fprintf(stderr, "N=%d rep %d failed\n", n, r);
        continue;
      }
      if (!best.ok || s.cpu_s < best.cpu_s) best = s;
    }
    if (best.ok) rows.emplace_back(n, best);
  }
  const double aes_after = OpensslAesGcm();
  const double aes = std::max(aes_before, aes_after);
  for (const auto& [n, best] : rows) {
    const double bytes = bytes_per_update * n;
    const double per_core = bytes / best.cpu_s;
    std::printf("| %d | %.3f | %.3f | %.2f | %.3f | %.3f | %.3f | %ld |\n", n,
                best.wall_s, best.cpu_s, best.cpu_s / best.wall_s,
                bytes / best.wall_s / 1e9, per_core / 1e9, per_core / aes,
                best.faults);
  }
  std::printf(
      "\nopenssl speed -evp aes-256-gcm -bytes 16384 (one core): "
      "%.3f GB/s before, %.3f GB/s after; the ratio uses the higher.\n",
      aes_before / 1e9, aes_after / 1e9);
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) { return fedlearn::Main(argc, argv); }
