// Shared set-up for the ClientSession and ClientDaemon tests of secure
// rounds: certificates for a three-client cohort (client-001..client-003)
// under one CA, in a directory removed with the object, and a
// secure-aggregation task for that cohort. Single-threaded set-up only.
#ifndef FEDLEARN_TESTS_CLIENT_SECURE_SESSION_PARTS_H_
#define FEDLEARN_TESTS_CLIENT_SECURE_SESSION_PARTS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
#include "common/tls/provision_directory.h"
#include "tests/client/fake_session_parts.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {

// REQUIRES of the test: ASSERT_TRUE(identities.status().ok()) before use.
class ThreeClientIdentities {
 public:
  ThreeClientIdentities() {
    ProvisionOptions provision;
    provision.out_dir = dir_.path();
    provision.num_clients = 3;
    status_ = ProvisionDirectory(provision).status();
  }
  const absl::Status& status() const { return status_; }
  TlsConfig Tls(const std::string& client_id) const {
    return TlsConfig::FromDirectory(dir_.path(), client_id);
  }

 private:
  testing_util::ScopedTempDir dir_;
  absl::Status status_;
};

// Makes `reply`'s task a secure one of `round` for the cohort
// client-001..client-003: degree 2, threshold 2, a 32-bit modulus,
// `vector_length` encoded values, example counts up to 64.
inline void MakeCohortSecure(uint64_t round, uint64_t vector_length,
                             FetchReply* reply) {
  v1::SecAggConfig config;
  config.set_session_id(std::string(32, 's'));
  config.set_round(round);
  for (const char* id : {"client-001", "client-002", "client-003"}) {
    config.add_cohort(id);
  }
  config.set_degree(2);
  config.set_threshold(2);
  config.set_modulus_bits(32);
  config.set_vector_length(vector_length);
  reply->task->secagg = config;
  EncodingParameters encoding;
  encoding.max_weight = 64;
  encoding.max_clients = 3;
  reply->task->encoding = EncodingParametersToProto(encoding);
}

// A secure training task of `round` over `dimension` values for the cohort
// (MakeCohortSecure).
inline FetchReply SecureTaskReply(int64_t dimension, uint64_t round) {
  FetchReply reply = TaskReply(dimension, round);
  MakeCohortSecure(round, InputEncoder::EncodedLength(dimension), &reply);
  return reply;
}

}  // namespace fedlearn

#endif  // FEDLEARN_TESTS_CLIENT_SECURE_SESSION_PARTS_H_
