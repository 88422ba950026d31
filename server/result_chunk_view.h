// ResultChunkView: reads one fedlearn.v1.ResultChunk in place, from the
// byte ranges gRPC received it in, so a chunk's payload reaches the upload
// buffer without first being copied into a protobuf string.
//
// Guarantees: a view is returned only when the message is exactly one
// update_data field (tag 2, length-delimited) whose length is the rest of
// the message, which is what every client sends; the pieces then cover the
// payload in order (cut wherever the ranges were cut). Anything else (a
// header, unknown or repeated fields, a length that does not match, an
// over-long varint) gives nullopt, and the caller parses the message the
// ordinary way: the outcome never differs from protobuf's.
//
// Thread-compatible; the pieces alias `message`'s storage.
#ifndef FEDLEARN_SERVER_RESULT_CHUNK_VIEW_H_
#define FEDLEARN_SERVER_RESULT_CHUNK_VIEW_H_

#include <optional>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace fedlearn {

std::optional<std::vector<std::string_view>> UpdateDataPieces(
    absl::Span<const std::string_view> message);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_RESULT_CHUNK_VIEW_H_
