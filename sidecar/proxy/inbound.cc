// Inbound: detect, terminate, authorize, forward.
#include "sidecar/proxy/inbound.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "sidecar/proxy/authorization.h"
#include "sidecar/proxy/detect.h"
#include "sidecar/proxy/http/h1_session.h"
#include "sidecar/proxy/http/h2_session.h"
#include "sidecar/proxy/http_inbound.h"

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr unsigned char kTlsHandshakeRecord = 0x16;

asio::awaitable<Result<TransportHeader>> read_header(tls::TlsStream& tls, std::size_t max) {
  std::string prefix(TransportHeader::kPrefixSize, '\0');
  if (auto ec = co_await read_exactly(tls, asio::buffer(prefix)); ec) {
    co_return make_error("bad_transport_header", "reading the transport header: " + ec.message());
  }
  auto len = TransportHeader::body_length(prefix, max);
  if (!len) co_return len.error();
  std::string body(*len, '\0');
  if (auto ec = co_await read_exactly(tls, asio::buffer(body)); ec) {
    co_return make_error("bad_transport_header", "reading the transport header: " + ec.message());
  }
  co_return TransportHeader::decode_body(body);
}

}  // namespace

asio::awaitable<Result<Accepted>> accept_connection(ProxyContext& ctx, tcp::socket peer,
                                                    bool require_tls) {
  Accepted out;
  boost::system::error_code ec;
  out.source_ip = peer.remote_endpoint(ec).address().to_string();
  const auto timeout = ctx.config.handshake_timeout;

  unsigned char first = 0;
  auto peeked =
      co_await (peer.async_receive(asio::buffer(&first, 1), tcp::socket::message_peek, kTuple) ||
                sleep_for(timeout));
  if (peeked.index() == 1)
    co_return make_error("handshake_timeout", "no byte within the handshake timeout");
  if (auto [pec, n] = std::get<0>(peeked); pec || n == 0) {
    co_return make_error("closed_early", pec ? pec.message() : "closed before sending anything");
  }

  if (first != kTlsHandshakeRecord) {
    if (require_tls) co_return make_error("plaintext_to_proxy_port", "this port requires TLS");
    auto orig = original_dst(peer);
    if (!orig) {
      co_return make_error("plaintext_to_proxy_port",
                           "plaintext sent straight to the proxy's inbound port");
    }
    out.header.target_port = orig->port();
    out.stream = std::make_unique<AnyStream>(std::make_unique<PlainStream>(std::move(peer)));
    co_return out;
  }

  auto state = ctx.identity.current();
  if (!state) co_return make_error("no_identity", "this proxy has no certificate yet");
  auto tls = std::make_unique<tls::TlsStream>(std::move(peer), state->server,
                                              tls::TlsStream::Role::kServer);
  auto hs = co_await (tls->handshake() || sleep_for(timeout));
  if (hs.index() == 1)
    co_return make_error("handshake_timeout", "TLS handshake did not finish in time");
  if (auto hec = std::get<0>(hs); hec) {
    auto why = tls::peer_verify_error(tls->native_handle());
    co_return make_error("tls_handshake_failed",
                         why ? why->code + ": " + why->message : hec.message());
  }
  out.client = tls::peer_identity(tls->native_handle());
  auto header = co_await (read_header(*tls, ctx.config.max_header_bytes) || sleep_for(timeout));
  if (header.index() == 1)
    co_return make_error("bad_transport_header", "no transport header in time");
  if (!std::get<0>(header)) co_return std::get<0>(header).error();
  out.header = std::move(*std::get<0>(header));
  out.stream = std::make_unique<AnyStream>(std::move(tls));
  co_return out;
}

asio::awaitable<void> serve_inbound(ProxyContext& ctx, tcp::socket peer) {
  auto member = ctx.connections.join();
  member.hold(peer.native_handle());
  boost::system::error_code nodelay_ec;  // a socket already reset fails later, with a reason
  peer.set_option(tcp::no_delay(true), nodelay_ec);
  auto accepted = co_await accept_connection(ctx, std::move(peer), false);
  if (!accepted) {
    ctx.refuse("inbound", accepted.error().code, accepted.error().message);
    co_return;
  }
  const std::uint16_t port = accepted->header.target_port;
  const std::string client_id = accepted->client ? accepted->client->to_string() : "";
  if (ctx.own_ports.contains(port)) {
    ctx.refuse("inbound", "proxy_port",
               "target port " + std::to_string(port) +
                   " is one of the proxy's own listeners (client " +
                   (client_id.empty() ? std::string("unauthenticated") : client_id) + ", source " +
                   accepted->source_ip + ")");
    co_return;
  }

  auto policy = co_await ctx.policies.get(port, Clock::now() + ctx.config.fail_fast);
  if (!policy) {
    ctx.refuse("inbound", "no_policy", "no inbound policy for port " + std::to_string(port));
    co_return;
  }
  auto verdict = authorize(*policy, accepted->client, accepted->source_ip);
  if (!verdict.allowed) {
    ctx.metrics.authz_deny.with({std::to_string(port), policy->server(), verdict.reason, client_id})
        .inc();
    log::warn("inbound connection denied by policy",
              {{"port", static_cast<std::int64_t>(port)},
               {"reason", verdict.reason},
               {"client_id", client_id.empty() ? "-" : client_id},
               {"source", accepted->source_ip}});
    co_return;
  }
  ctx.metrics.authz_allow
      .with({std::to_string(port), policy->server(), verdict.authorization, client_id})
      .inc();

  ConnLabels labels;
  labels.direction = "inbound";
  labels.tls = accepted->stream->is_tls() ? "true" : "false";
  labels.client_id = client_id;
  ConnectionMetrics conn(ctx.metrics, labels);
  InboundHttp http(ctx, ctx.metrics.http, port, accepted->client, accepted->source_ip, labels);
  http::Handler handler = [&http](http::Request r) { return http.handle(std::move(r)); };
  http::RefusalSink sink = [&ctx](std::string_view reason, std::string_view detail) {
    ctx.refuse("inbound", std::string(reason), std::string(detail));
  };
  auto serve_h2 = [&](std::string prefix) -> asio::awaitable<void> {
    http::H2Server server(ctx.io.get_executor(), ctx.config.h2_limits, handler, sink);
    auto hook = ctx.on_drain([&server] { server.drain(); });
    // A session carries requests yet to come: when a trust root is withdrawn it ends (GOAWAY),
    // so that they arrive on a new connection, verified against what is trusted now. (A byte
    // stream in flight is left alone: docs/decisions.md, separate trust domains.)
    auto trust = ctx.trust_withdrawn.add([&server] { server.drain(); });
    co_await server.run(*accepted->stream, std::move(prefix));
  };
  if (accepted->header.session == SessionProtocol::kHttp2) {
    // Another proxy's HTTP/2 session: every request goes to the application on its own.
    co_await serve_h2({});
    conn.closed("");
    co_return;
  }
  // Plaintext that strait-init redirected (a client outside the mesh) is inspected like the
  // outbound side's; after TLS the client proxy has already decided (the session protocol), and
  // a second detection would only make server-first protocols wait twice.
  std::string replay;
  const bool opaque_port =
      ctx.config.opaque_ports.contains(port) || policy->protocol() == common::v1::PROTOCOL_OPAQUE;
  if (ctx.h2_pool && !accepted->stream->is_tls() && !opaque_port) {
    auto detected = co_await detect(*accepted->stream, ctx.config.detect_timeout);
    if (detected.closed && detected.prefix.empty()) {
      conn.closed("");
      co_return;
    }
    if (detected.protocol == Protocol::kHttp2) {
      co_await serve_h2(std::move(detected.prefix));
      conn.closed("");
      co_return;
    }
    if (detected.protocol == Protocol::kHttp1) {
      auto limits = ctx.config.h1_limits;
      limits.draining = &ctx.draining;
      auto served = co_await http::H1Server::serve(*accepted->stream, std::move(detected.prefix),
                                                   limits, handler, sink);
      if (!served.upgrade) {
        conn.closed("");
        co_return;
      }
      // WebSocket or CONNECT: the head goes to the application, then bytes both ways.
      replay = served.upgrade->head_bytes + served.upgrade->leftover;
    } else {
      replay = std::move(detected.prefix);
    }
  }
  const tcp::endpoint app_at = app_endpoint(ctx, port);
  auto app = co_await connect_app(ctx, app_at);
  if (!app) {
    conn.closed(app.error().code);
    log::warn("inbound: the application is not answering",
              {{"port", static_cast<std::int64_t>(port)}, {"application", to_string(app_at)}});
    co_return;
  }
  member.hold(app->native_handle());
  PlainStream upstream(std::move(*app));
  auto counters = conn.counters();
  if (!replay.empty()) {
    if (auto ec = co_await upstream.write_all(asio::buffer(replay)); ec) {
      conn.closed(detail::error_name(ec));
      co_return;
    }
    counters.read.inc(replay.size());
  }
  auto result = co_await relay(*accepted->stream, upstream, counters, ctx.config.idle_timeout);
  conn.closed(result.error);
}

}  // namespace strait::proxy
