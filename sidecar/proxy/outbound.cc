// Outbound: resolve, balance, connect, secure, relay.
#include "sidecar/proxy/outbound.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

// Connects within the timeout; the error code names what happened.
asio::awaitable<Result<tcp::socket>> connect_within(tcp::endpoint to,
                                                    std::chrono::milliseconds timeout) {
  tcp::socket s(co_await asio::this_coro::executor);
  auto r = co_await (s.async_connect(to, kTuple) || sleep_for(timeout));
  if (r.index() == 1) co_return make_error("connect_timeout", "no answer from " + to_string(to));
  auto [ec] = std::get<0>(r);
  if (ec) {
    co_return make_error(
        ec == asio::error::connection_refused ? "connect_refused" : "connect_error",
        to_string(to) + ": " + ec.message());
  }
  s.set_option(tcp::no_delay(true), ec);  // best effort: a reset socket fails on first use
  co_return std::move(s);
}

}  // namespace

asio::awaitable<Result<std::unique_ptr<AnyStream>>> connect_upstream(
    ProxyContext& ctx, const destination::v1::WeightedAddr& addr, const TransportHeader& header) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(addr.addr().ip(), ec);
  if (ec) co_return make_error("bad_endpoint", "endpoint address " + addr.addr().ip());
  const bool meshed = !addr.tls_identity().empty() && addr.proxy_port() != 0;
  tcp::endpoint to(ip, static_cast<std::uint16_t>(meshed ? addr.proxy_port() : addr.addr().port()));
  auto sock = co_await connect_within(to, ctx.config.outbound_connect_timeout);
  if (!sock) co_return sock.error();
  if (!meshed)
    co_return std::make_unique<AnyStream>(std::make_unique<PlainStream>(std::move(*sock)));

  auto state = ctx.identity.current();
  if (!state) co_return make_error("no_identity", "this proxy has no certificate yet");
  auto expected = identity::SpiffeId::parse(addr.tls_identity());
  if (!expected) co_return make_error("bad_endpoint", "endpoint identity " + addr.tls_identity());
  auto tls = std::make_unique<tls::TlsStream>(std::move(*sock), state->client,
                                              tls::TlsStream::Role::kClient);
  tls::expect_peer_identity(tls->native_handle(), *expected);
  auto hs = co_await (tls->handshake() || sleep_for(ctx.config.handshake_timeout));
  if (hs.index() == 1)
    co_return make_error("tls_handshake_timeout", "no TLS handshake from " + to_string(to));
  if (auto hec = std::get<0>(hs); hec) {
    auto why = tls::peer_verify_error(tls->native_handle());
    co_return make_error(
        why && why->code == "unexpected_identity" ? "identity_mismatch" : "tls_handshake_failed",
        to_string(to) + ": " + (why ? why->message : hec.message()));
  }
  auto h = header.encode();
  if (!h) co_return h.error();
  if (auto wec = co_await tls->write_all(asio::buffer(*h)); wec) {
    co_return make_error("connect_error", to_string(to) + ": " + wec.message());
  }
  co_return std::make_unique<AnyStream>(std::move(tls));
}

asio::awaitable<void> serve_outbound(ProxyContext& ctx, tcp::socket app, tcp::endpoint original) {
  auto member = ctx.connections.join();
  member.hold(app.native_handle());
  co_await forward_outbound(ctx, member, std::move(app), original, nullptr);
}

asio::awaitable<void> forward_outbound(ProxyContext& ctx, ConnectionSet::Member& member,
                                       tcp::socket app, tcp::endpoint original,
                                       OutboundReply* reply) {
  boost::system::error_code nec;
  app.set_option(tcp::no_delay(true), nec);
  const std::string target = to_string(original);
  auto deadline = Clock::now() + ctx.config.fail_fast;

  auto lease = co_await ctx.destinations.resolve(target, deadline);
  if (!lease) {
    ctx.refuse("outbound", lease.error().code, lease.error().message);
    if (reply) co_await reply->refused(app, 503, lease.error());
    co_return;
  }
  ConnLabels labels;
  labels.direction = "outbound";
  labels.tls = "false";
  for (const auto& [k, v] : (*lease)->labels()) {
    if (k == "namespace") labels.dst_namespace = v;
    if (k == "service") labels.dst_service = v;
    if (k == "cluster") labels.dst_cluster = v;
  }

  if ((*lease)->undeclared_port()) {
    Error why{"undeclared_port", target + ": the service does not declare this port"};
    ctx.refuse("outbound", why.code, why.message);
    if (reply) co_await reply->refused(app, 503, why);
    co_return;
  }

  destination::v1::WeightedAddr addr;
  std::string endpoint_key;
  if (!(*lease)->exists()) {
    // Not in the mesh: straight to where the application was going.
    addr.mutable_addr()->set_ip(original.address().to_string());
    addr.mutable_addr()->set_port(original.port());
  } else {
    if (!co_await (*lease)->wait_for_endpoints(deadline)) {
      Error why{"no_ready_endpoints",
                target + ": the service has no ready endpoint (failed fast after " +
                    std::to_string(ctx.config.fail_fast.count()) + " ms)"};
      ctx.refuse("outbound", why.code, why.message);
      if (reply) co_await reply->refused(app, 503, why);
      co_return;
    }
    const Endpoint* ep = (*lease)->pick(ctx.rng);
    addr = ep->addr;
    endpoint_key = ep->key;
    const auto& ml = addr.metric_labels();
    auto label = [&ml](const char* key) {
      auto it = ml.find(key);
      return it == ml.end() ? std::string() : it->second;
    };
    labels.target_cluster = label("target_cluster");
    labels.target_service = label("target_service");
    labels.target_service_namespace = label("target_service_namespace");
  }
  if (!addr.tls_identity().empty() && addr.proxy_port() != 0) {
    labels.tls = "true";
    labels.server_id = addr.tls_identity();
  }
  ConnectionMetrics conn(ctx.metrics, labels);
  if (!endpoint_key.empty()) (*lease)->opened(endpoint_key);
  struct Closed {  // balancer accounting, however this coroutine ends
    DestinationCache::Lease& lease;
    std::string key;
    ~Closed() {
      if (!key.empty()) lease->closed(key);
    }
  } closed{*lease, endpoint_key};

  TransportHeader header;
  header.target_port = static_cast<std::uint16_t>(addr.addr().port());
  header.target_name = addr.authority_override();
  auto upstream = co_await connect_upstream(ctx, addr, header);
  if (!upstream) {
    log::warn("outbound connect failed", {{"target", target},
                                          {"endpoint", endpoint_key},
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
