#include "server/admission/stream_admission.h"

#include "absl/strings/str_cat.h"

namespace fedlearn {

StreamAdmission::Ticket& StreamAdmission::Ticket::operator=(
    Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    release_ = std::move(other.release_);
    other.release_ = nullptr;
  }
  return *this;
}

void StreamAdmission::Ticket::Release() {
  if (release_ == nullptr) return;
  std::function<void()> release = std::move(release_);
  release_ = nullptr;
  release();
}

StreamAdmission::StreamAdmission(const ServiceLimits& limits)
    : limits_(limits) {}

absl::StatusOr<StreamAdmission::Ticket> StreamAdmission::OpenStream() {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_streams_ >= limits_.max_open_streams) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the coordinator has ", limits_.max_open_streams,
                     " streams open (limits.max_open_streams); retry in ",
                     limits_.upload_retry_after_ms, " ms"));
  }
  ++open_streams_;
  return Ticket([this] {
    std::lock_guard<std::mutex> lock(mu_);
    --open_streams_;
  });
}

absl::StatusOr<StreamAdmission::Ticket> StreamAdmission::AcquireStream(
    const std::string& id, Kind kind) {
  const bool upload = kind == Kind::kUpload;
  const int cap = upload ? limits_.max_uploads_per_identity
                         : limits_.max_downloads_per_identity;
  std::lock_guard<std::mutex> lock(mu_);
  int& open = per_identity_[{id, kind}];
  if (open >= cap) {
    if (open == 0) per_identity_.erase({id, kind});
    return absl::ResourceExhaustedError(absl::StrCat(
        "this client already has ", cap, upload ? " uploads" : " downloads",
        " open (limits.max_", upload ? "uploads" : "downloads",
        "_per_identity); finish one first"));
  }
  ++open;
  return Ticket([this, id, kind] {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = per_identity_.find({id, kind});
    if (it != per_identity_.end() && --it->second <= 0) per_identity_.erase(it);
  });
}

absl::StatusOr<StreamAdmission::Ticket> StreamAdmission::AcquireUploadBuffer() {
  std::lock_guard<std::mutex> lock(mu_);
  if (buffers_ >= limits_.max_concurrent_uploads) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "all ", limits_.max_concurrent_uploads,
        " upload buffers are busy (server.max_concurrent_uploads); retry in ",
        limits_.upload_retry_after_ms, " ms"));
  }
  ++buffers_;
  return Ticket([this] {
    std::lock_guard<std::mutex> lock(mu_);
    --buffers_;
  });
}

int StreamAdmission::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_streams_;
}

int StreamAdmission::buffers_in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffers_;
}

}  // namespace fedlearn
