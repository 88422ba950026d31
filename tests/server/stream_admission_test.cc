#include "server/admission/stream_admission.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using Kind = StreamAdmission::Kind;

ServiceLimits SmallLimits() {
  ServiceLimits limits;
  limits.max_concurrent_uploads = 2;
  limits.max_uploads_per_identity = 2;
  limits.max_downloads_per_identity = 1;
  limits.max_open_streams = 3;
  limits.upload_retry_after_ms = 750;
  return limits;
}

TEST(StreamAdmissionTest, UploadBuffersAreRefusedWithARetryHintNotQueued) {
  StreamAdmission admission(SmallLimits());
  auto a = admission.AcquireUploadBuffer();
  auto b = admission.AcquireUploadBuffer();
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = admission.AcquireUploadBuffer();
  ASSERT_TRUE(absl::IsResourceExhausted(c.status())) << c.status();
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("retry in 750 ms"));
  a->Release();
  EXPECT_EQ(admission.buffers_in_use(), 1);
  EXPECT_TRUE(admission.AcquireUploadBuffer().ok());
}

TEST(StreamAdmissionTest, PerIdentityCapsCountUploadsAndDownloadsApart) {
  StreamAdmission admission(SmallLimits());
  auto u1 = admission.AcquireStream("a", Kind::kUpload);
  auto u2 = admission.AcquireStream("a", Kind::kUpload);
  ASSERT_TRUE(u1.ok() && u2.ok());
  auto u3 = admission.AcquireStream("a", Kind::kUpload);
  EXPECT_TRUE(absl::IsResourceExhausted(u3.status())) << u3.status();
  EXPECT_THAT(std::string(u3.status().message()),
              HasSubstr("max_uploads_per_identity"));
  auto d1 = admission.AcquireStream("a", Kind::kDownload);
  ASSERT_TRUE(d1.ok());
  auto d2 = admission.AcquireStream("a", Kind::kDownload);
  EXPECT_TRUE(absl::IsResourceExhausted(d2.status())) << d2.status();
  EXPECT_THAT(std::string(d2.status().message()),
              HasSubstr("max_downloads_per_identity"));
  // Another identity is not affected.
  EXPECT_TRUE(admission.AcquireStream("b", Kind::kDownload).ok());
  // A released ticket frees its unit.
  { StreamAdmission::Ticket gone = *std::move(d1); }
  EXPECT_TRUE(admission.AcquireStream("a", Kind::kDownload).ok());
}

TEST(StreamAdmissionTest, OpenStreamsAreCappedInTotal) {
  StreamAdmission admission(SmallLimits());
  std::vector<StreamAdmission::Ticket> held;
  for (int i = 0; i < 3; ++i) {
    auto t = admission.OpenStream();
    ASSERT_TRUE(t.ok());
    held.push_back(*std::move(t));
  }
  EXPECT_EQ(admission.open_streams(), 3);
  EXPECT_TRUE(absl::IsResourceExhausted(admission.OpenStream().status()));
  held.clear();
  EXPECT_EQ(admission.open_streams(), 0);
}

TEST(StreamAdmissionTest, MovedTicketReleasesOnce) {
  StreamAdmission admission(SmallLimits());
  auto t = admission.AcquireUploadBuffer();
  ASSERT_TRUE(t.ok());
  StreamAdmission::Ticket moved = *std::move(t);
  StreamAdmission::Ticket again = std::move(moved);
  EXPECT_FALSE(moved.held());
  EXPECT_TRUE(again.held());
  EXPECT_EQ(admission.buffers_in_use(), 1);
  again.Release();
  again.Release();
  EXPECT_EQ(admission.buffers_in_use(), 0);
}

}  // namespace
}  // namespace fedlearn
