// Hostile identities and hostile stream use against a real coordinator with
// three honest clients beside them (tests/server/hostile_harness.h):
// certificates the CA issued that may still not take part, floods, and
// streams held open to starve the coordinator. Rows of docs/security.md,
// "Hostile and malformed inputs".
#include <thread>

#include "tests/server/hostile_harness.h"

namespace fedlearn::hostile {
namespace {

using Code = grpc::StatusCode;

FederationOptions Outsider() { return FederationOptions{}; }
FederationOptions Insider() {
  FederationOptions o;
  o.mallory_in_cohort = true;
  return o;
}

grpc::Status RegisterAs(Federation& f, const std::string& file) {
  return f.Connect(TlsConfig::FromDirectory(Pki::Get().dir(), file), file)
      ->Register(f.digest());
}

// `n` calls of `call`; the first refusal, else OK.
grpc::Status Flood(int n, const std::function<grpc::Status()>& call) {
  for (int i = 0; i < n; ++i) {
    grpc::Status s = call();
    if (!s.ok()) return s;
  }
  return grpc::Status::OK;
}

// Opens `n` PushResult streams (`header`: sent first, else nothing) and
// leaves them open; returns each stream's final status, in order.
// Stream i goes over clients[i % clients.size()].
std::vector<grpc::Status> HoldStreams(const std::vector<RawClient*>& clients,
                                      int n, const v1::UpdateHeader* header) {
  std::vector<grpc::Status> statuses(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(6));
      v1::PushResultResponse response;
      RawClient& client = *clients[i % clients.size()];
      auto writer = client.stub().PushResult(&context, &response);
      if (header != nullptr) {
        v1::ResultChunk first;
        *first.mutable_header() = *header;
        writer->Write(first);
        v1::ResultChunk half;
        half.set_update_data(FloatChunk(kDimension / 2, kHonestMean));
        writer->Write(half);
      }
      // Never WritesDone: the stream stays open until the server ends it.
      statuses[i] = writer->Finish();
    });
    if (header != nullptr) {
      // In order, so the first streams are the ones admitted.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  for (std::thread& t : threads) t.join();
  return statuses;
}

std::vector<HostileCase> Cases() {
  return {
      {"TwoCommonNames", Outsider(),
       [](Federation& f) { return RegisterAs(f, "two-cn"); },
       Code::UNAUTHENTICATED, "common name"},
      {"RevokedCertificate", Outsider(),
       [](Federation& f) { return RegisterAs(f, "rex"); },
       Code::PERMISSION_DENIED, "is revoked"},
      {"UnenrolledCertificate", Outsider(),
       [](Federation& f) { return RegisterAs(f, "eve"); },
       Code::PERMISSION_DENIED, "is not enrolled"},
      {"OperatorCertificateUsedAsAClient", Outsider(),
       [](Federation& f) { return RegisterAs(f, "ops"); },
       Code::PERMISSION_DENIED, "has role 'operator'"},
      {"CoordinatorCertificateUsedAsAClient", Outsider(),
       [](Federation& f) { return RegisterAs(f, "coord"); },
       Code::PERMISSION_DENIED, "has role 'coordinator'"},
      {"HeartbeatFlood", Outsider(),
       [](Federation& f) {
         grpc::Status s = f.mallory().Register(f.digest());
         if (!s.ok()) return s;
         return Flood(400, [&] { return f.mallory().Heartbeat(); });
       },
       Code::RESOURCE_EXHAUSTED, "rate limit"},
      {"GetContractFlood", Outsider(),
       [](Federation& f) {
         return Flood(400, [&] { return f.mallory().GetContract(); });
       },
       Code::RESOURCE_EXHAUSTED, "rate limit"},
      {"StreamThatNeverSendsAHeader", Outsider(),
       [](Federation& f) { return HoldStreams({&f.mallory()}, 1, nullptr)[0]; },
       Code::DEADLINE_EXCEEDED, "stream_idle_timeout"},
      {"FourStalledUploads", Insider(),
       [](Federation& f) {
         const v1::UpdateHeader header = ValidHeader(FetchTask(f));
         std::vector<grpc::Status> s = HoldStreams({&f.mallory()}, 4, &header);
         // The first two (the per-identity cap) end idle; the others are
         // refused at once.
         for (int i : {0, 1}) {
           if (s[i].error_code() != Code::DEADLINE_EXCEEDED) {
             return grpc::Status(Code::INTERNAL,
                                 "stalled upload " + std::to_string(i) +
                                     " ended with " + s[i].error_message());
           }
         }
         return s[3];
       },
       Code::RESOURCE_EXHAUSTED, "uploads open"},
      {"TwoHundredSilentStreams", Outsider(),
       [](Federation& f) {
         grpc::Status s = f.mallory().Register(f.digest());
         if (!s.ok()) return s;
         // Over 13 connections: one carries at most 16 streams at once.
         std::vector<std::unique_ptr<RawClient>> links;
         std::vector<RawClient*> raw;
         for (int i = 0; i < 13; ++i) {
           links.push_back(
               f.Connect(Pki::Get().Tls("mallory"), f.mallory().session_id()));
           raw.push_back(links.back().get());
         }
         std::vector<grpc::Status> all = HoldStreams(raw, 200, nullptr);
         for (const grpc::Status& one : all) {
           if (one.error_code() != Code::DEADLINE_EXCEEDED ||
               one.error_message().find("stream_idle_timeout") ==
                   std::string::npos) {
             return one;
           }
         }
         return all[0];
       },
       Code::DEADLINE_EXCEEDED, "stream_idle_timeout"},
  };
}

class HostileIdentityTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileIdentityTest, Refused) { RunHostileCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Inputs, HostileIdentityTest,
                         ::testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace fedlearn::hostile
