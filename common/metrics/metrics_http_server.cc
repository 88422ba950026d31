#include "common/metrics/metrics_http_server.h"

#include <atomic>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "spdlog/spdlog.h"

namespace fedlearn {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr char kMetricsContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";
constexpr size_t kMaxBodyBytes = 4096;

// What every connection shares with the server; held by shared_ptr so a
// connection destroyed with the io_context never outlives it.
struct Shared {
  const MetricsRegistry* registry = nullptr;
  MetricsHttpServer::Options options;
  std::atomic<int> connections{0};
};

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response MakeResponse(const Request& req, http::status status, std::string body,
                      const char* content_type) {
  Response res{status, req.version()};
  res.set(http::field::server, "fedlearn");
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();  // Content-Length: also right for HEAD
  if (req.method() == http::verb::head) res.body().clear();
  return res;
}

Response Handle(const Shared& shared, const Request& req) {
  constexpr char kText[] = "text/plain; charset=utf-8";
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    Response res = MakeResponse(req, http::status::method_not_allowed,
                                "method not allowed\n", kText);
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  if (target == "/metrics") {
    if (shared.options.on_scrape) shared.options.on_scrape();
    return MakeResponse(req, http::status::ok, shared.registry->Render(),
                        kMetricsContentType);
  }
  if (target == "/healthz") {
    return MakeResponse(req, http::status::ok, "ok\n", kText);
  }
  if (target == "/readyz") {
    const bool ready = !shared.options.ready || shared.options.ready();
    return MakeResponse(
        req, ready ? http::status::ok : http::status::service_unavailable,
        ready ? "ready\n" : "not ready\n", kText);
  }
  return MakeResponse(req, http::status::not_found, "not found\n", kText);
}

// One accepted connection: read a request (bounded in size and time),
// answer it, and read the next while the client keeps the connection alive.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    ++shared_->connections;
  }
  ~Connection() { --shared_->connections; }

  void Read() {
    parser_.emplace();
    parser_->header_limit(MetricsHttpServer::kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    stream_.expires_after(MetricsHttpServer::kReadTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Connection::OnRead, shared_from_this()));
  }

 private:
  void OnRead(beast::error_code ec, size_t) {
    if (ec == http::error::header_limit || ec == http::error::body_limit) {
      Request req;
      req.version(11);
      req.keep_alive(false);
      Write(MakeResponse(req, http::status::request_header_fields_too_large,
                         "request too large\n", "text/plain; charset=utf-8"));
      return;
    }
    if (ec) {
      Close();
      return;
    }
    Write(Handle(*shared_, parser_->get()));
  }

  void Write(Response res) {
    response_ = std::make_shared<Response>(std::move(res));
    stream_.expires_after(MetricsHttpServer::kReadTimeout);
    http::async_write(
        stream_, *response_,
        beast::bind_front_handler(&Connection::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    const bool close = ec || response_->need_eof();
    response_.reset();
    if (close) {
      Close();
      return;
    }
    Read();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{MetricsHttpServer::kMaxHeaderBytes +
                             kMaxBodyBytes};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> response_;
  const std::shared_ptr<Shared> shared_;
};

// HOST:PORT (HOST may be [v6]) into an endpoint; InvalidArgument naming
// `listen` otherwise.
absl::StatusOr<tcp::endpoint> ParseListen(asio::io_context& io,
                                          const std::string& listen) {
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address '", listen, "': ", why));
  };
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return bad("expected HOST:PORT");
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return bad("the port must be a number in 0..65535");
  }
  if (host.empty()) return bad("the host is empty (e.g. 127.0.0.1:9464)");
  tcp::resolver resolver(io);
  beast::error_code ec;
  const auto results =
      resolver.resolve(host, port_text, tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return bad(absl::StrCat("cannot resolve host '", host, "'"));
  }
  return results.begin()->endpoint();
}

}  // namespace

struct MetricsHttpServer::Impl {
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  // Destroyed after the acceptor (declared before it): pending handlers,
  // and the connections they hold, go with the io_context.
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec != asio::error::operation_aborted) Accept();
        return;
      }
      if (shared->connections.load() >= kMaxConnections) {
        beast::error_code ignored;
        socket.close(ignored);  // over the cap: refused at once
      } else {
        std::make_shared<Connection>(std::move(socket), shared)->Read();
      }
      Accept();
    });
  }
};

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const MetricsRegistry* registry, Options options) {
  auto impl = std::make_unique<Impl>();
  impl->shared->registry = registry;
  absl::StatusOr<tcp::endpoint> endpoint =
      ParseListen(impl->io, options.listen);
  if (!endpoint.ok()) return endpoint.status();
  const std::string listen = options.listen;
  impl->shared->options = std::move(options);
  beast::error_code ec;
  tcp::acceptor& acceptor = impl->acceptor;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "metrics endpoint cannot listen on ", listen, ": ", ec.message()));
  }
  if (!endpoint->address().is_loopback()) {
    spdlog::warn(
        "metrics endpoint on {} is not a loopback address: it has no TLS and "
        "no authentication, anyone who can reach it can read the metrics",
        listen);
  }
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(std::move(impl)));
  server->port_ = server->impl_->acceptor.local_endpoint().port();
  Impl* raw = server->impl_.get();
  raw->Accept();
  raw->thread = std::thread([raw] { raw->io.run(); });
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  // ~Impl: the acceptor, then the io_context with every open connection.
}

}  // namespace fedlearn
