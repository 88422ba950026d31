// End to end over a bad network: the real coordinator and four real
// fedlearn-client daemons, mutual TLS, secure aggregation, with every
// client's connection going through a TcpFaultProxy that delays chunks,
// stalls directions, cuts connections after a random number of bytes and
// refuses new connections for short windows, plus one cut of every live
// connection mid-run. The run must end with every round released once, in
// order, and a valid model; the test prints what the proxy did.
#include <chrono>
#include <iostream>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/fault_federation.h"
#include "tests/test_util/tcp_fault_proxy.h"

namespace fedlearn {
namespace {

using testing_e2e::FaultFederation;
using testing_e2e::FaultRunConfig;
using testing_e2e::Process;
using testing_util::TcpFaultProxy;
using namespace std::chrono_literals;

TEST(NetworkFaultE2eTest,
     SecureRunFinishesEveryRoundThroughDropsDelaysAndCuts) {
  FaultFederation f;
  FaultRunConfig config;
  config.rounds = 3;
  int port = 0;
  auto coordinator = f.StartRun(config, &port);
  ASSERT_NE(coordinator, nullptr);

  TcpFaultProxy::Options faults;
  faults.target_port = port;
  faults.seed = 20261201;
  faults.delay_probability = 0.2;
  faults.max_delay_ms = 40;
  // A logistic-regression round moves ~70 KB per client each way, plus the
  // TLS handshake: most connections are cut within a round or two.
  faults.cut_probability = 0.6;
  faults.cut_after_min_bytes = 8 * 1024;
  faults.cut_after_max_bytes = 256 * 1024;
  faults.stall_probability = 0.01;
  faults.stall_ms = 400;
  faults.refuse_probability = 0.1;
  faults.refuse_window_ms = 300;
  auto proxy = TcpFaultProxy::Start(faults);
  ASSERT_TRUE(proxy.ok()) << proxy.status();

  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(f.StartClient(i, (*proxy)->port()));
  }
  // Once the first round is released, every live connection is cut at once.
  ASSERT_GT(f.WaitForLog(*coordinator, "round 1 attempt", 120s), 0u)
      << coordinator->Stderr();
  ASSERT_GT(f.WaitForLog(*coordinator, "secure mean of", 120s), 0u)
      << coordinator->Stderr();
  const int cut_at_once = (*proxy)->CutAllNow();

  const std::optional<int> exit_code = coordinator->Wait(150s);
  std::cout << "[ proxy    ] " << (*proxy)->DescribeCounters()
            << " (cut at once after round 1: " << cut_at_once << ")\n";
  ASSERT_EQ(exit_code, 0) << coordinator->Stderr();
  for (auto& c : clients) EXPECT_EQ(c->Wait(60s), 0) << c->Stderr();

  f.ExpectCompleteRunWithValidModel(config.rounds, config.min_updates);
  const TcpFaultProxy::Counters c = (*proxy)->counters();
  // The faults happened: the run did not pass for want of them.
  EXPECT_GT(c.cuts, 0u);
  EXPECT_GT(c.delays, 0u);
  EXPECT_GT(c.connections, 4u);  // reconnections after cuts
  EXPECT_GT(cut_at_once, 0);
}

}  // namespace
}  // namespace fedlearn
