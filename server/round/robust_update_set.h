// The updates a robust aggregator reads: one span per client, all of the
// model's length. A view type (it owns nothing); the spans must outlive the
// call they are passed to.
//
// CheckUpdateSet() is the precondition every robust aggregator checks first:
// at least one update, all of one length. InvalidArgument otherwise.
// Stateless; thread-safe.
#ifndef FEDLEARN_SERVER_ROUND_ROBUST_UPDATE_SET_H_
#define FEDLEARN_SERVER_ROUND_ROBUST_UPDATE_SET_H_

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fedlearn {

using UpdateSet = absl::Span<const absl::Span<const float>>;

absl::Status CheckUpdateSet(UpdateSet updates);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROBUST_UPDATE_SET_H_
