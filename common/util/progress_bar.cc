#include "common/util/progress_bar.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fedlearn {
namespace {

// Writes all of `text`, retrying on EINTR; a terminal that went away is
// ignored (a progress bar must never fail the program).
void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

bool IsDrawableTerminal(int fd) {
  if (::isatty(fd) != 1) return false;
  const char* term = std::getenv("TERM");
  return term != nullptr && term[0] != '\0' && std::strcmp(term, "dumb") != 0;
}

ProgressBar::ProgressBar(std::string label, int64_t total)
    : ProgressBar(std::move(label), total, Options()) {}

ProgressBar::ProgressBar(std::string label, int64_t total, Options options)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 0)),
      options_(options),
      active_(IsDrawableTerminal(options.fd)) {}

ProgressBar::~ProgressBar() {
  bool unfinished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    unfinished = drawn_ && !finished_;
  }
  if (unfinished) Finish();
}

void ProgressBar::Update(int64_t done, std::string_view detail) {
  if (!active_) return;
  std::lock_guard<std::mutex> lock(mu_);
  UpdateLocked(done, detail);
}

void ProgressBar::Advance(int64_t n) {
  if (!active_) return;
  std::lock_guard<std::mutex> lock(mu_);
  UpdateLocked(done_ + n, {});
}

void ProgressBar::UpdateLocked(int64_t done, std::string_view detail) {
  if (finished_) return;
  done_ = std::max<int64_t>(done, 0);
  if (total_ > 0) done_ = std::min(done_, total_);
  if (!detail.empty()) detail_ = std::string(detail);
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < options_.min_redraw) return;
  DrawLocked(/*final_draw=*/false);
}

void ProgressBar::Clear() {
  if (!active_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!drawn_ || finished_) return;
  WriteAll(options_.fd, "\r\x1b[K");
  drawn_ = false;  // the next Update redraws at once
}

void ProgressBar::Finish(std::string_view detail) {
  if (!active_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  if (!detail.empty()) detail_ = std::string(detail);
  DrawLocked(/*final_draw=*/true);
  finished_ = true;
}

void ProgressBar::DrawLocked(bool final_draw) {
  std::string line = "\r" + label_;
  if (total_ > 0) {
    const int width = std::max(options_.bar_width, 1);
    const int filled = static_cast<int>(done_ * width / total_);
    line += " [";
    line.append(static_cast<size_t>(filled), '#');
    line.append(static_cast<size_t>(width - filled), '.');
    line += "] " + std::to_string(done_) + "/" + std::to_string(total_);
  }
  if (!detail_.empty()) line += " " + detail_;
  line += "\x1b[K";
  if (final_draw) line += "\n";
  WriteAll(options_.fd, line);
  drawn_ = true;
  last_draw_ = std::chrono::steady_clock::now();
}

}  // namespace fedlearn
