#include "common/wire/safetensors_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace fedlearn {
namespace {

using Json = nlohmann::json;

// Element size of each dtype the format defines (safetensors' Dtype enum).
int DtypeBytes(const std::string& dtype) {
  static const std::pair<const char*, int> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (const auto& [name, size] : kSizes) {
    if (dtype == name) return size;
  }
  return 0;
}

uint64_t ReadU64LE(const char* p) {
  uint64_t v = 0;
  for (int b = 0; b < 8; ++b) {
    v |= uint64_t(static_cast<unsigned char>(p[b])) << (8 * b);
  }
  return v;
}

// IEEE 754 binary16 to binary32 (exact: every half is a float).
float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const int exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity()
                              : std::numeric_limits<float>::quiet_NaN();
  } else {
    magnitude =
        std::ldexp(static_cast<float>(mantissa | 0x400u), exponent - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &magnitude, 4);
  bits |= sign;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

// Converts `n` little-endian values of `dtype` at `p` to float32.
void Convert(const std::string& dtype, const char* p, size_t n,
             std::vector<float>* out) {
  out->resize(n);
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) {
    if (dtype == "F32") {
      const uint32_t bits = u[4 * i] | (u[4 * i + 1] << 8) |
                            (u[4 * i + 2] << 16) |
                            (uint32_t(u[4 * i + 3]) << 24);
      std::memcpy(&(*out)[i], &bits, 4);
    } else if (dtype == "F64") {
      uint64_t bits = 0;
      for (int b = 0; b < 8; ++b) bits |= uint64_t(u[8 * i + b]) << (8 * b);
      double d;
      std::memcpy(&d, &bits, 8);
      (*out)[i] = static_cast<float>(d);
    } else if (dtype == "F16") {
      (*out)[i] = HalfToFloat(uint16_t(u[2 * i] | (u[2 * i + 1] << 8)));
    } else {  // BF16: the upper half of a float32.
      const uint32_t bits = uint32_t(u[2 * i] | (u[2 * i + 1] << 8)) << 16;
      std::memcpy(&(*out)[i], &bits, 4);
    }
  }
}

// Parses the header, refusing duplicate keys at any depth (nlohmann-json
// would keep the last one silently).
absl::StatusOr<Json> ParseHeaderJson(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  bool duplicate = false;
  std::string duplicate_key;
  auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Json::parse_event_t::key && !open_objects.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second && !duplicate) {
        duplicate = true;
        duplicate_key = key;
      }
    }
    return true;
  };
  Json header = Json::parse(text.begin(), text.end(), callback,
                            /*allow_exceptions=*/false);
  if (header.is_discarded()) {
    return absl::InvalidArgumentError("the header is not valid JSON");
  }
  if (duplicate) {
    return absl::InvalidArgumentError(
        absl::StrCat("the header has the key \"",
                     EscapeUntrusted(duplicate_key, 64), "\" twice"));
  }
  if (!header.is_object()) {
    return absl::InvalidArgumentError("the header is not a JSON object");
  }
  return header;
}

struct Entry {
  NamedTensor tensor;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t numel = 1;
};

absl::Status CheckMetadata(const Json& metadata) {
  if (!metadata.is_object()) {
    return absl::InvalidArgumentError("__metadata__ is not an object");
  }
  for (const auto& item : metadata.items()) {
    if (!item.value().is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("__metadata__ value of \"",
                       EscapeUntrusted(item.key(), 64), "\" is not a string"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Entry> ParseEntry(const std::string& name, const Json& info) {
  const std::string who =
      absl::StrCat("tensor \"", EscapeUntrusted(name, 64), "\"");
  if (!info.is_object() || info.size() != 3 || !info.contains("dtype") ||
      !info.contains("shape") || !info.contains("data_offsets")) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, " needs exactly \"dtype\", \"shape\" and \"data_offsets\""));
  }
  Entry e;
  e.tensor.name = name;
  const Json& dtype = info["dtype"];
  if (!dtype.is_string()) {
    // Named by type only: dump() recurses, and a deeply nested value would
    // overflow the stack.
    return absl::InvalidArgumentError(absl::StrCat(
        who, " has an unknown dtype (a JSON ", dtype.type_name(), ")"));
  }
  if (DtypeBytes(dtype.get<std::string>()) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, " has an unknown dtype ", EscapeUntrusted(dtype.dump(), 32)));
  }
  e.tensor.dtype = dtype.get<std::string>();
  const Json& shape = info["shape"];
  if (!shape.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": shape not a list"));
  }
  for (const Json& d : shape) {
    if (!d.is_number_unsigned() ||
        d.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": shape holds a value that is not a size"));
    }
    const uint64_t dim = d.get<uint64_t>();
    if (dim != 0 && e.numel > std::numeric_limits<uint64_t>::max() / 8 / dim) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": shape overflows"));
    }
    e.numel *= dim;
    e.tensor.shape.push_back(static_cast<int64_t>(dim));
  }
  const Json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 ||
      !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": data_offsets is not two byte offsets"));
  }
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  if (e.end < e.begin ||
      e.end - e.begin != e.numel * DtypeBytes(e.tensor.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": data_offsets [", e.begin, ", ", e.end,
                     ") do not hold ", e.numel, " values of ", e.tensor.dtype));
  }
  return e;
}

// The reference implementation's rule: sorted by offset, the tensors tile
// the byte buffer exactly (no overlap, no hole, nothing after the last).
absl::Status CheckTiling(std::vector<const Entry*> sorted, uint64_t size) {
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return std::make_pair(a->begin, a->end) < std::make_pair(b->begin, b->end);
  });
  uint64_t next = 0;
  for (const Entry* e : sorted) {
    if (e->begin != next) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor \"", EscapeUntrusted(e->tensor.name, 64), "\" starts at ",
          e->begin, ", expected ", next,
          e->begin < next ? " (overlapping tensors)" : " (a hole)"));
    }
    next = e->end;
  }
  if (next != size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tensors cover ", next, " bytes of a ", size, "-byte buffer"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>> Parse(std::string_view bytes) {
  if (bytes.size() < 8)
    return absl::InvalidArgumentError("shorter than 8 bytes");
  const uint64_t n = ReadU64LE(bytes.data());
  if (n > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header length ", n, " exceeds ", kMaxSafetensorsHeaderBytes));
  }
  if (n > bytes.size() - 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header length ", n, " exceeds the file (", bytes.size(), " bytes)"));
  }
  const std::string_view text = bytes.substr(8, n);
  if (text.empty() || text[0] != '{') {
    return absl::InvalidArgumentError("the header does not start with '{'");
  }
  ASSIGN_OR_RETURN(Json header, ParseHeaderJson(text));
  const std::string_view buffer = bytes.substr(8 + n);
  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      RETURN_IF_ERROR(CheckMetadata(item.value()));
      continue;
    }
    ASSIGN_OR_RETURN(Entry e, ParseEntry(item.key(), item.value()));
    entries.push_back(std::move(e));
  }
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries) sorted.push_back(&e);
  RETURN_IF_ERROR(CheckTiling(std::move(sorted), buffer.size()));
  std::vector<NamedTensor> out;
  for (Entry& e : entries) {
    const std::string& dtype = e.tensor.dtype;
    e.tensor.convertible =
        dtype == "F32" || dtype == "F64" || dtype == "F16" || dtype == "BF16";
    if (e.tensor.convertible) {
      Convert(dtype, buffer.data() + e.begin, e.numel, &e.tensor.values);
    }
    out.push_back(std::move(e.tensor));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<NamedTensor>> ParseSafetensors(
    std::string_view bytes, const std::string& origin) {
  absl::StatusOr<std::vector<NamedTensor>> parsed = Parse(bytes);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat("safetensors file ", origin, ": ",
                                            parsed.status().message()));
  }
  return parsed;
}

absl::StatusOr<std::vector<NamedTensor>> ReadSafetensorsFile(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return ParseSafetensors(bytes, path);
}

}  // namespace fedlearn
