#include "common/util/progress_bar.h"

#include <fcntl.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::EndsWith;
using ::testing::IsEmpty;

// Sets TERM for one test and restores it.
class ScopedTerm {
 public:
  explicit ScopedTerm(const char* value) {
    const char* old = std::getenv("TERM");
    if (old != nullptr) old_ = old;
    had_ = old != nullptr;
    if (value == nullptr) {
      unsetenv("TERM");
    } else {
      setenv("TERM", value, 1);
    }
  }
  ~ScopedTerm() {
    if (had_) {
      setenv("TERM", old_.c_str(), 1);
    } else {
      unsetenv("TERM");
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

// A pseudo-terminal in raw mode (no "\n" -> "\r\n"), read without blocking.
class PseudoTerminal {
 public:
  PseudoTerminal() {
    EXPECT_EQ(openpty(&master_, &slave_, nullptr, nullptr, nullptr), 0);
    termios raw{};
    tcgetattr(slave_, &raw);
    cfmakeraw(&raw);
    tcsetattr(slave_, TCSANOW, &raw);
    fcntl(master_, F_SETFL, fcntl(master_, F_GETFL) | O_NONBLOCK);
  }
  ~PseudoTerminal() {
    close(slave_);
    close(master_);
  }
  int slave() const { return slave_; }
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(master_, buf, sizeof(buf))) > 0) out.append(buf, n);
    return out;
  }

 private:
  int master_ = -1;
  int slave_ = -1;
};

ProgressBar::Options On(
    int fd, std::chrono::milliseconds redraw = std::chrono::milliseconds(0)) {
  ProgressBar::Options options;
  options.fd = fd;
  options.min_redraw = redraw;
  options.bar_width = 10;
  return options;
}

size_t Count(const std::string& text, char c) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), c));
}

TEST(ProgressBarTest, WritesNothingWhenNotATerminal) {
  ScopedTerm term("xterm");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    ProgressBar bar("certificates", 10, On(fds[1]));
    EXPECT_FALSE(bar.active());
    bar.Update(5, "half");
    bar.Clear();
    bar.Finish("done");
  }
  close(fds[1]);
  char buf[64];
  EXPECT_EQ(read(fds[0], buf, sizeof(buf)), 0);  // EOF: not one byte
  close(fds[0]);
}

TEST(ProgressBarTest, WritesNothingOnADumbOrUnnamedTerminal) {
  for (const char* value : {"dumb", ""}) {
    ScopedTerm term(value);
    PseudoTerminal pty;
    ProgressBar bar("rounds", 3, On(pty.slave()));
    EXPECT_FALSE(bar.active()) << value;
    bar.Update(2);
    bar.Finish();
    EXPECT_THAT(pty.ReadAll(), IsEmpty()) << value;
  }
  ScopedTerm unset(nullptr);
  PseudoTerminal pty;
  ProgressBar bar("rounds", 3, On(pty.slave()));
  EXPECT_FALSE(bar.active());
}

TEST(ProgressBarTest, DrawsOnAPseudoTerminalAndEndsInTheFinalState) {
  ScopedTerm term("xterm-256color");
  PseudoTerminal pty;
  ProgressBar bar("issuing certificates", 4, On(pty.slave()));
  ASSERT_TRUE(bar.active());
  bar.Update(1, "client-001");
  bar.Advance(3);
  bar.Finish("done");
  bar.Update(1, "after the end");  // ignored
  const std::string out = pty.ReadAll();
  EXPECT_EQ(Count(out, '\r'), 3u) << out;
  EXPECT_THAT(out, EndsWith("\rissuing certificates [##########] 4/4 done"
                            "\x1b[K\n"));
}

TEST(ProgressBarTest, FinalLineShowsTheCountReached) {
  ScopedTerm term("xterm");
  PseudoTerminal pty;
  ProgressBar bar("rounds", 4, On(pty.slave()));
  bar.Update(2, "round 2/4");
  bar.Finish();
  EXPECT_THAT(pty.ReadAll(),
              EndsWith("\rrounds [#####.....] 2/4 round 2/4\x1b[K\n"));
}

TEST(ProgressBarTest, RedrawsAtMostOncePerIntervalButAlwaysFinishes) {
  ScopedTerm term("xterm");
  PseudoTerminal pty;
  ProgressBar bar("sites", 1000, On(pty.slave(), std::chrono::hours(1)));
  for (int i = 1; i <= 1000; ++i) bar.Update(i);
  bar.Finish();
  const std::string out = pty.ReadAll();
  EXPECT_EQ(Count(out, '\r'), 2u) << out;  // the first draw and the final
  EXPECT_THAT(out, EndsWith("] 1000/1000\x1b[K\n"));
}

TEST(ProgressBarTest, ClearErasesTheLineAndTheNextUpdateRedraws) {
  ScopedTerm term("xterm");
  PseudoTerminal pty;
  ProgressBar bar("rounds", 2, On(pty.slave(), std::chrono::hours(1)));
  bar.Update(1);
  (void)pty.ReadAll();
  bar.Clear();
  EXPECT_EQ(pty.ReadAll(), "\r\x1b[K");
  bar.Update(1);  // within the interval, yet drawn: the line was erased
  EXPECT_EQ(pty.ReadAll(), "\rrounds [#####.....] 1/2\x1b[K");
}

TEST(ProgressBarTest, ConcurrentAdvancesAreAllCounted) {
  ScopedTerm term("xterm");
  PseudoTerminal pty;
  ProgressBar bar("certificates", 800, On(pty.slave(), std::chrono::hours(1)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) bar.Advance();
    });
  }
  for (std::thread& t : threads) t.join();
  bar.Finish();
  EXPECT_THAT(pty.ReadAll(), EndsWith("] 800/800\x1b[K\n"));
}

TEST(ProgressBarTest, ABarWithoutTotalShowsLabelAndDetail) {
  ScopedTerm term("xterm");
  PseudoTerminal pty;
  ProgressBar bar("loading data", 0, On(pty.slave()));
  bar.Update(0, "fashion-mnist");
  bar.Finish("60000 examples");
  EXPECT_THAT(pty.ReadAll(), EndsWith("\rloading data 60000 examples\x1b[K\n"));
}

}  // namespace
}  // namespace fedlearn
