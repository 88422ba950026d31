#include "server/upload_assembler.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/flat/flat_vector.h"
#include "common/util/status_macros.h"
#include "common/wire/masked_value_codec.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

UploadAssembler UploadAssembler::ForUpdate(
    const v1::UpdateHeader& header, size_t dimension, int max_chunks,
    std::shared_ptr<UpdateBufferPool> pool) {
  UploadAssembler a(false, dimension, 4, max_chunks);
  a.update_.run_id = header.ref().run_id();
  a.update_.round = header.ref().round();
  a.update_.model_version = header.ref().model_version();
  a.update_.num_examples = header.num_examples();
  a.update_.train_loss = header.train_loss();
  a.update_.eval_report.assign(header.eval_report().begin(),
                               header.eval_report().end());
  a.update_.delta =
      pool != nullptr ? pool->Acquire(dimension) : FlatVector(dimension);
  a.update_.buffer_pool = std::move(pool);
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
    // The wire's float32 LE is the buffer's layout: one copy per piece,
    // and the squares of the values it completed while they are in L1.
    size_t at = received_ * 4;
    for (std::string_view piece : pieces) {
      CopyMeasured(piece, at);
      at += piece.size();
    }
#if defined(__SSE2__)
    _mm_sfence();  // the streamed stores are visible before the fold reads
#endif
    received_ += n;
    return absl::OkStatus();
  }
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
  if (!masked_) Measure(received_, received_ + n);  // a big-endian host
  received_ += n;
  return absl::OkStatus();
}

void UploadAssembler::CopyMeasured(std::string_view piece, size_t at) {
  if (piece.empty()) return;
  char* const base = reinterpret_cast<char*>(update_.delta.data());
  const size_t end = at + piece.size();
  // The whole groups of 8 values (32 bytes) that the piece covers.
  const size_t group_begin = (at + 31) / 32 * 32;
  const size_t group_end = std::max(group_begin, end / 32 * 32);
#if defined(__SSE2__)
  const bool stream =
      group_end > group_begin && reinterpret_cast<uintptr_t>(base) % 16 == 0;
#else
  const bool stream = false;
#endif
  if (!stream) {
    std::memcpy(base + at, piece.data(), piece.size());
    Measure(at / 4, end / 4);
    return;
  }
  const char* src = piece.data();
  std::memcpy(base + at, src, group_begin - at);
  Measure(at / 4, group_begin / 4);
#if defined(__SSE2__)
  // Non-temporal stores: the buffer is read again only by the fold, long
  // after it left the cache, so its old lines need not be read in first.
  // The squares come from the registers, in the lanes Measure uses
  // (value index % 8), so the sum is bit-identical to Measure's.
  __m128d acc[4];
  for (int k = 0; k < 4; ++k) acc[k] = _mm_loadu_pd(lanes_ + 2 * k);
  for (size_t g = group_begin; g < group_end; g += 32) {
    const char* from = src + (g - at);
    const __m128 lo = _mm_loadu_ps(reinterpret_cast<const float*>(from));
    const __m128 hi = _mm_loadu_ps(reinterpret_cast<const float*>(from + 16));
    _mm_stream_ps(reinterpret_cast<float*>(base + g), lo);
    _mm_stream_ps(reinterpret_cast<float*>(base + g + 16), hi);
    const __m128d d[4] = {_mm_cvtps_pd(lo), _mm_cvtps_pd(_mm_movehl_ps(lo, lo)),
                          _mm_cvtps_pd(hi),
                          _mm_cvtps_pd(_mm_movehl_ps(hi, hi))};
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm_add_pd(acc[k], _mm_mul_pd(d[k], d[k]));
    }
  }
  for (int k = 0; k < 4; ++k) _mm_storeu_pd(lanes_ + 2 * k, acc[k]);
#endif
  std::memcpy(base + group_end, src + (group_end - at), end - group_end);
  Measure(group_end / 4, end / 4);
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
