// A child process for end-to-end tests: started with posix_spawn, stdout and
// stderr sent to files, killed (SIGKILL) on destruction if still running.
#ifndef FEDLEARN_TESTS_E2E_PROCESS_H_
#define FEDLEARN_TESTS_E2E_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fedlearn::testing_e2e {

class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& log_prefix)
      : stdout_path_(log_prefix + ".out"), stderr_path_(log_prefix + ".err") {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, stdout_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) !=
        0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Process() {
    if (running()) {
      kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(10));
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  bool running() const { return pid_ > 0 && !exit_code_.has_value(); }
  void Signal(int signo) {
    if (running()) kill(pid_, signo);
  }

  // The exit code, or nullopt on timeout (-signal if killed by a signal).
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ =
            WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > end) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return exit_code_;
  }

  std::string Stdout() const { return Slurp(stdout_path_); }
  std::string Stderr() const { return Slurp(stderr_path_); }

  // Polls stdout until it contains `needle`; returns the text from there on.
  std::optional<std::string> WaitForOutput(const std::string& needle,
                                           std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      std::string out = Stdout();
      size_t pos = out.find(needle);
      if (pos != std::string::npos) return out.substr(pos);
      if (!running() || Wait(std::chrono::milliseconds(0)).has_value()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

 private:
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string stdout_path_;
  std::string stderr_path_;
};

}  // namespace fedlearn::testing_e2e

#endif  // FEDLEARN_TESTS_E2E_PROCESS_H_
