// fedlearn-sim's mode flags (apps/simulation/sim_flags.h): which
// combinations are refused, the client range, and the configuration every
// process of a scale-out run derives alike.
#include "apps/simulation/sim_flags.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

SimFlags Pool() {
  SimFlags f;
  f.clients_only = true;
  f.coordinator = "127.0.0.1:7443";
  f.client_range = "0:2";
  f.certs_dir = "/ca";
  return f;
}

std::string Refusal(const SimFlags& f) {
  absl::StatusOr<SimMode> mode = ModeOfFlags(f);
  EXPECT_FALSE(mode.ok());
  if (mode.ok()) return "";
  EXPECT_TRUE(absl::IsInvalidArgument(mode.status()));
  return std::string(mode.status().message());
}

TEST(SimFlagsTest, ModesFollowTheirFlags) {
  EXPECT_EQ(*ModeOfFlags(SimFlags()), SimMode::kSingleProcess);
  EXPECT_EQ(*ModeOfFlags(Pool()), SimMode::kClientsOnly);
  SimFlags coordinator;
  coordinator.coordinator_only = true;
  coordinator.certs_dir = "/ca";
  coordinator.listen = "127.0.0.1:7443";
  EXPECT_EQ(*ModeOfFlags(coordinator), SimMode::kCoordinatorOnly);
  SimFlags insecure_pool = Pool();
  insecure_pool.certs_dir.clear();
  insecure_pool.insecure = true;
  EXPECT_EQ(*ModeOfFlags(insecure_pool), SimMode::kClientsOnly);
}

TEST(SimFlagsTest, RefusesCombinationsThatCannotWork) {
  SimFlags both = Pool();
  both.coordinator_only = true;
  EXPECT_THAT(Refusal(both), HasSubstr("exclude each other"));
  for (std::string SimFlags::*field :
       {&SimFlags::coordinator, &SimFlags::client_range,
        &SimFlags::server_name}) {
    SimFlags f;
    f.*field = "x";
    EXPECT_THAT(Refusal(f), HasSubstr("need --clients-only"));
  }
  SimFlags no_target = Pool();
  no_target.coordinator.clear();
  EXPECT_THAT(Refusal(no_target), HasSubstr("--coordinator HOST:PORT"));
  SimFlags no_range = Pool();
  no_range.client_range.clear();
  EXPECT_THAT(Refusal(no_range), HasSubstr("--client-range A:B"));
  SimFlags no_certs = Pool();
  no_certs.certs_dir.clear();
  EXPECT_THAT(Refusal(no_certs), HasSubstr("need --certs DIR"));
  SimFlags coordinator_no_certs;
  coordinator_no_certs.coordinator_only = true;
  EXPECT_THAT(Refusal(coordinator_no_certs), HasSubstr("need --certs DIR"));
  SimFlags listen;
  listen.listen = "127.0.0.1:1";
  EXPECT_THAT(Refusal(listen), HasSubstr("--listen needs --coordinator-only"));
  SimFlags pool_state = Pool();
  pool_state.state_dir = "/state";
  EXPECT_THAT(Refusal(pool_state), HasSubstr("keeps none"));
}

TEST(SimFlagsTest, ClientRangeIsHalfOpenWithinTheRun) {
  absl::StatusOr<ClientRange> range = ParseClientRange("2:4", 6);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->begin, 2);
  EXPECT_EQ(range->end, 4);
  EXPECT_EQ(range->size(), 2);
  EXPECT_TRUE(ParseClientRange("0:6", 6).ok());
  EXPECT_TRUE(ParseClientRange("99999:100000", 100000).ok());
  for (const char* bad : {"4:7", "3:3", "4:2", "-1:2", "6:7"}) {
    absl::StatusOr<ClientRange> r = ParseClientRange(bad, 6);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("need 0 <= A < B <= 6")) << bad;
  }
  for (const char* bad : {"", "2", "a:b", "1:2:3", "1-2"}) {
    absl::StatusOr<ClientRange> r = ParseClientRange(bad, 6);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("must be A:B")) << bad;
  }
}

TEST(SimFlagsTest, ClientNamesAreOneBasedAndZeroPadded) {
  EXPECT_EQ(SimulatedClientName(0), "client-001");
  EXPECT_EQ(SimulatedClientName(41), "client-042");
  EXPECT_EQ(SimulatedClientName(99999), "client-100000");
}

TEST(SimFlagsTest, EveryProcessDerivesTheSameRunFromTheSameFlags) {
  SimFlags single;
  single.clients = 3;
  single.rounds = 2;
  single.seed = 9;
  single.partition = "iid";
  SimFlags coordinator = single;
  coordinator.coordinator_only = true;
  coordinator.certs_dir = "/ca";
  coordinator.listen = "127.0.0.1:7443";
  SimFlags pool = single;
  pool.clients_only = true;
  absl::StatusOr<CoordinatorConfig> a =
      LoadSimulationConfig(single, SimMode::kSingleProcess);
  absl::StatusOr<CoordinatorConfig> b =
      LoadSimulationConfig(coordinator, SimMode::kCoordinatorOnly);
  absl::StatusOr<CoordinatorConfig> c =
      LoadSimulationConfig(pool, SimMode::kClientsOnly);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(c.ok()) << c.status();
  for (const CoordinatorConfig* config : {&*a, &*b, &*c}) {
    EXPECT_EQ(config->simulation.clients, 3);
    EXPECT_EQ(config->simulation.partition, "iid");
    EXPECT_EQ(config->engine.num_rounds, 2);
    EXPECT_EQ(config->engine.seed, 9u);
    EXPECT_EQ(config->model_seed, 9u);
    EXPECT_EQ(config->engine.training.seed, 9u);
    EXPECT_LE(config->engine.min_clients, 3);
    EXPECT_LE(config->engine.min_updates, 3);
  }
  EXPECT_EQ(a->engine.min_clients, b->engine.min_clients);
  EXPECT_EQ(a->engine.min_updates, b->engine.min_updates);
  // Both coordinators admit exactly the run's clients; a pool enrols none.
  EXPECT_THAT(a->identity.enrolled_clients,
              ElementsAre("client-001", "client-002", "client-003"));
  EXPECT_EQ(b->identity.enrolled_clients, a->identity.enrolled_clients);
  EXPECT_TRUE(c->identity.enrolled_clients.empty());
  EXPECT_EQ(a->listen, "127.0.0.1:0");
  EXPECT_EQ(b->listen, "127.0.0.1:7443");
}

}  // namespace
}  // namespace fedlearn
