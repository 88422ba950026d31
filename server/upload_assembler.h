// UploadAssembler: turns the chunks of one PushResult stream (after its
// header) into a whole submission, independent of any transport. The
// header is checked against what the round expects before anything is
// allocated; each chunk is checked before it is decoded:
//   - a second header mid-stream, a chunk that is not a whole number of
//     values (4-byte float32, or 2/4-byte masked values), a payload longer
//     or shorter than announced: INVALID_ARGUMENT naming the problem;
//   - more than `max_chunks` messages in the stream: RESOURCE_EXHAUSTED.
// Payload values are decoded straight into the one buffer (pooled:
// UpdateBufferPool): a chunk's bytes may arrive as several pieces (the gRPC
// slices they were received in, cut anywhere, even inside a value) and are
// copied once, from the pieces into the buffer. While each piece is still
// in L1 its squares are summed (UpdateSubmission::squared_norm), so the
// engine's content check need not read the whole update again; the sum
// does not depend on how the update was cut into chunks or pieces.
//
// Not thread-safe: one stream, one assembler.
#ifndef FEDLEARN_SERVER_UPLOAD_ASSEMBLER_H_
#define FEDLEARN_SERVER_UPLOAD_ASSEMBLER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/round/round_types.h"
#include "server/round/update_buffer_pool.h"

namespace fedlearn {

class UploadAssembler {
 public:
  // The header's shape, without allocating: OK iff a plaintext update of
  // `dimension` values (or a masked input of `masked_length` values of
  // `masked_width` bytes, when header.masked()) could follow.
  static absl::Status CheckHeader(const v1::UpdateHeader& header,
                                  size_t dimension, size_t masked_length,
                                  int masked_width);

  // REQUIRES: CheckHeader(header, ...) is OK. Takes the buffer from `pool`
  // (reused, not cleared: every value is written before the update is
  // complete) or, without one, allocates it. The submission returns it to
  // the pool when it is destroyed, whatever became of the upload.
  static UploadAssembler ForUpdate(
      const v1::UpdateHeader& header, size_t dimension, int max_chunks,
      std::shared_ptr<UpdateBufferPool> pool = nullptr);
  static UploadAssembler ForMaskedInput(const v1::UpdateHeader& header,
                                        size_t length, int width,
                                        int max_chunks);

  UploadAssembler(UploadAssembler&&) = default;
  UploadAssembler& operator=(UploadAssembler&&) = default;
  UploadAssembler(const UploadAssembler&) = delete;
  UploadAssembler& operator=(const UploadAssembler&) = delete;

  // The next message of the stream (the header counts as the first).
  absl::Status Feed(const v1::ResultChunk& chunk);
  // The next message of the stream when it is one update_data payload,
  // given as the byte ranges it arrived in (ResultChunkView): the same
  // checks and result as Feed on the parsed message, without the copy.
  absl::Status FeedPayload(absl::Span<const std::string_view> pieces);
  // The stream ended: OK iff every announced value arrived.
  absl::Status CheckComplete() const;

  bool masked() const { return masked_; }
  size_t received() const { return received_; }
  // REQUIRES: CheckComplete() is OK; call one of them once.
  UpdateSubmission TakeUpdate();
  std::vector<uint32_t> TakeMaskedInput() { return std::move(masked_values_); }

 private:
  UploadAssembler(bool masked, size_t length, size_t width, int max_chunks);
  absl::Status CountMessage();
  absl::Status Decode(absl::Span<const std::string_view> pieces);
  // Copies `piece` to byte `at` of delta and adds the squares of the values
  // it completes to the lanes.
  void CopyMeasured(std::string_view piece, size_t at);
  // Adds the squares of delta[begin, end) to the lanes.
  void Measure(size_t begin, size_t end);

  bool masked_;
  size_t length_;
  size_t width_;
  int max_chunks_;
  int chunks_ = 1;  // the header
  size_t received_ = 0;
  UpdateSubmission update_;
  std::vector<uint32_t> masked_values_;
  // Eight partial sums of squares, lane = value index % 8: independent of
  // the chunking, and a loop the compiler vectorises.
  double lanes_[8] = {};
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_UPLOAD_ASSEMBLER_H_
