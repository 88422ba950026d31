// An upload that stops half-way, over the real server: what mallory had
// sent before stopping never reaches the running sum (the honest mean is
// exact).
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "tests/server/hostile_harness.h"

namespace fedlearn::hostile {
namespace {

using Code = grpc::StatusCode;

FederationOptions Insider() {
  FederationOptions o;
  o.mallory_in_cohort = true;
  return o;
}

// Header, half of the values (a huge value, which would show in the mean),
// then a cancel.
grpc::Status CancelHalfWay(Federation& f) {
  v1::TaskHeader task = FetchTask(f);
  grpc::ClientContext context;
  v1::PushResultResponse response;
  auto writer = f.mallory().stub().PushResult(&context, &response);
  v1::ResultChunk header;
  *header.mutable_header() = ValidHeader(task);
  writer->Write(header);
  v1::ResultChunk half;
  half.set_update_data(FloatChunk(kDimension / 2, 1000.0f));
  writer->Write(half);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  context.TryCancel();
  return writer->Finish();
}

TEST(UploadAbortTest, CancelledUploadLeavesTheRunningSumUntouched) {
  RunHostileCase({"CancelHalfWay", Insider(), CancelHalfWay, Code::CANCELLED});
}

}  // namespace
}  // namespace fedlearn::hostile
