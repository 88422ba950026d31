// Reads tests/common/dp/testdata/tf_privacy_reference.tsv, the table that
// reference/tf_privacy_rdp.py (a port of TF Privacy's and the DDG authors'
// accounting code) writes: tab-separated rows whose first field names their
// kind ("rdp", "eps", "ddg_tau", "ddg_rdp"); '#' lines are comments.
#ifndef FEDLEARN_TESTS_COMMON_DP_REFERENCE_TABLE_H_
#define FEDLEARN_TESTS_COMMON_DP_REFERENCE_TABLE_H_

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn::testing {

inline std::vector<std::vector<std::string>> ReadReferenceRows(
    const std::string& kind) {
  const std::string path = std::string(FEDLEARN_SOURCE_DIR) +
                           "/tests/common/dp/testdata/tf_privacy_reference.tsv";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, '\t')) fields.push_back(f);
    if (!fields.empty() && fields[0] == kind) rows.push_back(fields);
  }
  return rows;
}

}  // namespace fedlearn::testing

#endif  // FEDLEARN_TESTS_COMMON_DP_REFERENCE_TABLE_H_
