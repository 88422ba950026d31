// MetricsHttpServer over real sockets on 127.0.0.1 (OS-chosen ports), with
// a raw-socket client: what a scraper sees, and what a misbehaving peer
// cannot do.
#include "common/metrics/metrics_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

// A connected TCP socket to 127.0.0.1:port; reads give up after 10 s so a
// broken server fails the test instead of hanging it.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }

  bool Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n =
          send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // Everything until the server closes the connection (or the timeout).
  std::string ReadToEnd() {
    std::string out;
    char buf[4096];
    while (true) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // One response of a kept-alive connection: headers and Content-Length.
  std::string ReadResponse() {
    std::string out;
    char c;
    while (out.find("\r\n\r\n") == std::string::npos &&
           recv(fd_, &c, 1, 0) == 1)
      out += c;
    const size_t at = out.find("Content-Length: ");
    if (at == std::string::npos) return out;
    size_t length = std::stoul(out.substr(at + 16));
    while (length > 0 && recv(fd_, &c, 1, 0) == 1) {
      out += c;
      --length;
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::string Get(int port, const std::string& target,
                const std::string& method = "GET") {
  RawClient client(port);
  EXPECT_TRUE(client.connected());
  client.Send(method + " " + target +
              " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  return client.ReadToEnd();
}

std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

MetricsHttpServer::Options ListenOn(const std::string& listen) {
  MetricsHttpServer::Options options;
  options.listen = listen;
  return options;
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("fl_test_total", "A test counter.").Get().Increment(7);
    MetricsHttpServer::Options options;
    options.listen = "127.0.0.1:0";
    options.ready = [this] { return ready_.load(); };
    options.on_scrape = [this] { ++scrapes_; };
    auto server = MetricsHttpServer::Start(&registry_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    port_ = server_->port();
    ASSERT_GT(port_, 0);
  }

  MetricsRegistry registry_;
  std::atomic<bool> ready_{true};
  std::atomic<int> scrapes_{0};
  std::unique_ptr<MetricsHttpServer> server_;
  int port_ = 0;
};

TEST_F(MetricsHttpServerTest, ServesTheRegistryInTextFormat004) {
  const std::string response = Get(port_, "/metrics");
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4; "
                          "charset=utf-8\r\n"),
            std::string::npos)
      << response;
  EXPECT_EQ(Body(response), registry_.Render());
  EXPECT_EQ(scrapes_.load(), 1);
}

TEST_F(MetricsHttpServerTest, HeadSendsHeadersWithoutBody) {
  const std::string response = Get(port_, "/metrics", "HEAD");
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Length: " +
                          std::to_string(registry_.Render().size())),
            std::string::npos);
  EXPECT_EQ(Body(response), "");
}

TEST_F(MetricsHttpServerTest, HealthzIsOkAndReadyzFollowsTheCallback) {
  EXPECT_EQ(Body(Get(port_, "/healthz")), "ok\n");
  EXPECT_EQ(Get(port_, "/readyz").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  ready_ = false;
  const std::string not_ready = Get(port_, "/readyz");
  EXPECT_EQ(not_ready.rfind("HTTP/1.1 503 ", 0), 0u) << not_ready;
  EXPECT_EQ(Get(port_, "/healthz").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
}

TEST_F(MetricsHttpServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  EXPECT_EQ(Get(port_, "/nope").rfind("HTTP/1.1 404 ", 0), 0u);
  EXPECT_EQ(Get(port_, "/metrics?x=1").rfind("HTTP/1.1 200 ", 0), 0u);
  const std::string post = Get(port_, "/metrics", "POST");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  EXPECT_EQ(Get(port_, "/metrics", "DELETE").rfind("HTTP/1.1 405 ", 0), 0u);
  EXPECT_EQ(scrapes_.load(), 1);  // only the GET rendered
}

TEST_F(MetricsHttpServerTest, KeepsAConnectionAliveForTheNextScrape) {
  RawClient client(port_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string response = client.ReadResponse();
    EXPECT_EQ(Body(response), registry_.Render()) << i;
  }
}

TEST_F(MetricsHttpServerTest, RefusesAnOversizeRequestHeader) {
  RawClient client(port_);
  client.Send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " +
              std::string(MetricsHttpServer::kMaxHeaderBytes, 'a') +
              "\r\n\r\n");
  const std::string response = client.ReadToEnd();
  EXPECT_EQ(response.rfind("HTTP/1.1 431 ", 0), 0u) << response.substr(0, 80);
  EXPECT_EQ(Body(response), "request too large\n");
}

TEST_F(MetricsHttpServerTest, SilentConnectionDoesNotBlockASecondClient) {
  RawClient silent(port_);
  ASSERT_TRUE(silent.connected());
  silent.Send("GET /metr");  // and nothing more
  EXPECT_EQ(Body(Get(port_, "/metrics")), registry_.Render());
}

TEST_F(MetricsHttpServerTest, ClosesConnectionsBeyondTheCapAtOnce) {
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < MetricsHttpServer::kMaxConnections; ++i) {
    held.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(held.back()->connected());
  }
  // Accepted in order: the one past the cap is closed without an answer.
  RawClient extra(port_);
  extra.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(extra.ReadToEnd(), "");
  // The held ones are served.
  held[0]->Send(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(Body(held[0]->ReadToEnd()), "ok\n");
}

TEST_F(MetricsHttpServerTest, ShutsDownCleanlyWithAConnectionOpen) {
  RawClient open(port_);
  ASSERT_TRUE(open.connected());
  open.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Body(open.ReadResponse()), registry_.Render());
  server_.reset();  // joins its thread with the connection still open
  EXPECT_EQ(open.ReadToEnd(), "");  // the server closed it
  RawClient after(port_);
  EXPECT_FALSE(after.connected());
}

TEST(MetricsHttpServerStartTest, RefusesBadListenAddressesNamingThem) {
  MetricsRegistry registry;
  for (const std::string listen :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http",
        ":9464", "[::1"}) {
    auto server = MetricsHttpServer::Start(&registry, ListenOn(listen));
    ASSERT_FALSE(server.ok()) << listen;
    EXPECT_TRUE(absl::IsInvalidArgument(server.status())) << server.status();
    EXPECT_NE(server.status().message().find("'" + listen + "'"),
              std::string::npos)
        << server.status();
  }
}

TEST(MetricsHttpServerStartTest, PortInUseIsAClearError) {
  MetricsRegistry registry;
  auto first = MetricsHttpServer::Start(&registry, ListenOn("127.0.0.1:0"));
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = MetricsHttpServer::Start(&registry, ListenOn(listen));
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
  EXPECT_NE(second.status().message().find(listen), std::string::npos);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status();
}

}  // namespace
}  // namespace fedlearn
