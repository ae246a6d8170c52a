// ProbeServer: a tiny HTTPS responder for /live, /ready and /metrics.
#include "gateway/probe_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "core/metrics/metrics.h"

namespace strait::gateway {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr std::size_t kMaxRequest = 8 * 1024;
constexpr auto kDeadline = std::chrono::seconds(5);

const char* reason(unsigned status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Bad Request";
  }
}
}  // namespace

ProbeServer::Reply ProbeServer::answer(const std::string& line) {
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 == std::string::npos ? sp1 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos)
    return {400, "bad request\n", "text/plain"};
  std::string method = line.substr(0, sp1);
  std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  if (method != "GET") return {405, "only GET\n", "text/plain"};
  if (path == "/live") return {200, "live\n", "text/plain"};
  if (path == "/ready") {
    auto r = rt_.readiness();
    if (r) return {200, "ready\n", "text/plain"};
    return {503, r.error().message + "\n", "text/plain"};
  }
  if (path == "/metrics") return {200, rt_.registry().expose(), std::string(metrics::kContentType)};
  return {404, "not found\n", "text/plain"};
}

void ProbeServer::serve(tcp::socket s) {
  asio::co_spawn(rt_.io(), session(std::move(s)), asio::detached);
}

asio::awaitable<void> ProbeServer::session(tcp::socket s) {
  auto& ctx = rt_.context();
  auto member = ctx.connections.join();
  member.hold(s.native_handle());
  // The handshake's last flight and the answer are small writes: without this, Nagle holds them
  // for the peer's delayed ACK (~40 ms on every probe).
  boost::system::error_code nodelay_ec;
  s.set_option(tcp::no_delay(true), nodelay_ec);
  auto state = ctx.identity.current();
  if (!state) co_return;  // no certificate yet: nothing to serve TLS with
  tls::TlsStream tls(std::move(s), state->server, tls::TlsStream::Role::kServer);
  auto work = [&]() -> asio::awaitable<void> {
    if (auto ec = co_await tls.handshake(); ec) {
      ctx.refuse("admin", "tls_handshake_failed", ec.message());
      co_return;
    }
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos) {
      auto [ec, n] = co_await tls.read_some(asio::buffer(buf));
      if (ec) co_return;
      request.append(buf, n);
      if (request.size() > kMaxRequest) {
        ctx.refuse("admin", "header_too_large", "probe request over 8 KiB");
        co_return;
      }
    }
    auto reply = answer(request.substr(0, request.find("\r\n")));
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) +
                      "\r\nContent-Type: " + reply.content_type +
                      "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                      "\r\nConnection: close\r\n\r\n" + reply.body;
    if (auto ec = co_await tls.write_all(asio::buffer(out)); ec) co_return;
    co_await tls.shutdown_write();
  };
  auto r = co_await (work() || proxy::sleep_for(kDeadline));
  if (r.index() == 1) ctx.refuse("admin", "read_timeout", "probe request not complete in time");
  tls.close();
}

}  // namespace strait::gateway
