// fedlearn-certs: provisions the certificates for mutual TLS between the
// coordinator and the client daemons (see common/tls/cert_authority.h).
//
//   fedlearn-certs init --out certs --clients 3
//   fedlearn-certs issue --ca-dir certs --client-id hospital-7
//   fedlearn-certs verify --ca certs/ca.pem --cert certs/hospital-7.pem
//
// Startup kits (apps/certs/kit_commands.h), one directory per party:
//   fedlearn-certs kits --project project.toml --out fed
//   fedlearn-certs add-site --ca-dir fed/ca --project project.toml --site s
//   fedlearn-certs rotate --ca-dir fed/ca --site s
//   fedlearn-certs revoke --ca-dir fed/ca --site s --reason "laptop lost"
//
// The server certificate always carries localhost and 127.0.0.1 besides the
// --server-dns / --server-ip names (so the coordinator host can reach itself
// and the demo works), unless --no-localhost; `init` prints the SANs that
// server.pem actually carries, and warns when a kept server.pem lacks a name
// that was asked for.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "apps/certs/kit_commands.h"
#include "common/tls/cert_authority.h"
#include "common/util/version.h"

namespace fedlearn {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "fedlearn-certs: " << status.message() << "\n";
  return 1;
}

absl::StatusOr<std::string> ReadCertificateFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    out += (out.empty() ? "" : ", ") + name;
  }
  return out.empty() ? "(none)" : out;
}

// `options.server_dns` / `server_ips` hold the names given on the command
// line; localhost and 127.0.0.1 are added here unless `no_localhost`.
int RunInit(ProvisionOptions options, bool no_localhost) {
  if (!no_localhost) {
    auto add = [](std::vector<std::string>& names, const std::string& name) {
      if (std::find(names.begin(), names.end(), name) == names.end())
        names.push_back(name);
    };
    add(options.server_dns, "localhost");
    add(options.server_ips, "127.0.0.1");
  } else if (options.server_dns.empty() && options.server_ips.empty()) {
    return Fail(absl::InvalidArgumentError(
        "--no-localhost needs at least one --server-dns or --server-ip: the "
        "name clients dial"));
  }
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(options);
  if (!report.ok()) return Fail(report.status());
  for (const std::string& path : report->written) {
    std::cout << "wrote " << path << "\n";
  }
  for (const std::string& path : report->kept) {
    std::cout << "kept  " << path << "\n";
  }
  // What clients will see, read back from the file (a kept server.pem keeps
  // the names it was issued with).
  const std::string server_pem = options.out_dir + "/server.pem";
  absl::StatusOr<std::string> pem = ReadCertificateFile(server_pem);
  if (!pem.ok()) return Fail(pem.status());
  absl::StatusOr<std::vector<std::string>> sans =
      SubjectAltNamesOfCertificate(*pem);
  if (!sans.ok()) return Fail(sans.status());
  std::cout << "server certificate names (clients must dial one of them, or "
               "pass --server-name): "
            << JoinNames(*sans) << "\n";
  std::vector<std::string> missing;
  for (const std::string& dns : options.server_dns) {
    if (std::find(sans->begin(), sans->end(), "DNS:" + dns) == sans->end())
      missing.push_back("DNS:" + dns);
  }
  for (const std::string& ip : options.server_ips) {
    if (std::find(sans->begin(), sans->end(), "IP:" + ip) == sans->end())
      missing.push_back("IP:" + ip);
  }
  if (!missing.empty()) {
    std::cerr << "fedlearn-certs: WARNING: " << server_pem
              << " already existed and was kept, so it does NOT carry "
              << JoinNames(missing)
              << "; clients dialling those names will be refused. To reissue "
                 "it with the same CA, delete server.pem and server.key and "
                 "run init again.\n";
  }
  return 0;
}

int RunIssue(const std::string& ca_dir, const std::string& client_id,
             const std::string& out_dir, int valid_days) {
  const std::string dir = out_dir.empty() ? ca_dir : out_dir;
  if (absl::Status s = IssueClientFiles(ca_dir, client_id, dir, valid_days);
      !s.ok()) {
    return Fail(s);
  }
  std::cout << "wrote " << dir << "/" << client_id << ".pem\n"
            << "wrote " << dir << "/" << client_id << ".key\n";
  return 0;
}

int RunVerify(const std::string& ca_path, const std::string& cert_path) {
  absl::StatusOr<std::string> ca = ReadCertificateFile(ca_path);
  if (!ca.ok()) return Fail(ca.status());
  absl::StatusOr<std::string> cert = ReadCertificateFile(cert_path);
  if (!cert.ok()) return Fail(cert.status());
  if (absl::Status s = VerifyCertificateChain(*ca, *cert); !s.ok()) {
    return Fail(s);
  }
  absl::StatusOr<std::string> common_name = CommonNameOfCertificate(*cert);
  if (!common_name.ok()) return Fail(common_name.status());
  absl::StatusOr<std::vector<std::string>> sans =
      SubjectAltNamesOfCertificate(*cert);
  if (!sans.ok()) return Fail(sans.status());
  std::cout << cert_path << ": CN=" << *common_name
            << " SANs: " << JoinNames(*sans) << " OK\n";
  return 0;
}

// The arguments of the kit subcommands.
struct KitArgs {
  std::string project, out, ca_dir, site, operator_name, reason;
  int crl_days = 30;
  int valid_days = 365;
  CLI::App* kits = nullptr;
  CLI::App* add_site = nullptr;
  CLI::App* add_operator = nullptr;
  CLI::App* rotate = nullptr;
  CLI::App* revoke = nullptr;
};

// --site ID or --operator NAME, exactly one.
void AddSubjectOptions(CLI::App* cmd, KitArgs& args) {
  CLI::Option* site =
      cmd->add_option("--site", args.site, "Site id (its kit: kits/<id>)");
  CLI::Option* op = cmd->add_option("--operator", args.operator_name,
                                    "Operator name (kits/operator-<name>)");
  site->excludes(op);
  cmd->add_option("--crl-days", args.crl_days,
                  "nextUpdate of the new crl.pem, in days")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

void AddKitCommands(CLI::App& app, KitArgs& args) {
  args.kits = app.add_subcommand(
      "kits",
      "Create (or complete) a CA directory and one startup kit per "
      "party of a project file");
  args.kits->add_option("--project", args.project, "Project file (TOML)")
      ->required();
  args.kits->add_option("--out", args.out, "Output directory")->required();
  args.add_site = app.add_subcommand(
      "add-site", "A kit for one more site, enrolled in the coordinator kit");
  args.add_operator =
      app.add_subcommand("add-operator", "A kit for one more operator");
  for (CLI::App* cmd : {args.add_site, args.add_operator}) {
    cmd->add_option("--ca-dir", args.ca_dir, "The kits' CA directory")
        ->required();
    cmd->add_option("--project", args.project, "Project file (TOML)")
        ->required();
  }
  args.add_site->add_option("--site", args.site, "Site id")->required();
  args.add_operator->add_option("--name", args.operator_name, "Operator name")
      ->required();
  args.rotate = app.add_subcommand(
      "rotate", "New key and certificate for a kit; the old one is revoked");
  args.revoke = app.add_subcommand(
      "revoke", "Revoke a site's or operator's certificates (new crl.pem)");
  for (CLI::App* cmd : {args.rotate, args.revoke}) {
    cmd->add_option("--ca-dir", args.ca_dir, "The kits' CA directory")
        ->required();
    AddSubjectOptions(cmd, args);
  }
  args.rotate->add_option("--days", args.valid_days, "Validity in days")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  args.revoke->add_option("--reason", args.reason,
                          "Why (kept in issued.json; an RFC 5280 name such "
                          "as keyCompromise also goes into the CRL)");
}

int RunKitCommand(const KitArgs& args) {
  const bool is_operator = !args.operator_name.empty();
  const std::string& id = is_operator ? args.operator_name : args.site;
  const CertificateRole role =
      is_operator ? CertificateRole::kOperator : CertificateRole::kSite;
  const bool needs_subject = *args.rotate || *args.revoke;
  if (needs_subject && args.site.empty() == args.operator_name.empty()) {
    return Fail(absl::InvalidArgumentError("give --site or --operator"));
  }
  absl::Status status;
  if (*args.kits) {
    status = RunKits(args.project, args.out, std::cout);
  } else if (*args.add_site) {
    status = RunAddSite(args.ca_dir, args.project, args.site, std::cout);
  } else if (*args.add_operator) {
    status = RunAddOperator(args.ca_dir, args.project, args.operator_name,
                            std::cout);
  } else if (*args.rotate) {
    status = RunRotate(args.ca_dir, id, role, args.valid_days, args.crl_days,
                       std::cout);
  } else {
    status =
        RunRevoke(args.ca_dir, id, role, args.reason, args.crl_days, std::cout);
  }
  return status.ok() ? 0 : Fail(status);
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  CLI::App app{"Provisions certificates for mutual TLS in fedlearn."};
  app.set_version_flag("--version", fedlearn::VersionLine("certs"));
  app.require_subcommand(1);

  fedlearn::ProvisionOptions init;
  init.server_dns.clear();  // localhost is added unless --no-localhost
  init.server_ips.clear();
  bool no_localhost = false;
  CLI::App* init_cmd = app.add_subcommand(
      "init", "Create (or complete) a CA, server and client certificates");
  init_cmd->add_option("--out", init.out_dir, "Output directory")->required();
  init_cmd
      ->add_option("--clients", init.num_clients,
                   "Number of clients named <prefix>001..N")
      ->check(CLI::NonNegativeNumber);
  init_cmd
      ->add_option("--client-prefix", init.client_prefix,
                   "Prefix of generated client ids")
      ->capture_default_str();
  init_cmd->add_option("--client-id", init.client_ids,
                       "Explicit client id (repeatable)");
  init_cmd->add_option("--server-dns", init.server_dns,
                       "DNS name clients dial, put in the server certificate "
                       "(repeatable; localhost is always added)");
  init_cmd->add_option("--server-ip", init.server_ips,
                       "IP address clients dial, put in the server "
                       "certificate (repeatable; 127.0.0.1 is always added)");
  init_cmd->add_flag("--no-localhost", no_localhost,
                     "Leave localhost and 127.0.0.1 out of the server "
                     "certificate");
  init_cmd->add_option("--days", init.valid_days, "Validity in days")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  init_cmd->add_flag("--force", init.force,
                     "Regenerate the CA and every certificate");

  std::string ca_dir, client_id, out_dir;
  int issue_days = 365;
  CLI::App* issue_cmd = app.add_subcommand(
      "issue", "Issue a certificate for one more client with an existing CA");
  issue_cmd->add_option("--ca-dir", ca_dir, "Directory with ca.pem and ca.key")
      ->required();
  issue_cmd->add_option("--client-id", client_id, "Client id")->required();
  issue_cmd->add_option("--out", out_dir,
                        "Output directory (default: the CA directory)");
  issue_cmd->add_option("--days", issue_days, "Validity in days")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  std::string ca_path, cert_path;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify", "Check that a certificate chains to a CA; print its CN");
  verify_cmd->add_option("--ca", ca_path, "CA certificate (PEM)")->required();
  verify_cmd->add_option("--cert", cert_path, "Certificate (PEM)")->required();

  fedlearn::KitArgs kit_args;
  fedlearn::AddKitCommands(app, kit_args);

  CLI11_PARSE(app, argc, argv);

  if (*init_cmd) return fedlearn::RunInit(init, no_localhost);
  if (*issue_cmd) {
    return fedlearn::RunIssue(ca_dir, client_id, out_dir, issue_days);
  }
  if (*verify_cmd) return fedlearn::RunVerify(ca_path, cert_path);
  return fedlearn::RunKitCommand(kit_args);
}
