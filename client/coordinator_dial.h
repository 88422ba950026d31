// Dialling the coordinator: turning an operator's address into a gRPC
// target, and explaining a failed call (above all a failed TLS handshake)
// in terms an operator can act on. Stateless functions; thread-safe.
#ifndef FEDLEARN_CLIENT_COORDINATOR_DIAL_H_
#define FEDLEARN_CLIENT_COORDINATOR_DIAL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace fedlearn {

// The coordinator's documented port, used when an address has none.
inline constexpr int kDefaultCoordinatorPort = 7443;

// Turns an operator's coordinator address into a gRPC target: "HOST",
// "HOST:PORT", "[IPV6]" or "[IPV6]:PORT" (a missing port is
// kDefaultCoordinatorPort); a target with a gRPC scheme ("dns:", "ipv4:",
// "ipv6:", "unix:") passes unchanged. InvalidArgument for an empty host, an
// empty, non-numeric or out-of-range (1..65535) port, or an IPv6 address
// without brackets.
absl::StatusOr<std::string> ParseCoordinatorTarget(absl::string_view address);

// The status of a failed RPC `what` ("register", ...): gRPC's code and text,
// and for an UNAVAILABLE whose text shows a failed TLS handshake, first a
// sentence naming the likely causes. `dialled_name` is the name the server
// certificate must carry; `own_chain` is VerifyOwnCertificateChain's verdict
// (named as the cause when it is not OK).
absl::Status DescribeRpcFailure(const grpc::Status& status,
                                absl::string_view what,
                                absl::string_view dialled_name,
                                const absl::Status& own_chain);

// The host part of a gRPC target (scheme and port stripped, IPv6 brackets
// removed): the name the server certificate must carry.
std::string HostOfTarget(absl::string_view target);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_COORDINATOR_DIAL_H_
