// ProbeServer: a small HTTPS responder for /live, /ready and /metrics; requests are read with
// Beast's parser fed from the TLS stream, one request per connection.
#include "gateway/probe_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>
#include <sstream>

#include "core/metrics/metrics.h"

namespace strait::gateway {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr std::size_t kMaxHeader = 8 * 1024;
constexpr auto kDeadline = std::chrono::seconds(5);
// After an answer the client may still be sending (a body, an oversized header): read and drop
// it for a moment so that closing does not reset the connection before the answer is read.
constexpr auto kLinger = std::chrono::seconds(1);
constexpr std::size_t kLingerBytes = 256 * 1024;

ProbeServer::Reply text(unsigned status, std::string body) {
  return {status, std::move(body) + "\n", "text/plain"};
}

// Why a connection ended without a request served, decided once: the session counts it.
struct Refusal {
  std::string reason, detail;
};

}  // namespace

ProbeServer::Reply ProbeServer::answer(http::verb method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path != "/live" && path != "/ready" && path != "/metrics") return text(404, "not found");
  if (method != http::verb::get) return text(405, "only GET");
  if (path == "/live") return text(200, "live");
  if (path == "/ready") {
    auto r = rt_.readiness();
    if (r) return text(200, "ready");
    return text(503, r.error().message);
  }
  return {200, rt_.registry().expose(), std::string(metrics::kContentType)};
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
  if (!state) {
    ctx.refuse("admin", "no_identity", "no certificate yet to serve TLS with");
    co_return;
  }
  tls::TlsStream tls(std::move(s), state->server, tls::TlsStream::Role::kServer);

  // Everything up to the answer, under one deadline; the outcome is counted once, after the
  // race is decided (a cancelled handshake is not a second refusal).
  std::optional<Refusal> refusal;
  bool answered = false;
  auto work = [&]() -> asio::awaitable<void> {
    if (auto ec = co_await tls.handshake(); ec) {
      auto why = tls::peer_verify_error(tls.native_handle());
      refusal = Refusal{"tls_handshake_failed", why ? why->to_string() : ec.message()};
      co_return;
    }
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxHeader);
    std::string pending;
    char buf[2048];
    Reply reply;
    for (;;) {
      auto [ec, n] = co_await tls.read_some(asio::buffer(buf));
      if (ec) co_return;  // the client went away: nothing to answer, nothing refused
      pending.append(buf, n);
      boost::system::error_code pec;
      pending.erase(0, parser.put(asio::buffer(pending), pec));
      if (pec == http::error::need_more && pending.size() <= kMaxHeader) continue;
      if (!pec && parser.is_header_done()) {
        reply = answer(parser.get().method(), parser.get().target());
      } else if (pec == http::error::header_limit || pec == http::error::need_more) {
        refusal = Refusal{"header_too_large", "probe request header over 8 KiB"};
        reply = text(431, "request header fields too large");
      } else {
        refusal = Refusal{"bad_request", pec.message()};
        reply = text(400, "bad request");
      }
      break;
    }
    http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::connection, "close");
    res.body() = std::move(reply.body);
    res.prepare_payload();
    std::ostringstream out;
    out << res;
    if (auto ec = co_await tls.write_all(asio::buffer(out.str())); ec) co_return;
    answered = true;
    co_await tls.shutdown_write();
  };
  auto r = co_await (work() || proxy::sleep_for(kDeadline));
  if (r.index() == 1 && !answered) refusal = Refusal{"read_timeout", "no whole request in time"};
  if (refusal) ctx.refuse("admin", refusal->reason, refusal->detail);
  if (answered) {
    auto drain = [&]() -> asio::awaitable<void> {
      std::size_t dropped = 0;
      char sink[4096];
      while (dropped < kLingerBytes) {
        auto [ec, n] = co_await tls.read_some(asio::buffer(sink));
        if (ec) break;
        dropped += n;
      }
    };
    co_await (drain() || proxy::sleep_for(kLinger));
  }
  tls.close();
}

}  // namespace strait::gateway
