// Small models for the round-engine tests: one flat float32 tensor.
#ifndef FEDLEARN_TESTS_SERVER_ROUND_TEST_MODELS_H_
#define FEDLEARN_TESTS_SERVER_ROUND_TEST_MODELS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "common/flat/flat_vector.h"

namespace fedlearn::testing {

// A model named "test" whose only tensor "w" holds `values`.
inline FlatModel MakeModel(std::vector<float> values) {
  FlatModel m;
  m.spec.architecture = "test";
  m.spec.tensors.push_back(
      TensorSpec{"w", {static_cast<int64_t>(values.size())}, DType::kFloat32});
  m.values = FlatVector(std::move(values));
  return m;
}

inline std::vector<float> Values(const FlatVector& v) {
  return std::vector<float>(v.data(), v.data() + v.size());
}

}  // namespace fedlearn::testing

#endif  // FEDLEARN_TESTS_SERVER_ROUND_TEST_MODELS_H_
