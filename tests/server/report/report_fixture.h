// A coordinator state directory for the report tests, written with the
// coordinator's own metrics writer (RoundSummaryToJson), so the fixtures
// have exactly the keys a real run writes: metrics.jsonl, checkpoint.json
// and (optionally) run-config.toml.
#ifndef FEDLEARN_TESTS_SERVER_REPORT_REPORT_FIXTURE_H_
#define FEDLEARN_TESTS_SERVER_REPORT_REPORT_FIXTURE_H_

#include <cmath>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/round/round_types.h"
#include "server/run_store.h"

namespace fedlearn::testing_report {

struct RunFixture {
  std::string run_id = "report-test";
  int rounds = 5;
  bool dp = false;         // distributed DP, epsilon grows each round
  bool evaluation = true;  // test accuracy and loss
  int retried_round = 0;   // this round took 2 attempts (0 = none)
  bool write_config = true;
  double budget = 8.0;
};

inline RoundSummary FixtureRound(const RunFixture& f, int round) {
  RoundSummary s;
  s.run_id = f.run_id;
  s.round = static_cast<uint64_t>(round);
  s.model_version = s.round;
  s.attempt = round == f.retried_round ? 2 : 1;
  s.selected = 10 + round % 3;
  s.participants = s.selected - (round % 2);
  if (round % 2 == 1) s.dropped = {"site-" + std::to_string(round)};
  s.total_examples = 600.0 * s.participants;
  s.seconds = 2.0 + 0.25 * round;
  s.secure = f.dp;
  // DP rounds report no train loss (NaN, written as null).
  s.train_loss = f.dp ? std::nan("") : 2.0 / round;
  if (f.evaluation) {
    s.eval = EvalMetrics{0.5 + 0.3 * (1 - std::exp(-0.4 * round)),
                         1.8 * std::exp(-0.2 * round), 10000};
  }
  if (f.dp) {
    RoundSummary::Dp dp;
    dp.mode = "distributed";
    dp.epsilon = f.budget * std::sqrt(static_cast<double>(round) / f.rounds);
    dp.delta = 1e-5;
    dp.noise_multiplier = 0.87;
    dp.sampling_rate = 0.1;
    dp.expected_clients = 100;
    dp.clip_norm = 0.5 + 0.02 * round;
    dp.unclipped_fraction = 0.5;
    dp.state.clip_norm = dp.clip_norm + 0.02;
    s.dp = dp;
  }
  return s;
}

inline std::string FixtureMetrics(const RunFixture& f) {
  std::string out;
  for (int r = 1; r <= f.rounds; ++r) {
    out +=
        RoundSummaryToJson(FixtureRound(f, r), 1796134703798 + r * 2500) + "\n";
  }
  return out;
}

inline std::string FixtureConfig(const RunFixture& f) {
  return absl::StrCat("[run]\nid = \"", f.run_id, "\"\nrounds = ", f.rounds,
                      "\n\n[secagg]\nenabled = ", f.dp ? "true" : "false",
                      "\n\n[dp]\nmode = \"", f.dp ? "distributed" : "off",
                      "\"\ntarget_epsilon = ", f.dp ? f.budget : 0.0,
                      "\nepsilon_budget = 0.0\ndelta = 1e-5\n");
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline void WriteStateDir(const std::string& dir, const RunFixture& f) {
  WriteFile(dir + "/metrics.jsonl", FixtureMetrics(f));
  WriteFile(dir + "/checkpoint.json",
            absl::StrCat("{\"run_id\": \"", f.run_id,
                         "\", \"completed_round\": ", f.rounds, "}\n"));
  if (f.write_config) WriteFile(dir + "/run-config.toml", FixtureConfig(f));
}

}  // namespace fedlearn::testing_report

#endif  // FEDLEARN_TESTS_SERVER_REPORT_REPORT_FIXTURE_H_
