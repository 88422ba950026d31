// fedlearn-certs: provisions the certificates for mutual TLS between the
// coordinator and the client daemons (see common/tls/cert_authority.h).
//
//   fedlearn-certs init --out certs --clients 3
//   fedlearn-certs issue --ca-dir certs --client-id hospital-7
//   fedlearn-certs verify --ca certs/ca.pem --cert certs/hospital-7.pem
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "common/tls/cert_authority.h"

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

int RunInit(const ProvisionOptions& options) {
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(options);
  if (!report.ok()) return Fail(report.status());
  for (const std::string& path : report->written) {
    std::cout << "wrote " << path << "\n";
  }
  for (const std::string& path : report->kept) {
    std::cout << "kept  " << path << "\n";
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
  std::cout << cert_path << ": CN=" << *common_name << " OK\n";
  return 0;
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  CLI::App app{"Provisions certificates for mutual TLS in fedlearn."};
  app.require_subcommand(1);

  fedlearn::ProvisionOptions init;
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
  init_cmd
      ->add_option("--server-dns", init.server_dns,
                   "DNS name in the server certificate (repeatable)")
      ->capture_default_str();
  init_cmd
      ->add_option("--server-ip", init.server_ips,
                   "IP address in the server certificate (repeatable)")
      ->capture_default_str();
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

  CLI11_PARSE(app, argc, argv);

  if (*init_cmd) return fedlearn::RunInit(init);
  if (*issue_cmd) {
    return fedlearn::RunIssue(ca_dir, client_id, out_dir, issue_days);
  }
  return fedlearn::RunVerify(ca_path, cert_path);
}
