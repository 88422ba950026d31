#include "server/upload_assembler.h"

#include "absl/strings/str_cat.h"
#include "common/flat/flat_vector.h"
#include "common/wire/masked_value_codec.h"

namespace fedlearn {
namespace {

const char* What(bool masked) { return masked ? "masked input" : "update"; }

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

absl::Status UploadAssembler::Feed(const v1::ResultChunk& chunk) {
  if (++chunks_ > max_chunks_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "more than ", max_chunks_,
        " messages in one upload (limits.max_chunks_per_stream); send "
        "larger chunks"));
  }
  if (!chunk.has_update_data()) {
    return absl::InvalidArgumentError(
        chunk.has_header() ? "a second header arrived mid-stream"
                           : "an empty message arrived mid-stream");
  }
  return Decode(chunk.update_data());
}

absl::Status UploadAssembler::Decode(std::string_view bytes) {
  if (bytes.size() % width_ != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(What(masked_), " chunk of ", bytes.size(),
                     " bytes is not a whole number of ", width_, "-byte ",
                     masked_ ? "masked values" : "float32 values"));
  }
  const size_t n = bytes.size() / width_;
  if (n > length_ - received_) {
    return absl::InvalidArgumentError(absl::StrCat(
        What(masked_), " payload overflows the announced ", length_,
        " values: a chunk of ", n, " values after ", received_));
  }
  absl::Status decoded =
      masked_
          ? DecodeMaskedValues(
                bytes, static_cast<int>(width_),
                absl::MakeSpan(masked_values_).subspan(received_, n))
          : DecodeFloat32LE(bytes, update_.delta.span().subspan(received_, n));
  if (!decoded.ok()) return decoded;
  received_ += n;
  return absl::OkStatus();
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
