// The test-only fault injection fedlearn-client installs for its hidden
// --testing-exit-after-secagg-messages flag.
#include "client/fault_injecting_transport.h"

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

// Answers every exchange with `status` (OK: an empty reply).
class ScriptedTransport : public CoordinatorTransport {
 public:
  absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string&, uint64_t, const v1::SecAggClientMessage*) override {
    ++exchanges;
    if (!status.ok()) return status;
    return SecAggExchangeReply{};
  }
  absl::StatusOr<ReceivedContract> GetContract() override { return No(); }
  absl::StatusOr<RegisterReply> Register(uint64_t,
                                         const std::string&) override {
    return No();
  }
  absl::Status Leave(bool, const std::string&) override { return No(); }
  absl::StatusOr<FetchReply> FetchTask(const std::string&, uint64_t) override {
    return No();
  }
  absl::Status PushResult(const OutgoingUpdate&) override { return No(); }
  absl::Status PushMaskedInput(const std::string&, uint64_t, uint64_t,
                               absl::Span<const uint32_t>, int,
                               absl::Span<const uint64_t>,
                               const std::string&) override {
    return No();
  }
  absl::StatusOr<bool> Heartbeat(const std::string&,
                                 std::string_view) override {
    return No();
  }
  void CancelInFlight() override { cancelled = true; }

  absl::Status status = absl::OkStatus();
  int exchanges = 0;
  bool cancelled = false;

 private:
  static absl::Status No() { return absl::UnimplementedError("scripted"); }
};

TEST(FaultInjectingTransportTest, FiresRightAfterTheNthDeliveredMessage) {
  ScriptedTransport inner;
  int faults = 0;
  FaultInjectingTransport transport(&inner, 2, [&] { ++faults; });
  v1::SecAggClientMessage message;
  EXPECT_TRUE(transport.SecAggExchange("run", 1, nullptr).ok());  // a poll
  EXPECT_TRUE(transport.SecAggExchange("run", 1, &message).ok());
  EXPECT_EQ(faults, 0);
  inner.status = absl::UnavailableError("down");  // not delivered
  EXPECT_FALSE(transport.SecAggExchange("run", 1, &message).ok());
  EXPECT_EQ(faults, 0);
  inner.status = absl::OkStatus();
  EXPECT_TRUE(transport.SecAggExchange("run", 1, &message).ok());
  EXPECT_EQ(faults, 1);
  EXPECT_TRUE(transport.SecAggExchange("run", 1, &message).ok());
  EXPECT_EQ(faults, 1);           // once
  EXPECT_EQ(inner.exchanges, 5);  // every call reaches the real transport
  transport.CancelInFlight();
  EXPECT_TRUE(inner.cancelled);
}

}  // namespace
}  // namespace fedlearn
