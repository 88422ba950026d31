// StreamAdmission: the counters that bound what streams may hold at once:
// streams open in total, streams per identity (uploads and downloads
// apart), and the global upload buffers (one model-sized vector each).
// Every Acquire either grants a Ticket at once or refuses with
// RESOURCE_EXHAUSTED and a retry hint: nothing here ever waits. A Ticket
// gives its unit back when destroyed (or Release()d).
//
// Thread-safe; Tickets may be released from any thread but must not
// outlive the StreamAdmission.
#ifndef FEDLEARN_SERVER_ADMISSION_STREAM_ADMISSION_H_
#define FEDLEARN_SERVER_ADMISSION_STREAM_ADMISSION_H_

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "server/admission/service_limits.h"

namespace fedlearn {

class StreamAdmission {
 public:
  enum class Kind { kUpload, kDownload };

  class Ticket {
   public:
    Ticket() = default;
    explicit Ticket(std::function<void()> release)
        : release_(std::move(release)) {}
    Ticket(Ticket&& other) noexcept : release_(std::move(other.release_)) {
      other.release_ = nullptr;
    }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { Release(); }
    void Release();
    bool held() const { return release_ != nullptr; }

   private:
    std::function<void()> release_;
  };

  explicit StreamAdmission(const ServiceLimits& limits);

  // One of `max_open_streams`, taken when a stream starts.
  absl::StatusOr<Ticket> OpenStream();
  // One of `id`'s `max_uploads_per_identity` / `max_downloads_per_identity`.
  absl::StatusOr<Ticket> AcquireStream(const std::string& id, Kind kind);
  // One of `max_concurrent_uploads` buffers. REQUIRES: the uploader was
  // authorized (identity and the engine's permission) first.
  absl::StatusOr<Ticket> AcquireUploadBuffer();

  int open_streams() const;
  int buffers_in_use() const;

 private:
  const ServiceLimits limits_;
  mutable std::mutex mu_;
  int open_streams_ ABSL_GUARDED_BY(mu_) = 0;
  int buffers_ ABSL_GUARDED_BY(mu_) = 0;
  // (identity, kind) -> streams open; entries at zero are erased.
  std::map<std::pair<std::string, Kind>, int> per_identity_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ADMISSION_STREAM_ADMISSION_H_
