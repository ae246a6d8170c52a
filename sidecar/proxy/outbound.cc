// Outbound: the application's connection through dial (resolve, balance, connect) to the relay.
#include "sidecar/proxy/outbound.h"

#include <optional>

#include "sidecar/proxy/detect.h"
#include "sidecar/proxy/dial.h"
#include "sidecar/proxy/h2_pool.h"
#include "sidecar/proxy/http/h1_session.h"
#include "sidecar/proxy/http/h2_session.h"
#include "sidecar/proxy/http_outbound.h"

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Bytes already read from the application (by detection, or an upgrade request's head) go to
// the upstream first. For an HTTP upgrade the application is owed an answer to a refusal.
class Replay final : public OutboundReply {
 public:
  Replay(std::string bytes, bool http) : bytes_(std::move(bytes)), http_(http) {}
  asio::awaitable<void> refused(tcp::socket& app, int status, const Error& why) override {
    if (!http_) co_return;
    const std::string answer = "HTTP/1.1 " + std::to_string(status) +
                               (status == 503 ? " Service Unavailable" : " Bad Gateway") +
                               "\r\nstrait-proxy-error: " + why.code +
                               "\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    co_await asio::async_write(app, asio::buffer(answer), kTuple);
  }
  asio::awaitable<boost::system::error_code> established(tcp::socket&) override {
    co_return boost::system::error_code{};
  }
  std::string early_data() override { return std::move(bytes_); }

 private:
  std::string bytes_;
  bool http_;
};

}  // namespace

// Detection over bytes already read (`early`: after a CONNECT) and what follows on `stream`.
asio::awaitable<Detected> detect_after(AnyStream& stream, std::string early,
                                       std::chrono::milliseconds timeout) {
  if (!early.empty()) {
    if (auto p = classify(early)) co_return Detected{*p, std::move(early), false, false};
  }
  auto d = co_await detect(stream, timeout);
  if (early.empty()) co_return d;
  d.prefix = early + d.prefix;
  d.protocol = classify(d.prefix).value_or(Protocol::kOpaque);
  co_return d;
}

asio::awaitable<std::optional<Route>> http_route(ProxyContext& ctx, const tcp::endpoint& original) {
  if (!ctx.h2_pool || ctx.config.opaque_ports.contains(original.port())) co_return std::nullopt;
  auto r = co_await resolve_route(ctx, to_string(original), Clock::now() + ctx.config.fail_fast);
  if (!r || !r->meshed || r->lease->opaque()) co_return std::nullopt;
  co_return std::move(*r);
}

asio::awaitable<void> serve_outbound(ProxyContext& ctx, tcp::socket app, tcp::endpoint original) {
  auto member = ctx.connections.join();
  member.hold(app.native_handle());
  auto route = co_await http_route(ctx, original);
  if (!route) {  // relayed as bytes (forward_outbound also answers what cannot be resolved)
    co_await forward_outbound(ctx, member, std::move(app), original, nullptr);
    co_return;
  }
  co_await serve_target(ctx, member, std::move(app), original, std::move(*route), {});
}

asio::awaitable<void> serve_target(ProxyContext& ctx, ConnectionSet::Member& member,
                                   tcp::socket app, tcp::endpoint original, Route route,
                                   std::string early) {
  boost::system::error_code nec;
  app.set_option(tcp::no_delay(true), nec);
  const std::string target = to_string(original);
  AnyStream stream(std::make_unique<PlainStream>(std::move(app)));
  auto detected = co_await detect_after(stream, std::move(early), ctx.config.detect_timeout);
  if (detected.closed && detected.prefix.empty()) co_return;
  if (detected.protocol == Protocol::kOpaque) {
    Replay replay(std::move(detected.prefix), false);
    co_await forward_outbound(ctx, member, std::move(stream.socket()), original, &replay);
    co_return;
  }
  OutboundHttp http(ctx, *ctx.h2_pool, ctx.metrics.http, std::move(route), target);
  http::Handler handler = [&http](http::Request r) { return http.handle(std::move(r)); };
  http::RefusalSink sink = [&ctx](std::string_view reason, std::string_view detail) {
    ctx.refuse("outbound", std::string(reason), std::string(detail));
  };
  if (detected.protocol == Protocol::kHttp2) {
    http::H2Server server(ctx.io.get_executor(), ctx.config.h2_limits, handler, sink);
    auto hook = ctx.on_drain([&server] { server.drain(); });
    co_await server.run(stream, std::move(detected.prefix));
    co_return;
  }
  auto limits = ctx.config.h1_limits;
  limits.draining = &ctx.draining;
  auto served =
      co_await http::H1Server::serve(stream, std::move(detected.prefix), limits, handler, sink);
  if (served.upgrade) {
    // WebSocket and CONNECT: the request's head goes to one endpoint and the connection
    // becomes a relay of bytes there.
    Replay replay(served.upgrade->head_bytes + served.upgrade->leftover, true);
    co_await forward_outbound(ctx, member, std::move(stream.socket()), original, &replay);
  }
}

asio::awaitable<void> forward_outbound(ProxyContext& ctx, ConnectionSet::Member& member,
                                       tcp::socket app, tcp::endpoint original,
                                       OutboundReply* reply) {
  boost::system::error_code nec;
  app.set_option(tcp::no_delay(true), nec);
  const std::string target = to_string(original);
  const auto deadline = Clock::now() + ctx.config.fail_fast;
  auto refuse = [&](const Error& why, int status) -> asio::awaitable<void> {
    ctx.refuse("outbound", why.code, why.message);
    if (reply) co_await reply->refused(app, status, why);
  };

  auto route = co_await resolve_route(ctx, target, deadline);
  if (!route) {
    co_await refuse(route.error(), 503);
    co_return;
  }
  // Not in the mesh: straight to where the application was going.
  std::optional<Pick> endpoint;
  destination::v1::WeightedAddr addr;
  if (!route->meshed) {
    addr.mutable_addr()->set_ip(original.address().to_string());
    addr.mutable_addr()->set_port(original.port());
  } else {
    auto chosen = co_await choose_endpoint(ctx, *route, target, deadline);
    if (!chosen) {
      co_await refuse(chosen.error(), 503);
      co_return;
    }
    endpoint = std::move(*chosen);
    addr = endpoint->addr;
  }
  ConnectionMetrics conn(ctx.metrics,
                         connection_labels("outbound", *route, endpoint ? &*endpoint : nullptr));

  TransportHeader header;
  header.target_port = static_cast<std::uint16_t>(addr.addr().port());
  header.target_name = addr.authority_override();
  auto upstream = co_await connect_upstream(ctx, addr, header);
  if (!upstream) {
    log::warn("outbound connect failed", {{"target", target},
                                          {"endpoint", endpoint ? endpoint->key : std::string()},
                                          {"reason", upstream.error().code},
                                          {"detail", upstream.error().message}});
    conn.closed(upstream.error().code);
    if (reply) co_await reply->refused(app, 502, upstream.error());
    co_return;
  }
  member.hold((*upstream)->socket().native_handle());
  auto counters = conn.counters();
  if (reply) {
    if (auto ec = co_await reply->established(app); ec) {
      conn.closed("client_gone");
      co_return;
    }
    if (std::string early = reply->early_data(); !early.empty()) {
      if (auto ec = co_await (*upstream)->write_all(asio::buffer(early)); ec) {
        conn.closed(detail::error_name(ec));
        co_return;
      }
      counters.read.inc(early.size());
    }
  }
  PlainStream client(std::move(app));
  auto r = co_await relay(client, **upstream, counters, ctx.config.idle_timeout);
  conn.closed(r.error);
}

}  // namespace strait::proxy
