#include "server/result_chunk_view.h"

#include <cstdint>

namespace fedlearn {
namespace {

// ResultChunk.update_data: field 2, wire type 2 (length-delimited).
constexpr unsigned char kUpdateDataTag = (2 << 3) | 2;

// Reads bytes across the pieces.
class Cursor {
 public:
  explicit Cursor(absl::Span<const std::string_view> pieces)
      : pieces_(pieces) {}
  bool Next(unsigned char* byte) {
    while (index_ < pieces_.size() && offset_ == pieces_[index_].size()) {
      ++index_;
      offset_ = 0;
    }
    if (index_ == pieces_.size()) return false;
    *byte = static_cast<unsigned char>(pieces_[index_][offset_++]);
    ++consumed_;
    return true;
  }
  size_t consumed() const { return consumed_; }
  // The rest, as pieces (empty ones dropped).
  std::vector<std::string_view> Rest() const {
    std::vector<std::string_view> rest;
    for (size_t i = index_; i < pieces_.size(); ++i) {
      std::string_view piece = pieces_[i];
      if (i == index_) piece.remove_prefix(offset_);
      if (!piece.empty()) rest.push_back(piece);
    }
    return rest;
  }

 private:
  absl::Span<const std::string_view> pieces_;
  size_t index_ = 0;
  size_t offset_ = 0;
  size_t consumed_ = 0;
};

}  // namespace

std::optional<std::vector<std::string_view>> UpdateDataPieces(
    absl::Span<const std::string_view> message) {
  size_t total = 0;
  for (std::string_view piece : message) total += piece.size();
  Cursor cursor(message);
  unsigned char byte = 0;
  if (!cursor.Next(&byte) || byte != kUpdateDataTag) return std::nullopt;
  // A varint of at most 10 bytes; protobuf refuses lengths >= 2^31.
  uint64_t length = 0;
  for (int shift = 0;; shift += 7) {
    if (shift > 63 || !cursor.Next(&byte)) return std::nullopt;
    length |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  if (length > INT32_MAX || length != total - cursor.consumed()) {
    return std::nullopt;
  }
  return cursor.Rest();
}

}  // namespace fedlearn
