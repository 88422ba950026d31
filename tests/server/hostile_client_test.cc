// Hostile and malformed inputs from a client holding a valid certificate
// (and from some holding none), against a real coordinator on 127.0.0.1
// with three honest clients running the real client stack: each case pins
// the status the hostile client gets and that the honest clients' round
// still completes with exactly their mean (tests/server/hostile_harness.h).
// The rows of docs/security.md, "Hostile and malformed inputs".
#include <cmath>
#include <limits>

#include "tests/server/hostile_harness.h"

namespace fedlearn::hostile {
namespace {

using Code = grpc::StatusCode;

FederationOptions Outsider() { return FederationOptions{}; }
FederationOptions Insider(int rounds = 1) {
  FederationOptions o;
  o.mallory_in_cohort = true;
  o.num_rounds = rounds;
  return o;
}

grpc::Status RegisterLate(Federation& f) {
  return f.mallory().Register(f.digest());
}

// Selected mallory fetches her task, then pushes `header` (edited from a
// valid one) and `chunks` (default: kDimension values of kHonestMean).
grpc::Status PushEdited(Federation& f,
                        const std::function<void(v1::UpdateHeader&)>& edit,
                        std::vector<std::string> chunks = {}) {
  v1::TaskHeader task = FetchTask(f);
  v1::UpdateHeader header = ValidHeader(task);
  if (edit) edit(header);
  if (chunks.empty()) chunks = {FloatChunk(kDimension, kHonestMean)};
  return f.mallory().Push(header, chunks);
}

// A valid update whose value `index` is `bad`.
grpc::Status PushWithValue(Federation& f, float bad) {
  std::string bytes = FloatChunk(kDimension, kHonestMean);
  bytes.replace(4 * 17, 4, FloatChunk(1, bad));
  return PushEdited(f, {}, {bytes});
}

std::vector<HostileCase> Cases() {
  const std::string big(2 << 20, 'x');
  return {
      {"NoClientCertificate", Outsider(),
       [](Federation& f) {
         return f.ConnectWithoutCertificate()->Register(f.digest());
       },
       Code::UNAVAILABLE},
      {"CertificateFromAnotherCa", Outsider(),
       [](Federation& f) {
         return f.Connect(Pki::Get().ForeignTls(), "foreign")
             ->Register(f.digest());
       },
       Code::UNAVAILABLE},
      {"UnregisteredFetchTask", Outsider(),
       [](Federation& f) { return f.mallory().Fetch(nullptr); },
       Code::NOT_FOUND, "register first"},
      {"UnregisteredPushResult", Outsider(),
       [](Federation& f) {
         v1::TaskHeader task;
         task.mutable_ref()->set_run_id(kRunId);
         task.mutable_ref()->set_round(1);
         task.set_num_values(kDimension);
         return f.mallory().Push(ValidHeader(task),
                                 {FloatChunk(kDimension, kHonestMean)});
       },
       Code::NOT_FOUND, "register first"},
      {"UnregisteredHeartbeat", Outsider(),
       [](Federation& f) { return f.mallory().Heartbeat(); }, Code::NOT_FOUND,
       "register first"},
      {"RegisterWithWrongRunId", Outsider(),
       [](Federation& f) {
         return f.mallory().Register(f.digest(), [](v1::RegisterRequest& r) {
           r.mutable_ref()->set_run_id("another-run");
         });
       },
       Code::FAILED_PRECONDITION,
       "this client asked for run 'another-run', the coordinator runs"},
      {"RegisterWithTwoMiBRunId", Outsider(),
       [big](Federation& f) {
         return f.mallory().Register(f.digest(), [&](v1::RegisterRequest& r) {
           r.mutable_ref()->set_run_id(big);
         });
       },
       Code::FAILED_PRECONDITION, "coordinator runs"},
      {"RegisterWithWrongContractDigest", Outsider(),
       [](Federation& f) { return f.mallory().Register(std::string(64, 'a')); },
       Code::FAILED_PRECONDITION,
       "this client prepared another run contract (aaaaaaaaaaaaaaaa...[48 more "
       "bytes]), the coordinator runs"},
      {"RegisterWithEmptyContractDigest", Outsider(),
       [](Federation& f) { return f.mallory().Register(""); },
       Code::FAILED_PRECONDITION, "digest of the run contract"},
      {"ClaimedClientIdIsIgnored", Outsider(),
       [](Federation& f) {
         v1::RegisterResponse reply;
         grpc::Status s = f.mallory().Register(
             f.digest(),
             [](v1::RegisterRequest& r) { r.set_claimed_client_id("alice"); },
             &reply);
         if (s.ok() && reply.client_id() != "mallory") {
           return grpc::Status(Code::INTERNAL, "identity taken from claim: " +
                                                   reply.client_id());
         }
         return s;
       },
       Code::OK},
      {"SecondSessionOfAnHonestIdentity", Outsider(),
       [](Federation& f) {
         return f.Connect(Pki::Get().Tls("alice"), "alice-impostor")
             ->Register(f.digest());
       },
       Code::ALREADY_EXISTS, "refusing a second session"},
      {"SecondProcessWithTheSameCertificate", Outsider(),
       [](Federation& f) {
         grpc::Status first = RegisterLate(f);
         if (!first.ok()) return first;
         return f.Connect(Pki::Get().Tls("mallory"), "mallory-session-2")
             ->Register(f.digest());
       },
       Code::ALREADY_EXISTS, "refusing a second session"},
      {"LeaveNamingAnotherSession", Outsider(),
       [](Federation& f) {
         return f.Connect(Pki::Get().Tls("alice"), "alice-impostor")
             ->Leave("bye", "alice-impostor");
       },
       Code::FAILED_PRECONDITION, "another live session"},
      {"LeaveWithTwoMiBReason", Outsider(),
       [big](Federation& f) {
         grpc::Status s = RegisterLate(f);
         if (!s.ok()) return s;
         s = f.mallory().Leave(big, f.mallory().session_id());
         for (const DepartedClient& d : f.engine().departures()) {
           if (d.reason.size() > 1024) {
             return grpc::Status(Code::INTERNAL, "reason stored unbounded");
           }
         }
         return s;
       },
       Code::OK},
      {"UploadFromAClientNotSelected", Outsider(),
       [](Federation& f) {
         grpc::Status s = RegisterLate(f);
         if (!s.ok()) return s;
         v1::TaskHeader task;
         task.mutable_ref()->set_run_id(kRunId);
         task.mutable_ref()->set_round(1);
         task.set_num_values(kDimension);
         return f.mallory().Push(ValidHeader(task),
                                 {FloatChunk(kDimension, kHonestMean)});
       },
       Code::PERMISSION_DENIED, "not selected"},
      {"UploadWithoutFetchingTheTask", Insider(),
       [](Federation& f) {
         v1::TaskHeader task;
         task.mutable_ref()->set_run_id(kRunId);
         task.mutable_ref()->set_round(1);
         task.set_num_values(kDimension);
         return f.mallory().Push(ValidHeader(task),
                                 {FloatChunk(kDimension, kHonestMean)});
       },
       Code::FAILED_PRECONDITION, "fetch"},
      {"UploadNamingAnotherRun", Insider(),
       [](Federation& f) {
         return PushEdited(f, [](v1::UpdateHeader& h) {
           h.mutable_ref()->set_run_id("another-run");
         });
       },
       Code::FAILED_PRECONDITION, "names run"},
      {"UploadForAFutureRound", Insider(),
       [](Federation& f) {
         return PushEdited(
             f, [](v1::UpdateHeader& h) { h.mutable_ref()->set_round(7); });
       },
       Code::FAILED_PRECONDITION, "not accepted now"},
      {"UploadTrainedOnAStaleModelVersion", Insider(),
       [](Federation& f) {
         return PushEdited(f, [](v1::UpdateHeader& h) {
           h.mutable_ref()->set_model_version(5);
         });
       },
       Code::FAILED_PRECONDITION, "model version"},
      {"ReplayedUpdateForAClosedRound", Insider(2),
       [](Federation& f) {
         v1::TaskHeader task = FetchTask(f);
         const std::vector<std::string> chunks = {
             FloatChunk(kDimension, kHonestMean)};
         grpc::Status s = f.mallory().Push(ValidHeader(task), chunks);
         if (!s.ok()) return s;
         f.ReleaseHonest();
         if (!f.WaitForRound(2, std::chrono::seconds(5))) {
           return grpc::Status(Code::INTERNAL, "round 2 never opened");
         }
         return f.mallory().Push(ValidHeader(task), chunks);
       },
       Code::FAILED_PRECONDITION, "not accepted now"},
      {"DuplicateUpdate", Insider(),
       [](Federation& f) {
         v1::TaskHeader task = FetchTask(f);
         const std::vector<std::string> chunks = {
             FloatChunk(kDimension, kHonestMean)};
         grpc::Status s = f.mallory().Push(ValidHeader(task), chunks);
         if (!s.ok()) return s;
         return f.mallory().Push(ValidHeader(task), chunks);
       },
       Code::ALREADY_EXISTS, "already answered"},
      {"UpdateAnnouncingTheWrongLength", Insider(),
       [](Federation& f) {
         return PushEdited(
             f, [](v1::UpdateHeader& h) { h.set_num_values(kDimension - 1); },
             {FloatChunk(kDimension - 1, kHonestMean)});
       },
       Code::INVALID_ARGUMENT, "announces 63"},
      {"TruncatedUpdateStream", Insider(),
       [](Federation& f) {
         return PushEdited(f, {}, {FloatChunk(kDimension - 1, kHonestMean)});
       },
       Code::INVALID_ARGUMENT, "ended after 63"},
      {"ThreeByteChunk", Insider(),
       [](Federation& f) { return PushEdited(f, {}, {std::string(3, 'x')}); },
       Code::INVALID_ARGUMENT, ""},
      {"ChunkOverflowingTheAnnouncedLength", Insider(),
       [](Federation& f) {
         return PushEdited(f, {}, {FloatChunk(kDimension + 1, kHonestMean)});
       },
       Code::INVALID_ARGUMENT, "overflows"},
      {"FiveMiBChunk", Insider(),
       [](Federation& f) {
         return PushEdited(f, {}, {std::string(5 << 20, '\0')});
       },
       Code::RESOURCE_EXHAUSTED, ""},
      {"SecondHeaderMidStream", Insider(),
       [](Federation& f) {
         v1::TaskHeader task = FetchTask(f);
         std::vector<v1::ResultChunk> m(3);
         *m[0].mutable_header() = ValidHeader(task);
         m[1].set_update_data(FloatChunk(kDimension / 2, kHonestMean));
         *m[2].mutable_header() = ValidHeader(task);
         return f.mallory().Push(m);
       },
       Code::INVALID_ARGUMENT, "second header"},
      {"StreamStartingWithData", Insider(),
       [](Federation& f) {
         FetchTask(f);
         std::vector<v1::ResultChunk> m(1);
         m[0].set_update_data(FloatChunk(kDimension, kHonestMean));
         return f.mallory().Push(m);
       },
       Code::INVALID_ARGUMENT, "must start with an UpdateHeader"},
      {"NaNInTheUpdate", Insider(),
       [](Federation& f) { return PushWithValue(f, std::nanf("")); },
       Code::INVALID_ARGUMENT, "NaN"},
      {"InfinityInTheUpdate", Insider(),
       [](Federation& f) {
         return PushWithValue(f, std::numeric_limits<float>::infinity());
       },
       Code::INVALID_ARGUMENT, ""},
      {"HugeValuesWithoutSecureAggregation", Insider(),
       [](Federation& f) {
         return PushEdited(f, {}, {FloatChunk(kDimension, 3e38f)});
       },
       Code::INVALID_ARGUMENT, ""},
      {"ZeroExamples", Insider(),
       [](Federation& f) {
         return PushEdited(f,
                           [](v1::UpdateHeader& h) { h.set_num_examples(0); });
       },
       Code::INVALID_ARGUMENT, "num_examples"},
      {"EnormousExampleCount", Insider(),
       [](Federation& f) {
         return PushEdited(f, [](v1::UpdateHeader& h) {
           h.set_num_examples(std::numeric_limits<uint64_t>::max());
         });
       },
       Code::INVALID_ARGUMENT, "num_examples"},
      {"NegativeTrainLoss", Insider(),
       [](Federation& f) {
         return PushEdited(f,
                           [](v1::UpdateHeader& h) { h.set_train_loss(-1.0); });
       },
       Code::INVALID_ARGUMENT, "loss"},
      {"NaNTrainLoss", Insider(),
       [](Federation& f) {
         return PushEdited(
             f, [](v1::UpdateHeader& h) { h.set_train_loss(std::nan("")); });
       },
       Code::INVALID_ARGUMENT, "loss"},
      {"MaskedUpdateInAPlaintextRound", Insider(),
       [](Federation& f) {
         return PushEdited(f, [](v1::UpdateHeader& h) {
           h.set_masked(true);
           h.set_masked_value_bytes(4);
         });
       },
       Code::FAILED_PRECONDITION, "no secure aggregation"},
  };
}

class HostileClientTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileClientTest, Refused) { RunHostileCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Inputs, HostileClientTest,
                         ::testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace fedlearn::hostile
