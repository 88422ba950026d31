#include "common/wire/model_file.h"

#include <zlib.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"
#include "common/wire/proto_conversion.h"

namespace fedlearn {
namespace {

constexpr char kMagic[8] = {'F', 'L', 'M', 'O', 'D', 'E', 'L', '1'};
constexpr uint32_t kMaxHeaderBytes = 16 << 20;

uint32_t Crc32(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt n = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), n);
    data += n;
    size -= n;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

absl::Status WriteModelFile(const std::string& path, const v1::RoundRef& ref,
                            const FlatModel& model) {
  if (static_cast<int64_t>(model.values.size()) != model.spec.NumElements()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model has ", model.values.size(), " values but its spec describes ",
        model.spec.NumElements()));
  }
  std::string payload;
  AppendFloat32LE(model.values.span(), &payload);
  v1::ModelFileHeader header;
  *header.mutable_ref() = ref;
  *header.mutable_spec() = ToProto(model.spec);
  header.set_num_values(model.values.size());
  header.set_crc32(Crc32(payload.data(), payload.size()));
  const std::string header_bytes = header.SerializeAsString();

  std::string out(kMagic, sizeof(kMagic));
  const uint32_t len = static_cast<uint32_t>(header_bytes.size());
  for (int b = 0; b < 4; ++b) out.push_back(char((len >> (8 * b)) & 0xff));
  out += header_bytes;
  out += payload;
  return WriteFileAtomically(path, out);
}

absl::StatusOr<SavedModel> ReadModelFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  const std::string& data = bytes;
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("model file ", path, ": ", why));
  };
  if (data.size() < sizeof(kMagic) + 4 ||
      std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    return corrupt("not a fedlearn model file (bad magic)");
  }
  uint32_t len = 0;
  for (int b = 0; b < 4; ++b) {
    len |= uint32_t(static_cast<unsigned char>(data[sizeof(kMagic) + b]))
           << (8 * b);
  }
  const size_t header_start = sizeof(kMagic) + 4;
  if (len > kMaxHeaderBytes || header_start + len > data.size()) {
    return corrupt("truncated header");
  }
  v1::ModelFileHeader header;
  if (!header.ParseFromArray(data.data() + header_start,
                             static_cast<int>(len))) {
    return corrupt("unparseable header");
  }
  absl::StatusOr<ModelSpec> spec = FromProto(header.spec());
  if (!spec.ok()) return corrupt(spec.status().message());
  const std::string_view payload(data.data() + header_start + len,
                                 data.size() - header_start - len);
  if (header.num_values() != static_cast<uint64_t>(spec->NumElements()) ||
      payload.size() != header.num_values() * 4) {
    return corrupt(absl::StrCat("payload is ", payload.size(),
                                " bytes, expected ", header.num_values() * 4));
  }
  if (Crc32(payload.data(), payload.size()) != header.crc32()) {
    return corrupt("checksum mismatch");
  }
  SavedModel saved;
  saved.ref = header.ref();
  saved.model.spec = *std::move(spec);
  saved.model.values = FlatVector(header.num_values());
  absl::Status status = DecodeFloat32LE(payload, saved.model.values.span());
  if (!status.ok()) return status;
  return saved;
}

}  // namespace fedlearn
