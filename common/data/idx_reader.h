// Reader for the IDX format of MNIST-style image datasets
// (http://yann.lecun.com/exdb/mnist/), gzip-compressed or plain: zlib's
// gzread passes uncompressed files through unchanged.
//
// Accepts only unsigned-byte IDX files: images with magic 0x00000803 and
// three big-endian dimensions (count, rows, cols), labels with magic
// 0x00000801 and one dimension (count). Pixels are scaled from [0, 255] to
// [0, 1]; samples have shape {1, rows, cols}. Refuses, with a status naming
// the file, wrong magic, zero dimensions, image/label count mismatch,
// truncated data, labels >= 10, and headers announcing more than 1e8 bytes
// of payload (so a corrupt header cannot trigger a huge allocation).
#ifndef FEDLEARN_COMMON_DATA_IDX_READER_H_
#define FEDLEARN_COMMON_DATA_IDX_READER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace fedlearn {

// Where Debian-style deployments keep the Fashion-MNIST files.
constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Loads an image file and its label file. num_classes = max label + 1.
// A missing file yields NotFound; malformed content InvalidArgument.
absl::StatusOr<Dataset> LoadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path);

// Loads Fashion-MNIST (Xiao et al. 2017) from `dir`, which holds the four
// files as distributed ("train-images-idx3-ubyte.gz", "t10k-...", ...).
// `split` is "train" (60000 samples) or "test" (10000). Sets num_classes = 10
// and the class names.
absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir,
                                         std::string_view split);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_IDX_READER_H_
