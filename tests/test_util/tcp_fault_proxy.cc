#include "tests/test_util/tcp_fault_proxy.h"

#include <future>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio.hpp"

namespace fedlearn::testing_util {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

}  // namespace

struct TcpFaultProxy::Impl {
  struct Link;

  explicit Impl(Options o) : options(std::move(o)), rng(options.seed) {}

  // Runs `f` on the proxy's thread and waits for it. REQUIRES: not called
  // from the proxy's thread.
  template <typename F>
  auto OnIoThread(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    return result.get();
  }

  bool Draw(double probability) {
    if (probability <= 0 || !random_faults.load()) return false;
    return std::bernoulli_distribution(std::min(probability, 1.0))(rng);
  }
  template <typename T>
  T Uniform(T lo, T hi) {
    return std::uniform_int_distribution<T>(lo, std::max(lo, hi))(rng);
  }

  void Accept();
  void OnAccepted(tcp::socket socket);

  Options options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  tcp::endpoint target;
  std::thread thread;
  std::mt19937 rng;  // proxy thread only
  std::atomic<bool> random_faults{true};
  SteadyClock::time_point refuse_until;   // proxy thread only
  std::set<std::shared_ptr<Link>> links;  // proxy thread only
  std::atomic<int> live{0};
  std::atomic<uint64_t> connections{0}, refused{0}, cuts{0}, delays{0},
      stalls{0}, bytes_to_target{0}, bytes_to_client{0};
};

// One proxied connection: two directions, each a read -> (wait) -> write
// loop on its own buffer. Lives while a handler or the proxy's set holds it.
struct TcpFaultProxy::Impl::Link
    : public std::enable_shared_from_this<TcpFaultProxy::Impl::Link> {
  struct Half {
    Half(asio::io_context& io, tcp::socket* from, tcp::socket* to,
         bool to_target, size_t chunk)
        : from(from), to(to), to_target(to_target), buf(chunk), timer(io) {}
    tcp::socket* from;
    tcp::socket* to;
    bool to_target;
    std::vector<char> buf;
    asio::steady_timer timer;
    SteadyClock::time_point stalled_until;
  };

  explicit Link(Impl* proxy)
      : proxy(proxy),
        client(proxy->io),
        server(proxy->io),
        up(proxy->io, &client, &server, true, proxy->options.chunk_bytes),
        down(proxy->io, &server, &client, false, proxy->options.chunk_bytes) {}

  void Start() {
    Read(up);
    Read(down);
  }

  void Read(Half& h) {
    if (closed) return;
    const auto now = SteadyClock::now();
    if (h.stalled_until > now) {
      h.timer.expires_at(h.stalled_until);
      h.timer.async_wait([self = shared_from_this(), &h](auto ec) {
        if (!ec) self->Read(h);
      });
      return;
    }
    h.from->async_read_some(asio::buffer(h.buf),
                            [self = shared_from_this(), &h](
                                boost::system::error_code ec, size_t n) {
                              if (ec) return self->Close(false);
                              self->OnRead(h, n);
                            });
  }

  void OnRead(Half& h, size_t n) {
    if (closed) return;
    bytes += n;
    if (bytes >= cut_at) {
      ++proxy->cuts;
      return Close(true);
    }
    const Options& o = proxy->options;
    const auto now = SteadyClock::now();
    if (proxy->Draw(o.stall_probability)) {
      ++proxy->stalls;
      h.stalled_until = std::max(h.stalled_until,
                                 now + std::chrono::milliseconds(o.stall_ms));
    }
    auto send_at = std::max(now, h.stalled_until);
    if (proxy->Draw(o.delay_probability)) {
      ++proxy->delays;
      send_at =
          std::max(send_at, now + std::chrono::milliseconds(proxy->Uniform(
                                      o.min_delay_ms, o.max_delay_ms)));
    }
    if (send_at <= now) return Write(h, n);
    h.timer.expires_at(send_at);
    h.timer.async_wait([self = shared_from_this(), &h, n](auto ec) {
      if (!ec) self->Write(h, n);
    });
  }

  void Write(Half& h, size_t n) {
    if (closed) return;
    // Counted when handed to the socket, so a peer that has read the bytes
    // never sees a counter without them.
    (h.to_target ? proxy->bytes_to_target : proxy->bytes_to_client) += n;
    asio::async_write(
        *h.to, asio::buffer(h.buf.data(), n),
        [self = shared_from_this(), &h](boost::system::error_code ec, size_t) {
          if (ec) return self->Close(false);
          self->Read(h);
        });
  }

  void Stall(Half& h, std::chrono::milliseconds d) {
    ++proxy->stalls;
    h.stalled_until = std::max(h.stalled_until, SteadyClock::now() + d);
  }

  // REQUIRES: the caller holds a reference to this link (a handler's
  // `self`, or a copy of the proxy's set). Bookkeeping first, so a peer
  // that sees the close also sees the counters.
  void Close(bool /*cut*/) {
    if (closed) return;
    closed = true;
    --proxy->live;
    proxy->links.erase(shared_from_this());
    boost::system::error_code ignored;
    client.close(ignored);
    server.close(ignored);
    up.timer.cancel();
    down.timer.cancel();
  }

  Impl* proxy;
  tcp::socket client;
  tcp::socket server;
  Half up;
  Half down;
  uint64_t bytes = 0;
  uint64_t cut_at = UINT64_MAX;
  bool closed = false;
};

void TcpFaultProxy::Impl::Accept() {
  acceptor.async_accept(
      [this](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (!ec) OnAccepted(std::move(socket));
        Accept();
      });
}

void TcpFaultProxy::Impl::OnAccepted(tcp::socket socket) {
  boost::system::error_code ignored;
  const auto now = SteadyClock::now();
  if (now < refuse_until || Draw(options.refuse_probability)) {
    if (now >= refuse_until) {
      refuse_until = now + std::chrono::milliseconds(options.refuse_window_ms);
    }
    ++refused;
    socket.close(ignored);
    return;
  }
  auto link = std::make_shared<Link>(this);
  link->client = std::move(socket);
  if (Draw(options.cut_probability)) {
    link->cut_at =
        Uniform(options.cut_after_min_bytes, options.cut_after_max_bytes);
  }
  links.insert(link);
  ++live;
  link->server.async_connect(target, [this, link](boost::system::error_code e) {
    if (e) return link->Close(false);
    boost::system::error_code ignore;
    link->server.set_option(tcp::no_delay(true), ignore);
    link->client.set_option(tcp::no_delay(true), ignore);
    ++connections;
    link->Start();
  });
}

absl::StatusOr<std::unique_ptr<TcpFaultProxy>> TcpFaultProxy::Start(
    Options options) {
  if (options.target_port <= 0 || options.target_port > 65535) {
    return absl::InvalidArgumentError("TcpFaultProxy needs a target port");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  const auto loopback = asio::ip::make_address("127.0.0.1");
  impl->target = tcp::endpoint(loopback, impl->options.target_port);
  boost::system::error_code ec;
  impl->acceptor.open(tcp::v4(), ec);
  if (!ec) impl->acceptor.bind(tcp::endpoint(loopback, 0), ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("TcpFaultProxy cannot listen: ", ec.message()));
  }
  const int port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  auto proxy =
      std::unique_ptr<TcpFaultProxy>(new TcpFaultProxy(std::move(impl)));
  proxy->port_ = port;
  return proxy;
}

TcpFaultProxy::TcpFaultProxy(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

TcpFaultProxy::~TcpFaultProxy() {
  impl_->OnIoThread([this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    auto links = impl_->links;
    for (const auto& link : links) link->Close(false);
    return 0;
  });
  impl_->io.stop();
  impl_->thread.join();
}

std::string TcpFaultProxy::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void TcpFaultProxy::SetRandomFaults(bool enabled) {
  impl_->random_faults = enabled;
}

int TcpFaultProxy::CutAllNow() {
  return impl_->OnIoThread([this] {
    auto links = impl_->links;
    for (const auto& link : links) {
      ++impl_->cuts;
      link->Close(true);
    }
    return static_cast<int>(links.size());
  });
}

void TcpFaultProxy::StallNow(std::chrono::milliseconds duration,
                             Direction direction) {
  impl_->OnIoThread([&] {
    for (const auto& link : impl_->links) {
      if (direction != Direction::kToClient) link->Stall(link->up, duration);
      if (direction != Direction::kToTarget) link->Stall(link->down, duration);
    }
    return 0;
  });
}

void TcpFaultProxy::RefuseNewConnectionsFor(
    std::chrono::milliseconds duration) {
  impl_->OnIoThread([&] {
    impl_->refuse_until = SteadyClock::now() + duration;
    return 0;
  });
}

int TcpFaultProxy::live_connections() const { return impl_->live.load(); }

TcpFaultProxy::Counters TcpFaultProxy::counters() const {
  Counters c;
  c.connections = impl_->connections;
  c.refused = impl_->refused;
  c.cuts = impl_->cuts;
  c.delays = impl_->delays;
  c.stalls = impl_->stalls;
  c.bytes_to_target = impl_->bytes_to_target;
  c.bytes_to_client = impl_->bytes_to_client;
  return c;
}

std::string TcpFaultProxy::DescribeCounters() const {
  const Counters c = counters();
  return absl::StrCat("connections=", c.connections, " refused=", c.refused,
                      " cuts=", c.cuts, " delays=", c.delays,
                      " stalls=", c.stalls,
                      " bytes_to_target=", c.bytes_to_target,
                      " bytes_to_client=", c.bytes_to_client);
}

}  // namespace fedlearn::testing_util
