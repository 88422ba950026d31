// LoadIdxDataset (common/data/idx_reader.h) on arbitrary image and label
// files (plain or gzip: zlib passes plain bytes through). The input is split
// at a point its first two bytes choose. A dataset it accepts must be
// consistent: as many labels as images, every pixel in [0, 1], every label
// below num_classes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/data/idx_reader.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fedlearn::fuzz::ScratchFile* images =
      new fedlearn::fuzz::ScratchFile("idx-images");
  static const fedlearn::fuzz::ScratchFile* labels =
      new fedlearn::fuzz::ScratchFile("idx-labels");
  if (size < 2) return 0;
  const size_t split = (size_t{data[0]} << 8 | data[1]) % (size - 1);
  const std::string_view rest(reinterpret_cast<const char*>(data + 2),
                              size - 2);
  if (!images->Write(rest.substr(0, split)) ||
      !labels->Write(rest.substr(split))) {
    return 0;
  }
  absl::StatusOr<fedlearn::Dataset> dataset =
      fedlearn::LoadIdxDataset(images->path(), labels->path());
  if (!dataset.ok()) return 0;
  fedlearn::fuzz::FuzzCheck(
      dataset->features.size() ==
          dataset->labels.size() * static_cast<size_t>(dataset->SampleNumel()),
      "features and labels disagree");
  for (float v : dataset->features) {
    fedlearn::fuzz::FuzzCheck(v >= 0 && v <= 1, "pixel outside [0, 1]");
  }
  for (int32_t label : dataset->labels) {
    fedlearn::fuzz::FuzzCheck(label >= 0 && label < dataset->num_classes,
                              "label outside [0, num_classes)");
  }
  return 0;
}
