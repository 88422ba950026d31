// Checks on a coordinator's state directory for the crash-loop tests
// (crash_loop_e2e_test.cc): what must hold after any sequence of SIGKILLs,
// once the run was completed by a restarted coordinator, or after a graceful
// stop. Each check reports through gtest (ADD_FAILURE / EXPECT_*) and says
// which file and round broke it; none of them writes to the directory.
//
//  - ExpectConsistentStateDir: metrics.jsonl holds rounds 1..N exactly once,
//    in order, every line valid JSON; checkpoint.json names round N and its
//    metrics record; models/round-000000..N load through ReadModelFile
//    (header, CRC32), name their own round and hold finite values of one
//    dimension, and no model of a later round exists; no staged (*.staged)
//    or atomic-writer temporary (*.tmp.*) file is left anywhere; every
//    audit round_released names its round once, with the SHA-256 of the
//    model file on disk.
//  - ExpectEpsilonOfReleasedRounds: every DP metrics line's epsilon equals an
//    RdpAccountant that was given exactly that many rounds of the configured
//    (q, z), and the checkpoint's ledger holds exactly N such rounds.
//  - ModelDigests: the bytes of every published model file, to show that a
//    model, once published, is never replaced.
//
// Thread-compatible: plain functions over files.
#ifndef FEDLEARN_TESTS_E2E_CRASH_LOOP_CHECKS_H_
#define FEDLEARN_TESTS_E2E_CRASH_LOOP_CHECKS_H_

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/dp/rdp_accountant.h"
#include "common/wire/model_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/audit/auditing_round_listener.h"

namespace fedlearn::testing_e2e {

inline std::string SlurpFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string ModelFileName(const std::string& state, int round) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "round-%06d.fmodel", round);
  return state + "/models/" + buf;
}

// The JSON objects of a JSON-lines file; a line that is not JSON fails the
// test and is skipped.
inline std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(SlurpFile(path));
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ADD_FAILURE() << path << " line " << n
                    << " is not a JSON object: " << line;
      continue;
    }
    out.push_back(std::move(j));
  }
  return out;
}

// The committed round of checkpoint.json (-1 if absent or unreadable).
inline int CheckpointRound(const std::string& state) {
  nlohmann::json j = nlohmann::json::parse(
      SlurpFile(state + "/checkpoint.json"), nullptr, false);
  if (j.is_discarded() || !j.contains("completed_round")) return -1;
  return j["completed_round"].get<int>();
}

// Files under `state` whose name marks an unfinished write.
inline std::vector<std::string> LeftoverWrites(const std::string& state) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(state)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(state)) {
    const std::string name = e.path().filename().string();
    if (name.find(".staged") != std::string::npos ||
        name.find(".tmp.") != std::string::npos) {
      out.push_back(e.path().string());
    }
  }
  return out;
}

// Published model files (round -> bytes).
inline std::map<int, std::string> ModelDigests(const std::string& state) {
  std::map<int, std::string> out;
  if (!std::filesystem::exists(state + "/models")) return out;
  for (const auto& e : std::filesystem::directory_iterator(state + "/models")) {
    const std::string name = e.path().filename().string();
    int round = -1;
    char tail = 0;
    if (std::sscanf(name.c_str(), "round-%d.fmode%c", &round, &tail) == 2 &&
        name.size() == std::string("round-000000.fmodel").size()) {
      out[round] = SlurpFile(e.path().string());
    }
  }
  return out;
}

inline void ExpectModelsOfRounds(const std::string& state, int rounds) {
  size_t dimension = 0;
  for (int r = 0; r <= rounds; ++r) {
    absl::StatusOr<SavedModel> m = ReadModelFile(ModelFileName(state, r));
    ASSERT_TRUE(m.ok()) << ModelFileName(state, r) << ": " << m.status();
    EXPECT_EQ(m->ref.model_version(), static_cast<uint64_t>(r))
        << ModelFileName(state, r);
    EXPECT_TRUE(CheckAllFinite(m->model.values.span()).ok());
    if (r == 0) dimension = m->model.values.size();
    EXPECT_GT(dimension, 0u);
    EXPECT_EQ(m->model.values.size(), dimension) << ModelFileName(state, r);
  }
  const std::map<int, std::string> published = ModelDigests(state);
  EXPECT_EQ(published.size(), static_cast<size_t>(rounds + 1))
      << "model files of rounds after " << rounds << " exist";
}

inline void ExpectAuditReleasesOnce(const std::string& state) {
  std::map<int, int> releases;
  for (const nlohmann::json& j : ReadJsonLines(state + "/audit.jsonl")) {
    if (j.value("event", "") != "round_released") continue;
    const int round = j["details"]["round"].get<int>();
    EXPECT_EQ(++releases[round], 1) << "round " << round << " released twice";
    absl::StatusOr<SavedModel> m = ReadModelFile(ModelFileName(state, round));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(j["details"]["model_sha256"].get<std::string>(),
              ModelValuesSha256(m->model.values.span()))
        << "the model file of round " << round
        << " is not the model the audit log says was released";
  }
}

inline void ExpectConsistentStateDir(const std::string& state, int rounds) {
  SCOPED_TRACE("state directory " + state);
  const std::vector<nlohmann::json> lines =
      ReadJsonLines(state + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), static_cast<size_t>(rounds))
      << SlurpFile(state + "/metrics.jsonl");
  for (int i = 0; i < rounds; ++i) {
    EXPECT_EQ(lines[i].value("round", -1), i + 1)
        << "metrics.jsonl line " << i + 1 << ": " << lines[i].dump();
  }
  EXPECT_EQ(CheckpointRound(state), rounds);
  const nlohmann::json checkpoint = nlohmann::json::parse(
      SlurpFile(state + "/checkpoint.json"), nullptr, false);
  if (rounds > 0 && !checkpoint.is_discarded()) {
    EXPECT_EQ(checkpoint["metrics"], lines.back())
        << "the checkpoint's record is not the last metrics line";
  }
  EXPECT_EQ(LeftoverWrites(state), std::vector<std::string>{});
  ExpectModelsOfRounds(state, rounds);
  ExpectAuditReleasesOnce(state);
}

// The configured mechanism's epsilon after `steps` rounds, from the
// accountant alone (not the coordinator's ledger).
inline double IndependentEpsilon(double q, double z, double delta, int steps) {
  RdpAccountant accountant;
  EXPECT_TRUE(accountant.AddSteps(q, z, steps).ok());
  absl::StatusOr<RdpAccountant::Spent> spent =
      accountant.GetPrivacySpent(delta);
  EXPECT_TRUE(spent.ok()) << spent.status();
  return spent.ok() ? spent->epsilon : -1;
}

inline void ExpectEpsilonOfReleasedRounds(const std::string& state, double q,
                                          double z, double delta, int rounds) {
  const std::vector<nlohmann::json> lines =
      ReadJsonLines(state + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), static_cast<size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    ASSERT_TRUE(lines[i].contains("dp")) << lines[i].dump();
    const double recorded = lines[i]["dp"]["epsilon"].get<double>();
    const double expected = IndependentEpsilon(q, z, delta, i + 1);
    EXPECT_NEAR(recorded, expected, 1e-9 * expected)
        << "round " << i + 1 << " records epsilon " << recorded << ", but "
        << i + 1 << " released rounds of q=" << q << ", z=" << z << " cost "
        << expected;
  }
  const nlohmann::json checkpoint = nlohmann::json::parse(
      SlurpFile(state + "/checkpoint.json"), nullptr, false);
  ASSERT_FALSE(checkpoint.is_discarded());
  int64_t charged = 0;
  for (const nlohmann::json& e : checkpoint["dp"]["ledger"]) {
    EXPECT_EQ(e["sampling_rate"].get<double>(), q);
    EXPECT_EQ(e["noise_multiplier"].get<double>(), z);
    charged += e["rounds"].get<int64_t>();
  }
  EXPECT_EQ(charged, rounds) << "rounds charged != rounds released";
}

}  // namespace fedlearn::testing_e2e

#endif  // FEDLEARN_TESTS_E2E_CRASH_LOOP_CHECKS_H_
