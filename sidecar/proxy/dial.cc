// Dial: resolve, fail fast, balance, connect.
#include "sidecar/proxy/dial.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

asio::awaitable<Result<Route>> resolve_route(ProxyContext& ctx, std::string target,
                                             Clock::time_point deadline) {
  auto lease = co_await ctx.destinations.resolve(target, deadline);
  if (!lease) co_return lease.error();
  if ((*lease)->undeclared_port()) {
    co_return make_error("undeclared_port", target + ": the service does not declare this port");
  }
  Route r;
  r.meshed = (*lease)->exists();
  r.lease = std::move(*lease);
  co_return std::move(r);
}

asio::awaitable<Result<Pick>> choose_endpoint(ProxyContext& ctx, const Route& route,
                                              const std::string& target,
                                              Clock::time_point deadline) {
  using Wait = DestinationCache::Entry::Wait;
  const Wait w = co_await route.lease->wait_for_endpoints(deadline);
  if (w == Wait::kQueueFull) {
    co_return make_error("queue_full", target + ": " + std::to_string(route.lease->waiting()) +
                                           " requests are waiting already for a ready endpoint");
  }
  if (w == Wait::kTimeout) {
    co_return make_error("no_ready_endpoints",
                         target + ": the service has no ready endpoint (failed fast after " +
                             std::to_string(ctx.config.fail_fast.count()) + " ms)");
  }
  auto pick = route.lease->pick(ctx.rng);
  if (!pick)
    co_return make_error("no_ready_endpoints", target + ": the service has no ready endpoint");
  co_return std::move(*pick);
}

ConnLabels connection_labels(std::string direction, const Route& route, const Pick* endpoint) {
  ConnLabels labels;
  labels.direction = std::move(direction);
  labels.tls = "false";
  for (const auto& [k, v] : route.lease->labels()) {
    if (k == "namespace") labels.dst_namespace = v;
    if (k == "service") labels.dst_service = v;
    if (k == "cluster") labels.dst_cluster = v;
  }
  if (endpoint == nullptr) return labels;
  const auto& addr = endpoint->addr;
  const auto& ml = addr.metric_labels();
  auto label = [&ml](const char* key) {
    auto it = ml.find(key);
    return it == ml.end() ? std::string() : it->second;
  };
  labels.target_cluster = label("target_cluster");
  labels.target_service = label("target_service");
  labels.target_service_namespace = label("target_service_namespace");
  if (!addr.tls_identity().empty() && addr.proxy_port() != 0) {
    labels.tls = "true";
    labels.server_id = addr.tls_identity();
  }
  return labels;
}

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
    ProxyContext& ctx, destination::v1::WeightedAddr addr, TransportHeader header) {
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

}  // namespace strait::proxy
