// Outbound: the application's connection through dial (resolve, balance, connect) to the relay.
#include "sidecar/proxy/outbound.h"

#include <optional>

#include "sidecar/proxy/dial.h"

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

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
