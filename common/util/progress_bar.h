// A one-line progress bar for long steps of the command-line programs
// (issuing certificates, loading data, the rounds of fedlearn-sim).
//
// Guarantees: it draws only on a terminal, never on stdout (which carries
// the programs' results): on `fd` (stderr by default) if isatty(fd) and TERM
// is set and not "dumb"; anywhere else it writes nothing at all, so logs,
// pipes and CI output stay clean. A draw is "\r" + the line + erase-to-end,
// written with one write(2) (no stdio buffer to interleave with), at most
// every `min_redraw` (10 Hz by default) except the final one, which Finish()
// always draws and ends with a newline. Clear() erases the line so another
// writer to the same terminal (the round lines on stdout) starts at column
// 0; the next Update() redraws it.
//
// Line: "LABEL [#####.....] DONE/TOTAL DETAIL" (TOTAL 0: no bar, just the
// label and the detail). DETAIL is caller-chosen text; callers pass only
// their own strings, never client-supplied ones.
//
// Thread-safe: every method may be called from any thread.
#ifndef FEDLEARN_COMMON_UTIL_PROGRESS_BAR_H_
#define FEDLEARN_COMMON_UTIL_PROGRESS_BAR_H_

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace fedlearn {

// True iff `fd` is a terminal and TERM is set and is not "dumb".
bool IsDrawableTerminal(int fd);

class ProgressBar {
 public:
  struct Options {
    int fd = STDERR_FILENO;
    std::chrono::milliseconds min_redraw{100};
    int bar_width = 30;
  };

  ProgressBar(std::string label, int64_t total);
  ProgressBar(std::string label, int64_t total, Options options);
  // Finishes the bar (see Finish) if it was drawn and not finished.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Whether this bar draws at all (decided once, at construction).
  bool active() const { return active_; }

  // Sets the count (clamped to [0, total]) and the detail text; redraws
  // unless the last draw was less than min_redraw ago.
  void Update(int64_t done, std::string_view detail = {});
  // Update(done + n), keeping the detail.
  void Advance(int64_t n = 1);
  // Erases the drawn line (cursor to column 0); the next draw restores it.
  void Clear();
  // Draws the final state with `detail` (or the last one if empty) and a
  // newline; later calls do nothing.
  void Finish(std::string_view detail = {});

 private:
  void UpdateLocked(int64_t done, std::string_view detail);
  void DrawLocked(bool final_draw);

  const std::string label_;
  const int64_t total_;
  const Options options_;
  const bool active_;
  std::mutex mu_;
  int64_t done_ = 0;                                 // guarded by mu_
  std::string detail_;                               // guarded by mu_
  bool drawn_ = false;                               // guarded by mu_
  bool finished_ = false;                            // guarded by mu_
  std::chrono::steady_clock::time_point last_draw_;  // guarded by mu_
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_PROGRESS_BAR_H_
