#include "server/upload_assembler.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/flat/flat_vector.h"
#include "common/util/status_macros.h"
#include "common/wire/masked_value_codec.h"

namespace fedlearn {
namespace {

const char* What(bool masked) { return masked ? "masked input" : "update"; }

bool HostIsLittleEndian() {
  const uint32_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

}  // namespace

absl::Status UploadAssembler::CheckHeader(const v1::UpdateHeader& header,
                                          size_t dimension,
                                          size_t masked_length,
                                          int masked_width) {
  if (!header.masked()) {
    if (header.num_values() != dimension) {
      return absl::InvalidArgumentError(
          absl::StrCat("update announces ", header.num_values(),
                       " values, the model has ", dimension));
    }
    return absl::OkStatus();
  }
  if (masked_length == 0) {
    return absl::FailedPreconditionError(
        "no secure aggregation is collecting masked inputs now");
  }
  if (header.num_values() != masked_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("masked input announces ", header.num_values(),
                     " values, expected ", masked_length));
  }
  if (header.masked_value_bytes() != static_cast<uint32_t>(masked_width)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "masked values must be ", masked_width,
        " bytes wide in this round, got ", header.masked_value_bytes()));
  }
  return absl::OkStatus();
}

UploadAssembler::UploadAssembler(bool masked, size_t length, size_t width,
                                 int max_chunks)
    : masked_(masked),
      length_(length),
      width_(width),
      max_chunks_(max_chunks) {}

UploadAssembler UploadAssembler::ForUpdate(const v1::UpdateHeader& header,
                                           size_t dimension, int max_chunks) {
  UploadAssembler a(false, dimension, 4, max_chunks);
  a.update_.run_id = header.ref().run_id();
  a.update_.round = header.ref().round();
  a.update_.model_version = header.ref().model_version();
  a.update_.num_examples = header.num_examples();
  a.update_.train_loss = header.train_loss();
  a.update_.eval_report.assign(header.eval_report().begin(),
                               header.eval_report().end());
  a.update_.delta = FlatVector(dimension);
  return a;
}

UploadAssembler UploadAssembler::ForMaskedInput(const v1::UpdateHeader& header,
                                                size_t length, int width,
                                                int max_chunks) {
  (void)header;
  UploadAssembler a(true, length, static_cast<size_t>(width), max_chunks);
  a.masked_values_.resize(length);
  return a;
}

absl::Status UploadAssembler::CountMessage() {
  if (++chunks_ > max_chunks_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "more than ", max_chunks_,
        " messages in one upload (limits.max_chunks_per_stream); send "
        "larger chunks"));
  }
  return absl::OkStatus();
}

absl::Status UploadAssembler::Feed(const v1::ResultChunk& chunk) {
  RETURN_IF_ERROR(CountMessage());
  if (!chunk.has_update_data()) {
    return absl::InvalidArgumentError(
        chunk.has_header() ? "a second header arrived mid-stream"
                           : "an empty message arrived mid-stream");
  }
  const std::string_view bytes = chunk.update_data();
  return Decode(absl::MakeConstSpan(&bytes, 1));
}

absl::Status UploadAssembler::FeedPayload(
    absl::Span<const std::string_view> pieces) {
  RETURN_IF_ERROR(CountMessage());
  return Decode(pieces);
}

absl::Status UploadAssembler::Decode(
    absl::Span<const std::string_view> pieces) {
  size_t size = 0;
  for (std::string_view piece : pieces) size += piece.size();
  if (size % width_ != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        What(masked_), " chunk of ", size, " bytes is not a whole number of ",
        width_, "-byte ", masked_ ? "masked values" : "float32 values"));
  }
  const size_t n = size / width_;
  if (n > length_ - received_) {
    return absl::InvalidArgumentError(absl::StrCat(
        What(masked_), " payload overflows the announced ", length_,
        " values: a chunk of ", n, " values after ", received_));
  }
  if (!masked_ && HostIsLittleEndian()) {
    // The wire's float32 LE is the buffer's layout: one copy per piece.
    char* dst = reinterpret_cast<char*>(update_.delta.data() + received_);
    for (std::string_view piece : pieces) {
      if (piece.empty()) continue;
      std::memcpy(dst, piece.data(), piece.size());
      dst += piece.size();
    }
  } else {
    std::string joined;  // masked values, or a big-endian host
    if (pieces.size() == 1) {
      joined.assign(pieces[0]);
    } else {
      joined.reserve(size);
      for (std::string_view piece : pieces) joined.append(piece);
    }
    RETURN_IF_ERROR(
        masked_ ? DecodeMaskedValues(
                      joined, static_cast<int>(width_),
                      absl::MakeSpan(masked_values_).subspan(received_, n))
                : DecodeFloat32LE(joined,
                                  update_.delta.span().subspan(received_, n)));
  }
  if (!masked_) Measure(received_, received_ + n);
  received_ += n;
  return absl::OkStatus();
}

void UploadAssembler::Measure(size_t begin, size_t end) {
  const float* x = update_.delta.data();
  size_t i = begin;
  for (; i < end && i % 8 != 0; ++i) {
    lanes_[i % 8] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  }
  double lanes[8];
  std::memcpy(lanes, lanes_, sizeof lanes);
  for (; i + 8 <= end; i += 8) {
    for (int j = 0; j < 8; ++j) {
      lanes[j] += static_cast<double>(x[i + j]) * static_cast<double>(x[i + j]);
    }
  }
  std::memcpy(lanes_, lanes, sizeof lanes);
  for (; i < end; ++i) {
    lanes_[i % 8] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  }
}

UpdateSubmission UploadAssembler::TakeUpdate() {
  // Squares of floats cannot overflow a double (FLT_MAX^2 ~ 1e77), so the
  // sum is finite iff every value is: a NaN or Inf leaves it non-finite and
  // the engine's check then finds and names the value.
  double squares = 0.0;
  for (double lane : lanes_) squares += lane;
  update_.squared_norm = squares;
  return std::move(update_);
}

absl::Status UploadAssembler::CheckComplete() const {
  if (received_ != length_) {
    return absl::InvalidArgumentError(
        absl::StrCat(What(masked_), " stream ended after ", received_, " of ",
                     length_, " values"));
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
