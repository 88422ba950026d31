#include "client/coordinator_dial.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fedlearn {
namespace {

absl::Status BadAddress(absl::string_view address, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("coordinator address \"", address, "\": ", problem,
                   "; use HOST:PORT, [IPV6]:PORT, or HOST alone for port ",
                   kDefaultCoordinatorPort));
}

// How gRPC 1.51 words a failed TLS handshake inside an UNAVAILABLE status
// (tests/client/grpc_coordinator_transport_test.cc pins each):
//   the coordinator refused our certificate: "failed to connect to all
//     addresses; ... Socket closed" (with TLS 1.3 the server checks the
//     client's certificate after the client has finished its side, so the
//     client only sees the connection drop);
//   we refused the coordinator's certificate: "Ssl handshake failed: ...
//     certificate verify failed";
//   the coordinator's certificate lacks the dialled name: "Peer name NAME is
//     not in peer certificate".
enum class TlsFailure {
  kNone,
  kPeerRefusedUs,
  kWeRefusedPeer,
  kNameMismatch,
  kOther
};

TlsFailure ClassifyTlsFailure(absl::string_view text) {
  if (absl::StrContains(text, "Peer name ") &&
      absl::StrContains(text, "is not in peer certificate")) {
    return TlsFailure::kNameMismatch;
  }
  if (absl::StrContains(text, "Ssl handshake failed")) {
    return absl::StrContains(text, "certificate verify failed")
               ? TlsFailure::kWeRefusedPeer
               : TlsFailure::kOther;
  }
  if (absl::StrContains(text, "failed to connect to all addresses") &&
      absl::StrContains(text, "Socket closed")) {
    return TlsFailure::kPeerRefusedUs;
  }
  if (absl::StrContains(text, "SSL_ERROR") ||
      absl::StrContains(text, "andshake")) {
    return TlsFailure::kOther;
  }
  return TlsFailure::kNone;
}

}  // namespace

std::string HostOfTarget(absl::string_view target) {
  for (absl::string_view scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (absl::StartsWith(target, scheme)) {
      target.remove_prefix(scheme.size());
      break;
    }
  }
  if (absl::StartsWith(target, "[")) {
    const size_t close = target.find(']');
    return std::string(
        target.substr(1, close == target.npos ? target.npos : close - 1));
  }
  return std::string(target.substr(0, target.rfind(':')));
}

absl::StatusOr<std::string> ParseCoordinatorTarget(absl::string_view address) {
  const absl::string_view original = address;
  address = absl::StripAsciiWhitespace(address);
  if (address.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no coordinator address configured; use HOST:PORT (port ",
                     kDefaultCoordinatorPort, " if omitted)"));
  }
  for (absl::string_view scheme :
       {"dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:"}) {
    if (absl::StartsWith(address, scheme)) return std::string(address);
  }
  absl::string_view host, port;
  bool has_port = false;
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    if (close == address.npos) {
      return BadAddress(original, "IPv6 address without a closing ']'");
    }
    host = address.substr(1, close - 1);
    const absl::string_view rest = address.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        return BadAddress(original, "expected ':PORT' after ']'");
      }
      port = rest.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = address.find(':');
    if (colon != address.npos && address.find(':', colon + 1) != address.npos) {
      return BadAddress(original,
                        "an IPv6 address needs brackets, as in [::1]:7443");
    }
    host = address.substr(0, colon);
    if (colon != address.npos) {
      port = address.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return BadAddress(original, "no host");
  int port_number = kDefaultCoordinatorPort;
  if (has_port) {
    if (port.empty()) return BadAddress(original, "empty port after ':'");
    if (!std::all_of(port.begin(), port.end(),
                     [](char c) { return absl::ascii_isdigit(c); })) {
      return BadAddress(original,
                        absl::StrCat("port \"", port, "\" is not a number"));
    }
    if (!absl::SimpleAtoi(port, &port_number) || port_number < 1 ||
        port_number > 65535) {
      return BadAddress(original,
                        absl::StrCat("port ", port, " is outside 1..65535"));
    }
  }
  const bool ipv6 = absl::StrContains(host, ':');
  return absl::StrCat(ipv6 ? "[" : "", host, ipv6 ? "]" : "", ":", port_number);
}

absl::Status DescribeRpcFailure(const grpc::Status& status,
                                absl::string_view what,
                                absl::string_view dialled_name,
                                const absl::Status& own_chain) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  const TlsFailure failure = code == absl::StatusCode::kUnavailable
                                 ? ClassifyTlsFailure(status.error_message())
                                 : TlsFailure::kNone;
  if (failure == TlsFailure::kNone) {
    return absl::Status(code, absl::StrCat(what, ": ", status.error_message()));
  }
  const std::string name_mismatch = absl::StrCat(
      "the coordinator's certificate does not name \"", dialled_name,
      "\" among its SANs (dial a name it carries, or set --server-name; "
      "`fedlearn-certs verify` lists them)");
  const char* const refused_us =
      "the coordinator does not trust the CA that signed our certificate "
      "(a certificate from another federation), or our certificate has "
      "expired on the coordinator's clock or was withdrawn (re-provisioned)";
  const char* const refused_peer =
      "our CA file (--ca, or ca.pem in --certs) is not the CA that signed "
      "the coordinator's certificate (another federation's ca.pem, or the "
      "coordinator's certificate was re-provisioned), or that certificate "
      "expired";
  std::string headline, causes;
  switch (failure) {
    case TlsFailure::kPeerRefusedUs:
      headline =
          "the coordinator closed the connection during the TLS "
          "handshake: it refused our certificate";
      causes = refused_us;
      break;
    case TlsFailure::kWeRefusedPeer:
      headline = "we refused the coordinator's TLS certificate";
      causes = refused_peer;
      break;
    case TlsFailure::kNameMismatch:
      headline = "the TLS server name does not match";
      causes = name_mismatch;
      break;
    default:
      headline = "the TLS handshake with the coordinator failed";
      causes =
          absl::StrCat(refused_us, "; ", refused_peer, "; or ", name_mismatch);
      break;
  }
  // A certificate that does not chain to our own CA file (checked locally
  // by Create) explains both refusals in a one-CA federation.
  const bool chain_explains =
      !own_chain.ok() && failure != TlsFailure::kNameMismatch;
  return absl::UnavailableError(absl::StrCat(
      what, ": ", headline, ". ",
      chain_explains
          ? absl::StrCat("Most likely: ", own_chain.message(), ". Otherwise: ")
          : "Likely causes: ",
      causes, ". gRPC said: ", status.error_message()));
}

}  // namespace fedlearn
