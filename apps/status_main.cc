// fedlearn-status: asks a running coordinator what it is doing (the Admin
// RPC, proto/fedlearn/v1/admin.proto) over the same mutual TLS the sites
// use, with an operator certificate (`fedlearn-certs add-operator`).
//
//   fedlearn-status --coordinator coord.example.org:7443 \
//       --certs kits/operator-alice --id alice
//   fedlearn-status --coordinator 127.0.0.1:7443 --ca ca.pem \
//       --cert alice.pem --key alice.key --json
//   fedlearn-status ... --watch 5        (refresh until the run ends)
//
// Prints the run id, state, round and attempt, phase, clients registered /
// live / selected, epsilon spent against the budget, and the last round's
// aggregates; --json prints the same as one JSON object per query.
//
// Exit status: 0 the status was read, 1 it was not (unreachable, TLS
// failure, refused certificate: the message says which), 2 usage.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/coordinator_dial.h"
#include "common/transport/grpc_credentials.h"
#include "common/transport/tls_config.h"
#include "common/util/status_macros.h"
#include "common/util/version.h"
#include "grpcpp/create_channel.h"
#include "nlohmann/json.hpp"
#include "proto/fedlearn/v1/admin.grpc.pb.h"

namespace fedlearn {
namespace {

struct StatusArgs {
  std::string coordinator;
  std::string certs_dir, id, ca, cert, key;
  std::string server_name;
  bool insecure = false;
  bool json = false;
  double watch_seconds = 0;
  double timeout_seconds = 10;
};

// A channel to the coordinator's Admin service.
struct AdminLink {
  std::unique_ptr<v1::Admin::Stub> stub;
  std::string target;
  std::string dialled_name;
  absl::Status own_chain;
};

absl::StatusOr<AdminLink> Dial(const StatusArgs& args) {
  AdminLink link;
  ASSIGN_OR_RETURN(link.target, ParseCoordinatorTarget(args.coordinator));
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments channel_args;
  if (args.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    TlsConfig tls;
    if (!args.certs_dir.empty()) {
      tls = TlsConfig::FromDirectory(args.certs_dir, args.id);
    }
    if (!args.ca.empty()) tls.ca_cert_path = args.ca;
    if (!args.cert.empty()) tls.cert_path = args.cert;
    if (!args.key.empty()) tls.key_path = args.key;
    ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(tls));
    link.own_chain = VerifyOwnCertificateChain(tls, material);
    credentials = MutualTlsChannelCredentials(material);
    if (!args.server_name.empty()) {
      channel_args.SetSslTargetNameOverride(args.server_name);
    }
  }
  link.dialled_name =
      args.server_name.empty() ? HostOfTarget(link.target) : args.server_name;
  link.stub = v1::Admin::NewStub(
      grpc::CreateCustomChannel(link.target, credentials, channel_args));
  return link;
}

// The coordinator's text for a terminal: control bytes (which could move
// the cursor or forge lines) become '?', and it is cut at `max_chars`.
// Quotes stay as they are, unlike EscapeUntrusted's C escapes.
std::string Printable(std::string_view text, size_t max_chars = 200) {
  std::string out(text.substr(0, max_chars));
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  if (text.size() > max_chars) absl::StrAppend(&out, "...");
  return out;
}

// Why the query failed, in terms an operator can act on.
absl::Status Explain(const grpc::Status& status, const AdminLink& link) {
  const std::string said = Printable(status.error_message(), 400);
  if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    if (absl::StrContains(said, "need an 'operator' certificate")) {
      return absl::PermissionDeniedError(absl::StrCat(
          "this certificate is not an operator certificate: issue one with "
          "`fedlearn-certs add-operator --ca-dir CA_DIR --project PROJECT "
          "--name NAME` and pass its kit with --certs DIR --id NAME (the "
          "coordinator said: ",
          said, ")"));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("the coordinator refused this certificate: ", said));
  }
  absl::Status described = DescribeRpcFailure(
      status, "status query", link.dialled_name, link.own_chain);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::UnavailableError(
        absl::StrCat("cannot get the status of the coordinator at ",
                     link.target, ": ", described.message()));
  }
  return described;
}

const char* StateName(v1::RunState state) {
  switch (state) {
    case v1::RUN_STATE_WAITING_FOR_CLIENTS:
      return "waiting_for_clients";
    case v1::RUN_STATE_RUNNING:
      return "running";
    case v1::RUN_STATE_FINISHED:
      return "finished";
    case v1::RUN_STATE_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

nlohmann::json ToJson(const v1::GetStatusResponse& s) {
  nlohmann::json j = {
      {"run_id", s.run_id()},
      {"coordinator_version", s.coordinator_version()},
      {"state", StateName(s.state())},
      {"round", s.round()},
      {"attempt", s.attempt()},
      {"phase", s.phase()},
      {"clients",
       {{"registered", s.clients_registered()},
        {"live", s.clients_live()},
        {"selected", s.clients_selected()}}},
      {"rounds_configured", s.rounds_configured()},
      {"rounds_completed", s.rounds_completed()},
      {"uptime_seconds", s.uptime_seconds()},
      {"finished_reason", s.finished_reason()},
      {"failure", s.failure()},
  };
  if (s.dp()) {
    j["dp"] = {{"epsilon_spent", s.epsilon_spent()},
               {"epsilon_budget", s.epsilon_budget()},
               {"delta", s.delta()}};
  } else {
    j["dp"] = nullptr;
  }
  if (s.has_last_round()) {
    const v1::CompletedRound& r = s.last_round();
    nlohmann::json last = {
        {"round", r.round()},       {"attempt", r.attempt()},
        {"selected", r.selected()}, {"participants", r.participants()},
        {"dropped", r.dropped()},   {"rejected", r.rejected()},
        {"seconds", r.seconds()},   {"secure", r.secure()},
        {"test_accuracy", nullptr}, {"test_loss", nullptr},
    };
    if (r.has_test_metrics()) {
      last["test_accuracy"] = r.test_accuracy();
      last["test_loss"] = r.test_loss();
    }
    if (s.dp()) last["epsilon"] = r.epsilon();
    j["last_round"] = std::move(last);
  } else {
    j["last_round"] = nullptr;
  }
  return j;
}

std::string FormatUptime(double seconds) {
  const int64_t total = static_cast<int64_t>(seconds);
  return absl::StrFormat("%dh%02dm%02ds", total / 3600, (total / 60) % 60,
                         total % 60);
}

std::string StateLine(const v1::GetStatusResponse& s) {
  const std::string of = absl::StrCat(" of ", s.rounds_configured());
  switch (s.state()) {
    case v1::RUN_STATE_WAITING_FOR_CLIENTS:
      return absl::StrCat("waiting for clients (round ", s.round(), of,
                          " next)");
    case v1::RUN_STATE_RUNNING:
      return absl::StrCat("running round ", s.round(), of, ", attempt ",
                          s.attempt(), s.phase().empty() ? "" : ", phase ",
                          Printable(s.phase()));
    case v1::RUN_STATE_FINISHED:
      return absl::StrCat("finished after ", s.rounds_completed(), of,
                          " rounds", s.finished_reason().empty() ? "" : ": ",
                          Printable(s.finished_reason()));
    case v1::RUN_STATE_FAILED:
      return absl::StrCat("failed in round ", s.round(), ": ",
                          Printable(s.failure(), 400));
    default:
      return "unknown";
  }
}

std::string LastRoundLine(const v1::CompletedRound& r) {
  std::string line = absl::StrFormat(
      "%d: %d of %d selected took part, %d dropped, %d rejected", r.round(),
      r.participants(), r.selected(), r.dropped(), r.rejected());
  if (r.has_test_metrics()) {
    absl::StrAppendFormat(&line, ", test acc %.2f%% (loss %.4f)",
                          100.0 * r.test_accuracy(), r.test_loss());
  }
  absl::StrAppendFormat(&line, ", %.2f s%s", r.seconds(),
                        r.secure() ? ", secure" : "");
  return line;
}

void PrintHuman(const v1::GetStatusResponse& s) {
  std::printf("%-12s %s  (%s, up %s)\n", "run", Printable(s.run_id()).c_str(),
              Printable(s.coordinator_version()).c_str(),
              FormatUptime(s.uptime_seconds()).c_str());
  std::printf("%-12s %s\n", "state", StateLine(s).c_str());
  std::printf("%-12s %u registered, %u live, %u selected\n", "clients",
              s.clients_registered(), s.clients_live(), s.clients_selected());
  if (s.dp()) {
    std::printf("%-12s epsilon %.4g spent of %s (delta %.0e)\n", "privacy",
                s.epsilon_spent(),
                s.epsilon_budget() > 0
                    ? absl::StrFormat("%.4g", s.epsilon_budget()).c_str()
                    : "no budget",
                s.delta());
  }
  std::printf(
      "%-12s %s\n", "last round",
      s.has_last_round() ? LastRoundLine(s.last_round()).c_str() : "none yet");
}

bool Ended(const v1::GetStatusResponse& s) {
  return s.state() == v1::RUN_STATE_FINISHED ||
         s.state() == v1::RUN_STATE_FAILED;
}

// One query; the printed status, or why there is none.
absl::StatusOr<v1::GetStatusResponse> Query(const StatusArgs& args,
                                            const AdminLink& link) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(
                           static_cast<int64_t>(args.timeout_seconds * 1000)));
  v1::GetStatusResponse response;
  grpc::Status status =
      link.stub->GetStatus(&context, v1::GetStatusRequest(), &response);
  if (!status.ok()) return Explain(status, link);
  return response;
}

int Run(const StatusArgs& args) {
  absl::StatusOr<AdminLink> link = Dial(args);
  if (!link.ok()) {
    std::cerr << "fedlearn-status: " << link.status().message() << "\n";
    return 1;
  }
  const bool clear = args.watch_seconds > 0 && !args.json && isatty(1);
  for (int answered = 0;; ++answered) {
    absl::StatusOr<v1::GetStatusResponse> status = Query(args, *link);
    if (!status.ok()) {
      // A coordinator exits --linger-s seconds after its run: a watch
      // slower than that sees it go rather than finish.
      std::cerr << "fedlearn-status: "
                << (answered > 0 && absl::IsUnavailable(status.status())
                        ? "the coordinator stopped answering (it exits "
                          "shortly after its run ends; see its log): "
                        : "")
                << status.status().message() << "\n";
      return 1;
    }
    if (clear) std::printf("\033[H\033[J");
    if (args.json) {
      std::printf("%s\n", ToJson(*status).dump().c_str());
    } else {
      PrintHuman(*status);
    }
    std::fflush(stdout);
    if (args.watch_seconds <= 0 || Ended(*status)) return 0;
    if (!clear && !args.json) std::printf("\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(
        static_cast<int64_t>(args.watch_seconds * 1000)));
  }
}

void AddOptions(CLI::App& app, StatusArgs& args) {
  app.add_option("--coordinator", args.coordinator,
                 absl::StrCat("HOST[:PORT] of the coordinator (port ",
                              kDefaultCoordinatorPort, " if omitted)"))
      ->required();
  app.add_option("--certs", args.certs_dir,
                 "Operator kit directory: ca.pem and <id>.pem/.key");
  app.add_option("--id", args.id, "Operator name: selects <id>.pem in --certs");
  app.add_option("--ca", args.ca, "CA certificate (overrides --certs)");
  app.add_option("--cert", args.cert,
                 "Operator certificate (overrides --certs)");
  app.add_option("--key", args.key, "Operator private key (overrides --certs)");
  app.add_option("--server-name", args.server_name,
                 "Name the coordinator's certificate must carry, if not the "
                 "dialled host");
  app.add_flag("--insecure", args.insecure,
               "Plaintext, for a coordinator started with --insecure");
  app.add_flag("--json", args.json, "One JSON object per query");
  app.add_option("--watch", args.watch_seconds,
                 "Query every SECONDS until the run ends")
      ->check(CLI::PositiveNumber);
  app.add_option("--timeout", args.timeout_seconds, "Seconds per query")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

// Usage errors CLI11 cannot see; "" if none.
std::string UsageProblem(const StatusArgs& args) {
  if (args.insecure) {
    if (!args.certs_dir.empty() || !args.ca.empty() || !args.cert.empty() ||
        !args.key.empty()) {
      return "--insecure takes no certificates";
    }
    return "";
  }
  if (!args.certs_dir.empty() && args.id.empty()) {
    return "--certs needs --id (the operator's name in the kit)";
  }
  const bool files =
      !args.ca.empty() && !args.cert.empty() && !args.key.empty();
  if (args.certs_dir.empty() && !files) {
    return "give --certs DIR --id NAME, or --ca, --cert and --key";
  }
  return "";
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  CLI::App app{
      "Shows what a running fedlearn coordinator is doing (needs an "
      "operator certificate). Exit 0 ok, 1 error, 2 usage."};
  app.set_version_flag("--version", fedlearn::VersionLine("status"));
  fedlearn::StatusArgs args;
  fedlearn::AddOptions(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (const std::string problem = fedlearn::UsageProblem(args);
      !problem.empty()) {
    std::cerr << "fedlearn-status: " << problem << "\n";
    return 2;
  }
  return fedlearn::Run(args);
}
