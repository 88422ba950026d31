// ParseSafetensors (common/wire/safetensors_reader.h), the reader of the
// pre-trained weights a coordinator operator supplies, on arbitrary bytes in
// a buffer of exactly their size (so ASan reports any over-read). First
// byte: bit 0 clear, the rest is the file as it is; set, the next two bytes
// (LE) are a header length h and the rest is h bytes of header followed by
// the byte buffer, and the target writes the 8-byte length itself (so a
// mutation inside the JSON keeps a consistent prefix). An accepted file must
// keep the header's promises: known dtypes, values for exactly the float
// tensors and of their element count, unique names, and tensors that cover
// the byte buffer exactly; and ReadSafetensorsFile of the same bytes must
// give the same tensors.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/wire/safetensors_reader.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using fedlearn::NamedTensor;
using fedlearn::fuzz::FuzzCheck;

uint64_t DtypeBytes(const std::string& dtype) {
  for (const char* one : {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3"}) {
    if (dtype == one) return 1;
  }
  for (const char* two : {"I16", "U16", "F16", "BF16"}) {
    if (dtype == two) return 2;
  }
  for (const char* four : {"I32", "U32", "F32"}) {
    if (dtype == four) return 4;
  }
  for (const char* eight : {"I64", "U64", "F64"}) {
    if (dtype == eight) return 8;
  }
  return 0;
}

// The contract of an accepted file of `size` bytes with header length `n`.
void CheckAccepted(const std::vector<NamedTensor>& tensors, uint64_t size,
                   uint64_t n) {
  std::set<std::string> names;
  unsigned __int128 covered = 0;
  for (const NamedTensor& t : tensors) {
    FuzzCheck(names.insert(t.name).second, "two tensors share a name");
    FuzzCheck(t.name != "__metadata__", "__metadata__ returned as a tensor");
    const uint64_t width = DtypeBytes(t.dtype);
    FuzzCheck(width != 0, "accepted an unknown dtype");
    unsigned __int128 numel = 1;
    for (int64_t d : t.shape) {
      FuzzCheck(d >= 0, "accepted a negative dimension");
      numel *= static_cast<uint64_t>(d);
      if (numel > size) numel = size + 1;  // bounded by the buffer below
    }
    const bool is_float = t.dtype == "F32" || t.dtype == "F64" ||
                          t.dtype == "F16" || t.dtype == "BF16";
    FuzzCheck(t.convertible == is_float, "convertible disagrees with dtype");
    FuzzCheck(t.values.size() == (is_float ? numel : 0),
              "values do not match the shape");
    covered += numel * width;
  }
  FuzzCheck(covered == size - 8 - n, "tensors do not cover the byte buffer");
}

bool Same(const std::vector<NamedTensor>& a,
          const std::vector<NamedTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].dtype != b[i].dtype ||
        a[i].shape != b[i].shape || a[i].values.size() != b[i].values.size() ||
        (!a[i].values.empty() &&
         std::memcmp(a[i].values.data(), b[i].values.data(),
                     a[i].values.size() * sizeof(float)) != 0)) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fedlearn::fuzz::ScratchFile* file =
      new fedlearn::fuzz::ScratchFile("safetensors");
  if (size == 0) return 0;
  const char* rest = reinterpret_cast<const char*>(data + 1);
  size_t rest_size = size - 1;
  std::unique_ptr<char[]> owned;
  std::string_view bytes(rest, rest_size);
  if ((data[0] & 1) != 0) {
    if (rest_size < 2) return 0;
    const uint64_t h =
        std::min<uint64_t>(data[1] | (data[2] << 8), rest_size - 2);
    // An exactly-sized copy: prefix + header + buffer.
    owned.reset(new char[8 + rest_size - 2]);
    for (int b = 0; b < 8; ++b) owned[b] = static_cast<char>(h >> (8 * b));
    std::memcpy(owned.get() + 8, rest + 2, rest_size - 2);
    bytes = std::string_view(owned.get(), 8 + rest_size - 2);
  }
  absl::StatusOr<std::vector<NamedTensor>> parsed =
      fedlearn::ParseSafetensors(bytes, "fuzz-input");
  if (!parsed.ok()) {
    FuzzCheck(parsed.status().code() == absl::StatusCode::kDataLoss,
              "a malformed file is not DataLoss");
    return 0;
  }
  uint64_t n = 0;
  for (int b = 0; b < 8; ++b) {
    n |= uint64_t{static_cast<unsigned char>(bytes[b])} << (8 * b);
  }
  CheckAccepted(*parsed, bytes.size(), n);
  if (!file->Write(bytes)) return 0;
  absl::StatusOr<std::vector<NamedTensor>> read =
      fedlearn::ReadSafetensorsFile(file->path());
  FuzzCheck(read.ok() && Same(*read, *parsed),
            "the file reader disagrees with the in-memory parser");
  return 0;
}
