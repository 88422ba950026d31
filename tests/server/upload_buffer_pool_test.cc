// UpdateBufferPool (server/round/update_buffer_pool.h) and its use by
// UploadAssembler and the engine: bounded, reused without clearing, and
// every way an upload can end gives its buffer back.
#include <algorithm>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "server/round/update_buffer_pool.h"
#include "server/upload_assembler.h"
#include "tests/server/round/test_models.h"
#include "tests/test_util/float_bytes.h"

namespace fedlearn {
namespace {

using testing_util::FloatBytes;

constexpr char kRun[] = "pool-run";
constexpr size_t kDim = 6;

v1::UpdateHeader Header(uint64_t round = 1) {
  v1::UpdateHeader header;
  header.mutable_ref()->set_run_id(kRun);
  header.mutable_ref()->set_round(round);
  header.mutable_ref()->set_model_version(round - 1);
  header.set_num_examples(5);
  header.set_num_values(kDim);
  header.set_train_loss(0.5);
  return header;
}

// A whole upload of `values`, fed as two pieces cut inside a value.
UploadAssembler Assemble(const std::vector<float>& values,
                         std::shared_ptr<UpdateBufferPool> pool) {
  UploadAssembler a =
      UploadAssembler::ForUpdate(Header(), kDim, 100, std::move(pool));
  const std::string bytes = FloatBytes(values);
  const std::string_view all(bytes);
  const std::string_view pieces[] = {all.substr(0, 7), all.substr(7)};
  EXPECT_TRUE(a.FeedPayload(pieces).ok());
  EXPECT_TRUE(a.CheckComplete().ok());
  return a;
}

TEST(UploadBufferPoolTest, KeepsAtMostCapacityBuffersAndReusesThem) {
  auto pool = UpdateBufferPool::Create(2);
  std::vector<FlatVector> held;
  for (int i = 0; i < 3; ++i) held.push_back(pool->Acquire(kDim));
  EXPECT_EQ(pool->allocated(), 3u);
  const float* first = held[0].data();
  for (FlatVector& b : held) pool->Recycle(std::move(b));
  EXPECT_EQ(pool->cached(), 2u);  // the third is freed
  FlatVector again = pool->Acquire(kDim);
  EXPECT_EQ(pool->reused(), 1u);
  EXPECT_EQ(again.size(), kDim);
  FlatVector other = pool->Acquire(kDim);
  EXPECT_TRUE(again.data() == first || other.data() == first);
  EXPECT_EQ(pool->cached(), 0u);
}

TEST(UploadBufferPoolTest, OtherSizesAreNeverHandedOut) {
  auto pool = UpdateBufferPool::Create(4);
  pool->Recycle(pool->Acquire(kDim));
  pool->Recycle(FlatVector(kDim + 1));  // not the size in use: freed
  pool->Recycle(FlatVector());          // moved-from: ignored
  EXPECT_EQ(pool->cached(), 1u);
  // A new model size drops the old buffers.
  EXPECT_EQ(pool->Acquire(kDim + 2).size(), kDim + 2);
  EXPECT_EQ(pool->cached(), 0u);
  EXPECT_EQ(pool->reused(), 0u);
}

TEST(UploadBufferPoolTest, ZeroCapacityKeepsNothing) {
  auto pool = UpdateBufferPool::Create(0);
  pool->Recycle(pool->Acquire(kDim));
  EXPECT_EQ(pool->cached(), 0u);
}

TEST(UploadBufferReuseTest, ReusedBufferGivesTheSameSubmissionAsAFreshOne) {
  auto pool = UpdateBufferPool::Create(1);
  const std::vector<float> first = {1e30f, -1e30f, 3, 4, 5, 6};
  const std::vector<float> second = {0.5f, -0.25f, 0, 1e-3f, -7, 2};
  { UpdateSubmission spent = Assemble(first, pool).TakeUpdate(); }
  ASSERT_EQ(pool->cached(), 1u);  // the destroyed submission gave it back

  UpdateSubmission reused = Assemble(second, pool).TakeUpdate();
  UpdateSubmission fresh = Assemble(second, nullptr).TakeUpdate();
  EXPECT_EQ(pool->reused(), 1u);
  EXPECT_EQ(testing::Values(reused.delta), second);
  ASSERT_TRUE(reused.squared_norm.has_value());
  EXPECT_EQ(*reused.squared_norm, *fresh.squared_norm);  // bit for bit
}

TEST(UploadBufferReuseTest, AShortUploadOverAReusedBufferIsStillIncomplete) {
  auto pool = UpdateBufferPool::Create(1);
  { UpdateSubmission spent = Assemble({1, 2, 3, 4, 5, 6}, pool).TakeUpdate(); }
  UploadAssembler a = UploadAssembler::ForUpdate(Header(), kDim, 100, pool);
  const std::string bytes = FloatBytes({9, 9, 9});
  const std::string_view piece(bytes);
  ASSERT_TRUE(a.FeedPayload(absl::MakeConstSpan(&piece, 1)).ok());
  // The old values behind the new ones never make the upload complete.
  EXPECT_FALSE(a.CheckComplete().ok());
  EXPECT_EQ(pool->cached(), 0u);
}

TEST(UploadBufferReuseTest, AnAbandonedUploadGivesItsBufferBack) {
  auto pool = UpdateBufferPool::Create(2);
  {
    UploadAssembler a = UploadAssembler::ForUpdate(Header(), kDim, 100, pool);
    const std::string bytes = FloatBytes({1, 2});
    const std::string_view piece(bytes);
    ASSERT_TRUE(a.FeedPayload(absl::MakeConstSpan(&piece, 1)).ok());
    EXPECT_EQ(pool->cached(), 0u);
  }  // cancelled, timed out or refused mid-stream: the reactor drops it
  EXPECT_EQ(pool->cached(), 1u);
}

// The streamed copy (whole 32-byte groups) and the plain edges together:
// the bytes land exactly, and the squared norm is the lane-wise sum
// (value index % 8, each lane in index order, then lanes 0..7) however the
// payload is cut, inside values or not.
TEST(UploadBufferReuseTest, CutsAnywhereGiveTheExactBytesAndLaneNorm) {
  constexpr size_t kValues = 1003;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> values(kValues);
  for (float& v : values) v = normal(rng);
  double lanes[8] = {};
  for (size_t i = 0; i < kValues; ++i) {
    lanes[i % 8] += static_cast<double>(values[i]) * values[i];
  }
  double expected = 0;
  for (double lane : lanes) expected += lane;
  const std::string bytes = FloatBytes(values);
  auto pool = UpdateBufferPool::Create(1);
  for (int trial = 0; trial < 50; ++trial) {
    v1::UpdateHeader header = Header();
    header.set_num_values(kValues);
    UploadAssembler a = UploadAssembler::ForUpdate(header, kValues, 10, pool);
    // Random pieces of 0..199 bytes, fed as up to three chunks.
    std::vector<std::string_view> pieces;
    std::uniform_int_distribution<size_t> len(0, 199);
    for (size_t at = 0; at < bytes.size();) {
      const size_t n = std::min(len(rng), bytes.size() - at);
      pieces.push_back(std::string_view(bytes).substr(at, n));
      at += n;
    }
    const size_t cut1 = pieces.size() / 3, cut2 = 2 * pieces.size() / 3;
    auto span = absl::MakeConstSpan(pieces);
    // Chunks must hold whole values: cut where the byte count allows.
    size_t fed = 0, bytes_fed = 0;
    for (size_t cut : {cut1, cut2, pieces.size()}) {
      size_t chunk_bytes = 0;
      for (size_t i = fed; i < cut; ++i) chunk_bytes += pieces[i].size();
      if ((bytes_fed + chunk_bytes) % 4 != 0 && cut != pieces.size()) continue;
      ASSERT_TRUE(a.FeedPayload(span.subspan(fed, cut - fed)).ok());
      fed = cut;
      bytes_fed += chunk_bytes;
    }
    ASSERT_TRUE(a.CheckComplete().ok());
    UpdateSubmission s = a.TakeUpdate();
    ASSERT_EQ(std::memcmp(s.delta.data(), values.data(), bytes.size()), 0);
    EXPECT_EQ(*s.squared_norm, expected) << "trial " << trial;
  }
  EXPECT_EQ(pool->allocated(), 1u);
}

class UploadBufferEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RoundEngineConfig c;
    c.secagg.enabled = false;
    c.run_id = kRun;
    c.num_rounds = 2;
    c.min_clients = 4;
    c.fraction = 1.0;
    c.min_updates = 1;
    c.round_timeout = std::chrono::seconds(60);
    c.client_liveness = std::chrono::hours(1);
    c.max_examples_per_update = 100;
    c.max_update_l2_norm = 100.0;
    auto engine = RoundEngine::Create(
        c, testing::MakeModel(std::vector<float>(kDim, 0.0f)), 1, &clock_,
        nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    for (const char* id : {"a", "b", "c", "d"}) {
      ASSERT_TRUE(engine_->Register(id, 10).ok());
    }
    engine_->Tick();
    for (const char* id : {"a", "b", "c", "d"}) {
      ASSERT_TRUE(engine_->FetchTask(id).ok());
    }
  }

  // Submits `values` from `id`; the pool must have its buffer back after.
  absl::Status SubmitAndExpectReturned(const std::string& id,
                                       const std::vector<float>& values) {
    const absl::Status s =
        engine_->SubmitUpdate(id, Assemble(values, pool_).TakeUpdate());
    EXPECT_EQ(pool_->cached(), 1u) << id << ": " << s;
    return s;
  }

  FakeClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::shared_ptr<UpdateBufferPool> pool_ = UpdateBufferPool::Create(1);
};

TEST_F(UploadBufferEngineTest, AcceptedAndRejectedUpdatesGiveTheirBufferBack) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(SubmitAndExpectReturned("a", {1, 2, 3, 4, 5, 6}).ok());
  // Content rejections: a NaN, an L2 norm over the bound.
  EXPECT_EQ(SubmitAndExpectReturned("b", {1, nan, 3, 4, 5, 6}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SubmitAndExpectReturned("c", {1e3f, 0, 0, 0, 0, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  // Protocol rejections: a second answer, an unknown client.
  EXPECT_EQ(SubmitAndExpectReturned("a", {1, 2, 3, 4, 5, 6}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(SubmitAndExpectReturned("zed", {1, 2, 3, 4, 5, 6}).ok());
  // Only one buffer was ever allocated for all five uploads.
  EXPECT_EQ(pool_->allocated(), 1u);
  EXPECT_EQ(pool_->reused(), 4u);
}

}  // namespace
}  // namespace fedlearn
