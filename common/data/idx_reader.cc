#include "common/data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dims
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dim
constexpr uint64_t kMaxPayloadBytes = 100'000'000;
constexpr int32_t kMaxClasses = 10;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// An open IDX file; every error it reports names the file.
class IdxFile {
 public:
  static absl::StatusOr<IdxFile> Open(const std::string& path) {
    errno = 0;
    GzFile file(gzopen(path.c_str(), "rb"));
    if (file == nullptr) {
      const std::string what = absl::StrCat("cannot open IDX file ", path);
      return errno != 0 ? absl::ErrnoToStatus(errno, what)
                        : absl::InternalError(what);
    }
    return IdxFile(path, std::move(file));
  }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", what));
  }

  // Reads exactly out->size() bytes; `what` names them in the error.
  absl::Status ReadExact(absl::string_view what, std::vector<uint8_t>* out) {
    size_t done = 0;
    while (done < out->size()) {
      const unsigned chunk =
          static_cast<unsigned>(std::min<size_t>(out->size() - done, INT_MAX));
      const int n = gzread(file_.get(), out->data() + done, chunk);
      if (n < 0) {
        int code = 0;
        return Error(absl::StrCat("read error in ", what, ": ",
                                  gzerror(file_.get(), &code)));
      }
      if (n == 0) {
        return Error(absl::StrCat("truncated ", what, ": expected ",
                                  out->size(), " bytes, got ", done));
      }
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint32_t> ReadBigEndian32(absl::string_view what) {
    std::vector<uint8_t> b(4);
    RETURN_IF_ERROR(ReadExact(what, &b));
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) |
           (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }

  // Reads the magic number and the dimensions, checking the magic.
  absl::StatusOr<std::vector<uint32_t>> ReadHeader(uint32_t expected_magic,
                                                   int num_dims) {
    ASSIGN_OR_RETURN(uint32_t magic, ReadBigEndian32("header"));
    if (magic != expected_magic) {
      return Error(absl::StrCat(
          "bad magic number 0x", absl::Hex(magic, absl::kZeroPad8),
          ", expected 0x", absl::Hex(expected_magic, absl::kZeroPad8)));
    }
    std::vector<uint32_t> dims;
    for (int i = 0; i < num_dims; ++i) {
      ASSIGN_OR_RETURN(uint32_t dim, ReadBigEndian32("header"));
      if (dim == 0) return Error(absl::StrCat("dimension ", i, " is zero"));
      dims.push_back(dim);
    }
    return dims;
  }

 private:
  IdxFile(std::string path, GzFile file)
      : path_(std::move(path)), file_(std::move(file)) {}

  std::string path_;
  GzFile file_;
};

}  // namespace

absl::StatusOr<Dataset> LoadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path) {
  ASSIGN_OR_RETURN(IdxFile images, IdxFile::Open(images_path));
  ASSIGN_OR_RETURN(std::vector<uint32_t> image_dims,
                   images.ReadHeader(kImagesMagic, 3));
  const uint64_t count = image_dims[0];
  const uint64_t rows = image_dims[1];
  const uint64_t cols = image_dims[2];
  // rows * cols < 2^64; compare by division so count * rows * cols cannot
  // overflow either.
  if (count > kMaxPayloadBytes / (rows * cols)) {
    return images.Error(absl::StrCat("header announces ", count, " x ", rows,
                                     " x ", cols, " pixels, more than the ",
                                     kMaxPayloadBytes, " this reader accepts"));
  }

  ASSIGN_OR_RETURN(IdxFile labels_file, IdxFile::Open(labels_path));
  ASSIGN_OR_RETURN(std::vector<uint32_t> label_dims,
                   labels_file.ReadHeader(kLabelsMagic, 1));
  if (label_dims[0] != count) {
    return labels_file.Error(absl::StrCat("holds ", label_dims[0],
                                          " labels but ", images_path,
                                          " holds ", count, " images"));
  }

  std::vector<uint8_t> pixels(count * rows * cols);
  RETURN_IF_ERROR(images.ReadExact("image data", &pixels));
  std::vector<uint8_t> raw_labels(count);
  RETURN_IF_ERROR(labels_file.ReadExact("label data", &raw_labels));

  Dataset out;
  out.sample_shape = {1, static_cast<int64_t>(rows),
                      static_cast<int64_t>(cols)};
  out.features.reserve(pixels.size());
  for (uint8_t p : pixels) out.features.push_back(p / 255.0f);
  out.labels.reserve(count);
  for (size_t i = 0; i < raw_labels.size(); ++i) {
    if (raw_labels[i] >= kMaxClasses) {
      return labels_file.Error(absl::StrCat("label ", int{raw_labels[i]},
                                            " of sample ", i, " is not < ",
                                            kMaxClasses));
    }
    out.labels.push_back(raw_labels[i]);
    out.num_classes = std::max<int32_t>(out.num_classes, raw_labels[i] + 1);
  }
  return out;
}

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir,
                                         std::string_view split) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test") {
    prefix = "t10k";
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "Fashion-MNIST split must be \"train\" or \"test\", got \"",
        std::string(split), "\""));
  }
  ASSIGN_OR_RETURN(
      Dataset data,
      LoadIdxDataset(absl::StrCat(dir, "/", prefix, "-images-idx3-ubyte.gz"),
                     absl::StrCat(dir, "/", prefix, "-labels-idx1-ubyte.gz")));
  data.num_classes = kMaxClasses;
  data.class_names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                      "Coat",        "Sandal",    "Shirt",    "Sneaker",
                      "Bag",         "Ankle boot"};
  return data;
}

}  // namespace fedlearn
