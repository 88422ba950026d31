// The test proxy itself, in front of an echo server on 127.0.0.1: bytes go
// through intact whatever the delays; a cut closes the connection; a delay
// or a stall holds bytes at least as long as asked (only lower bounds are
// checked, so a slow machine cannot fail them); a refusal window closes new
// connections only; a seed fixes the fault mix.
#include "tests/test_util/tcp_fault_proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn::testing_util {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Echoes every connection's bytes back until the peer closes.
class EchoServer {
 public:
  EchoServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] {
      while (true) {
        const int fd = accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;
        workers_.emplace_back([fd] {
          char buf[4096];
          ssize_t n;
          while ((n = read(fd, buf, sizeof(buf))) > 0) {
            if (send(fd, buf, n, MSG_NOSIGNAL) != n) break;
          }
          close(fd);
        });
      }
    });
  }
  ~EchoServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    for (std::thread& t : workers_) t.join();
  }
  int port() const { return port_; }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // acceptor thread only, then joined
};

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

struct ReadOutcome {
  std::string data;
  bool closed = false;  // EOF or reset seen
};

// Reads until `want` bytes, the peer closes, or `timeout` passes.
ReadOutcome Read(int fd, size_t want, std::chrono::milliseconds timeout) {
  ReadOutcome out;
  const auto end = SteadyClock::now() + timeout;
  while (out.data.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - SteadyClock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[8192];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
      out.closed = true;
      break;
    }
    out.data.append(buf, n);
  }
  return out;
}

void Send(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n =
        send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += n;
  }
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::unique_ptr<TcpFaultProxy> StartProxy(TcpFaultProxy::Options options) {
  auto proxy = TcpFaultProxy::Start(std::move(options));
  EXPECT_TRUE(proxy.ok()) << proxy.status();
  return proxy.ok() ? *std::move(proxy) : nullptr;
}

// An echo server behind a proxy with `options` (the target is set here);
// `proxy` is null, with a test failure, if it did not start.
struct EchoBehindProxy {
  explicit EchoBehindProxy(TcpFaultProxy::Options options = {}) {
    options.target_port = echo.port();
    proxy = StartProxy(std::move(options));
  }
  EchoServer echo;
  std::unique_ptr<TcpFaultProxy> proxy;  // goes first: declared last
};

// A connection through `proxy` that has echoed `probe` (the link is up), or
// -1.
int ConnectAndEcho(TcpFaultProxy& proxy, const std::string& probe) {
  const int fd = Connect(proxy.port());
  if (fd < 0) return -1;
  Send(fd, probe);
  if (Read(fd, probe.size(), 30s).data != probe) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(TcpFaultProxyTest, BytesArriveIntactThroughDelaysAndSmallChunks) {
  TcpFaultProxy::Options options;
  options.chunk_bytes = 1000;
  options.delay_probability = 0.5;
  options.max_delay_ms = 2;
  EchoBehindProxy link(options);
  TcpFaultProxy* proxy = link.proxy.get();
  ASSERT_NE(proxy, nullptr);
  const int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  const std::string data = RandomBytes(200000, 3);
  std::thread writer([&] { Send(fd, data); });
  const ReadOutcome got = Read(fd, data.size(), 30s);
  writer.join();
  close(fd);
  EXPECT_EQ(got.data, data);
  const TcpFaultProxy::Counters c = proxy->counters();
  EXPECT_EQ(c.connections, 1u);
  EXPECT_EQ(c.bytes_to_target, data.size());
  EXPECT_EQ(c.bytes_to_client, data.size());
  EXPECT_GT(c.delays, 0u);
  EXPECT_EQ(c.cuts, 0u);
}

TEST(TcpFaultProxyTest, ConnectionIsCutOnceItCarriedItsByteBudget) {
  TcpFaultProxy::Options options;
  options.chunk_bytes = 500;
  options.cut_probability = 1;
  options.cut_after_min_bytes = 3000;
  options.cut_after_max_bytes = 3000;
  EchoBehindProxy link(options);
  TcpFaultProxy* proxy = link.proxy.get();
  ASSERT_NE(proxy, nullptr);
  const int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  Send(fd, RandomBytes(10000, 4));
  const ReadOutcome got = Read(fd, 10000, 30s);
  close(fd);
  EXPECT_TRUE(got.closed);
  EXPECT_LT(got.data.size(), 3000u);  // both directions count
  EXPECT_EQ(proxy->counters().cuts, 1u);
  EXPECT_EQ(proxy->live_connections(), 0);
}

TEST(TcpFaultProxyTest, CutAllNowClosesEveryLiveConnection) {
  EchoBehindProxy link;
  TcpFaultProxy* proxy = link.proxy.get();
  ASSERT_NE(proxy, nullptr);
  const int a = ConnectAndEcho(*proxy, "ping");
  const int b = ConnectAndEcho(*proxy, "pong");
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_EQ(proxy->CutAllNow(), 2);
  EXPECT_TRUE(Read(a, 1, 30s).closed);
  EXPECT_TRUE(Read(b, 1, 30s).closed);
  close(a);
  close(b);
  EXPECT_EQ(proxy->counters().cuts, 2u);
  EXPECT_EQ(proxy->live_connections(), 0);
  // The proxy still accepts.
  const int c = ConnectAndEcho(*proxy, "again");
  EXPECT_GE(c, 0);
  close(c);
}

TEST(TcpFaultProxyTest, DelayHoldsEachChunkAtLeastItsMinimum) {
  TcpFaultProxy::Options options;
  options.delay_probability = 1;
  options.min_delay_ms = 150;
  options.max_delay_ms = 150;
  EchoBehindProxy link(options);
  TcpFaultProxy* proxy = link.proxy.get();
  ASSERT_NE(proxy, nullptr);
  const int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  const auto start = SteadyClock::now();
  Send(fd, "x");
  EXPECT_EQ(Read(fd, 1, 30s).data, "x");
  // Delayed on the way there and on the way back.
  EXPECT_GE(SteadyClock::now() - start, 300ms);
  close(fd);
  EXPECT_EQ(proxy->counters().delays, 2u);
}

TEST(TcpFaultProxyTest, StallNowForwardsNothingThatWayUntilItEnds) {
  EchoBehindProxy link;
  TcpFaultProxy* proxy = link.proxy.get();
  ASSERT_NE(proxy, nullptr);
  const int fd = ConnectAndEcho(*proxy, "a");  // the link is up
  ASSERT_GE(fd, 0);
  const auto start = SteadyClock::now();
  proxy->StallNow(600ms, TcpFaultProxy::Direction::kToTarget);
  Send(fd, "bc");
  // Held, not lost: whatever is read is read after the stall's end (a
  // lower bound only: this thread may be descheduled past it).
  std::string got = Read(fd, 2, 300ms).data;
  if (!got.empty()) {
    EXPECT_GE(SteadyClock::now() - start, 600ms) << "forwarded while stalled";
  }
  got += Read(fd, 2 - got.size(), 30s).data;
  EXPECT_EQ(got, "bc");
  EXPECT_GE(SteadyClock::now() - start, 600ms);
  close(fd);
  EXPECT_EQ(proxy->counters().stalls, 1u);
}

TEST(TcpFaultProxyTest, RefusalWindowClosesNewConnectionsOnly) {
  EchoBehindProxy link;
  TcpFaultProxy* proxy = link.proxy.get();
  ASSERT_NE(proxy, nullptr);
  const int old_fd = ConnectAndEcho(*proxy, "1");
  ASSERT_GE(old_fd, 0);
  proxy->RefuseNewConnectionsFor(60s);
  const int new_fd = Connect(proxy->port());  // accepted, then closed
  ASSERT_GE(new_fd, 0);
  EXPECT_TRUE(Read(new_fd, 1, 30s).closed);
  close(new_fd);
  Send(old_fd, "2");
  EXPECT_EQ(Read(old_fd, 1, 30s).data, "2");
  close(old_fd);
  EXPECT_EQ(proxy->counters().refused, 1u);
  EXPECT_EQ(proxy->counters().connections, 1u);
}

// Sequential connections draw in a fixed order: the seed fixes which ones
// are cut; random faults off cuts none.
TEST(TcpFaultProxyTest, SameSeedCutsTheSameConnections) {
  EchoServer echo;
  auto cut_pattern = [&](uint32_t seed, bool random) {
    TcpFaultProxy::Options options;
    options.target_port = echo.port();
    options.seed = seed;
    options.cut_probability = 0.5;
    options.cut_after_min_bytes = 1;
    options.cut_after_max_bytes = 1;
    auto proxy = StartProxy(options);
    proxy->SetRandomFaults(random);
    std::string pattern;
    for (int i = 0; i < 16; ++i) {
      const int fd = Connect(proxy->port());
      Send(fd, "q");
      const ReadOutcome got = Read(fd, 1, 30s);
      pattern += got.data == "q" ? '.' : 'X';
      close(fd);
    }
    EXPECT_EQ(
        proxy->counters().cuts,
        static_cast<uint64_t>(std::count(pattern.begin(), pattern.end(), 'X')));
    return pattern;
  };
  const std::string first = cut_pattern(11, true);
  EXPECT_EQ(cut_pattern(11, true), first);
  EXPECT_NE(first.find('X'), std::string::npos);
  EXPECT_NE(first.find('.'), std::string::npos);
  EXPECT_EQ(cut_pattern(11, false), std::string(16, '.'));
}

}  // namespace
}  // namespace fedlearn::testing_util
