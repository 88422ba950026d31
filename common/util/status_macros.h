// Status propagation macros: one pair, used everywhere instead of
// hand-written `if (!s.ok()) return s;`.
//
//   RETURN_IF_ERROR(expr);              // expr is an absl::Status
//   ASSIGN_OR_RETURN(T x, expr);        // expr is an absl::StatusOr<T>
//   ASSIGN_OR_RETURN(x, expr);          // assigns into an existing variable
//
// Both return the error status unchanged (same code and message) from the
// enclosing function, which must return absl::Status or absl::StatusOr<U>.
#ifndef FEDLEARN_COMMON_UTIL_STATUS_MACROS_H_
#define FEDLEARN_COMMON_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FEDLEARN_STATUS_CONCAT_INNER_(a, b) a##b
#define FEDLEARN_STATUS_CONCAT_(a, b) FEDLEARN_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    const ::absl::Status fedlearn_status_ = (expr);      \
    if (!fedlearn_status_.ok()) return fedlearn_status_; \
  } while (false)

#define FEDLEARN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return statusor.status();              \
  lhs = *std::move(statusor)

#define ASSIGN_OR_RETURN(lhs, expr) \
  FEDLEARN_ASSIGN_OR_RETURN_IMPL_(  \
      FEDLEARN_STATUS_CONCAT_(fedlearn_statusor_, __LINE__), lhs, expr)

#endif  // FEDLEARN_COMMON_UTIL_STATUS_MACROS_H_
