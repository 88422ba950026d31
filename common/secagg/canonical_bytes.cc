#include "common/secagg/canonical_bytes.h"

#include <algorithm>

namespace fedlearn {
namespace {

class ByteWriter {
 public:
  explicit ByteWriter(std::string_view label) { Field(label); }
  ByteWriter& Field(std::string_view bytes) {
    U32(static_cast<uint32_t>(bytes.size()));
    out_.append(bytes.data(), bytes.size());
    return *this;
  }
  ByteWriter& U32(uint32_t v) {
    for (int s = 24; s >= 0; s -= 8)
      out_.push_back(static_cast<char>((v >> s) & 0xff));
    return *this;
  }
  ByteWriter& U64(uint64_t v) {
    for (int s = 56; s >= 0; s -= 8)
      out_.push_back(static_cast<char>((v >> s) & 0xff));
    return *this;
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string AdvertiseSignaturePayload(std::string_view session_id,
                                      uint64_t round,
                                      std::string_view client_id,
                                      std::string_view encryption_public_key,
                                      std::string_view masking_public_key) {
  return ByteWriter("fedlearn/secagg/v1/advertise-keys")
      .Field(session_id)
      .U64(round)
      .Field(client_id)
      .Field(encryption_public_key)
      .Field(masking_public_key)
      .Take();
}

std::string ConsistencySignaturePayload(
    std::string_view session_id, uint64_t round,
    const std::vector<std::string>& survivors) {
  ByteWriter w("fedlearn/secagg/v1/consistency-check");
  w.Field(session_id).U64(round).U32(static_cast<uint32_t>(survivors.size()));
  for (const std::string& id : survivors) w.Field(id);
  return w.Take();
}

std::string KeySharesAssociatedData(std::string_view session_id, uint64_t round,
                                    std::string_view sender,
                                    std::string_view recipient) {
  return ByteWriter("fedlearn/secagg/v1/key-shares-aad")
      .Field(session_id)
      .U64(round)
      .Field(sender)
      .Field(recipient)
      .Take();
}

std::string KeySharesKeyInfo(std::string_view session_id, uint64_t round,
                             int index_a, int index_b) {
  return ByteWriter("fedlearn/secagg/v1/key-shares-key")
      .Field(session_id)
      .U64(round)
      .U32(static_cast<uint32_t>(std::min(index_a, index_b)))
      .U32(static_cast<uint32_t>(std::max(index_a, index_b)))
      .Take();
}

std::string MaskDomain(std::string_view session_id, uint64_t round,
                       MaskKind kind, std::string_view vector_name, int index_a,
                       int index_b) {
  ByteWriter w("fedlearn/secagg/v1/mask");
  w.Field(session_id).U64(round);
  if (kind == MaskKind::kSelf) {
    w.Field("self").Field(vector_name).U32(static_cast<uint32_t>(index_a));
  } else {
    w.Field("pair")
        .Field(vector_name)
        .U32(static_cast<uint32_t>(std::min(index_a, index_b)))
        .U32(static_cast<uint32_t>(std::max(index_a, index_b)));
  }
  return w.Take();
}

}  // namespace fedlearn
