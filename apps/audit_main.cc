// fedlearn-audit: checks a coordinator's audit log (server/audit/): every
// line's hash chain, and that the log ends at its head sidecar
// (<log>.head), so an edited, deleted, reordered or cut-off entry is found.
// --expect-head pins a head recorded elsewhere (the coordinator logs it at
// start and at the end of a run): that entry must still be in the chain.
//
//   fedlearn-audit verify state/audit.jsonl
//   fedlearn-audit verify state/audit.jsonl --expect-head 42:9f86d08...
//
// Exit status: 0 the log verifies, 1 it does not (the first bad line and
// why on stdout), 2 usage or I/O errors (stderr).
#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/util/version.h"
#include "server/audit/audit_chain.h"

namespace fedlearn {
namespace {

int Verify(const std::string& path, const std::string& expect_head) {
  std::optional<AuditHead> expected;
  bool seq_known = false;
  if (!expect_head.empty()) {
    absl::StatusOr<AuditHead> head =
        ParseAuditHeadArgument(expect_head, &seq_known);
    if (!head.ok()) {
      std::cerr << "fedlearn-audit: --expect-head: " << head.status().message()
                << "\n";
      return 2;
    }
    expected = *head;
  }
  absl::StatusOr<AuditVerification> v =
      VerifyAuditLog(path, expected, seq_known);
  if (!v.ok()) {
    std::cerr << "fedlearn-audit: " << v.status().message() << "\n";
    return 2;
  }
  if (v->ok) {
    std::cout << "OK: " << path << ": " << v->entries << " entries, head "
              << v->head.seq << ":" << v->head.hash << "\n";
  } else {
    std::cout << "BROKEN: " << path << ": " << v->problem << "\n";
    if (v->first_bad_line > 0) {
      std::cout << "first bad line: " << v->first_bad_line << "\n";
    }
    std::cout << "valid entries: " << v->entries << " (last " << v->head.seq
              << ":" << v->head.hash << ")\n";
  }
  for (const std::string& note : v->notes)
    std::cout << "note: " << note << "\n";
  return v->ok ? 0 : 1;
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  CLI::App app{"Verifies a fedlearn coordinator's hash-chained audit log."};
  app.set_version_flag("--version", fedlearn::VersionLine("audit"));
  app.require_subcommand(1);
  std::string path;
  std::string expect_head;
  CLI::App* verify = app.add_subcommand(
      "verify",
      "Checks the hash chain and the head sidecar (PATH.head); exit 0 if the "
      "log verifies, 1 if not");
  verify->add_option("path", path, "The audit log (e.g. state/audit.jsonl)")
      ->required();
  verify->add_option("--expect-head", expect_head,
                     "SEQ:HASH or HASH of an entry recorded elsewhere; it "
                     "must still be in the chain");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return fedlearn::Verify(path, expect_head);
}
