// strait-gateway: target name checks, loop detection, routing to local endpoints.
#include "gateway/gateway.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "core/net/address.h"
#include "gateway/probe_server.h"
#include "sidecar/proxy/dial.h"
#include "sidecar/proxy/inbound.h"
#include "sidecar/proxy/outbound.h"
#include "sidecar/proxy/runtime.h"

namespace strait::gateway {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

Result<std::string> local_authority(const std::string& name, const std::string& domain) {
  if (name.empty()) return make_error("no_target_name", "the transport header names no target");
  auto outside = [&] {
    return make_error("outside_domain", "\"" + name + "\" is not <svc>.<ns>.svc." + domain +
                                            ":<port> of this cluster");
  };
  auto colon = name.rfind(':');
  if (colon == std::string::npos) return outside();
  if (!net::parse_wire_port(std::string_view(name).substr(colon + 1))) {
    return make_error("bad_target_port", "\"" + name +
                                             "\": the port must be 1..65535 in digits, "
                                             "without leading zeros");
  }
  const std::string host = name.substr(0, colon);
  const std::string suffix = ".svc." + domain;
  if (host.size() <= suffix.size() ||
      host.compare(host.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return outside();
  }
  // Exactly <svc>.<ns> before the suffix: both parts present, no further dots.
  const std::string svc_ns = host.substr(0, host.size() - suffix.size());
  const auto dot = svc_ns.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == svc_ns.size() ||
      svc_ns.find('.', dot + 1) != std::string::npos) {
    return outside();
  }
  return name;
}

asio::awaitable<void> serve_gateway(proxy::ProxyContext& ctx, tcp::socket peer) {
  auto member = ctx.connections.join();
  member.hold(peer.native_handle());
  // Like the proxy's inbound side: no Nagle delay on answers to a remote proxy's requests.
  boost::system::error_code nodelay_ec;  // a socket already reset fails later, with a reason
  peer.set_option(tcp::no_delay(true), nodelay_ec);
  auto accepted = co_await proxy::accept_connection(ctx, std::move(peer), /*require_tls=*/true);
  if (!accepted) {
    ctx.refuse("gateway", accepted.error().code, accepted.error().message);
    co_return;
  }
  // Gateway policy: any authenticated identity of a trusted domain (the handshake checked the
  // chain and the roots' scopes).
  if (!accepted->client) {
    ctx.refuse("gateway", "unauthenticated",
               "the gateway admits only clients with a mesh identity");
    co_return;
  }
  const std::string client_id = accepted->client->to_string();
  auto authority = local_authority(accepted->header.target_name, ctx.config.cluster_domain);
  if (!authority) {
    ctx.refuse("gateway", authority.error().code,
               authority.error().message + " (client " + client_id + ")");
    co_return;
  }
  const auto deadline = Clock::now() + ctx.config.fail_fast;
  auto route = co_await proxy::resolve_route(ctx, *authority, deadline);
  if (!route) {
    ctx.refuse("gateway", route.error().code,
               route.error().message + " (client " + client_id + ")");
    co_return;
  }
  if (!route->meshed) {
    ctx.refuse("gateway", "unknown_service", *authority + " is not a service of this cluster");
    co_return;
  }
  auto ep = co_await proxy::choose_endpoint(ctx, *route, *authority, deadline);
  if (!ep) {
    ctx.refuse("gateway", ep.error().code, ep.error().message);
    co_return;
  }
  // Loop detection: a gateway routes only to this cluster's own workloads, never to a mirror
  // (which would send the connection to another gateway, possibly back here).
  const std::string& here = ctx.config.cluster_name;
  if (!ep->addr.authority_override().empty() ||
      (!here.empty() && !ep->addr.cluster().empty() && ep->addr.cluster() != here)) {
    ctx.refuse("gateway", "loop", *authority + " resolves to a mirror, not a local workload");
    co_return;
  }

  proxy::ConnLabels labels = proxy::connection_labels("gateway", *route, &*ep);
  labels.tls = "true";
  labels.client_id = client_id;
  labels.server_id = ep->addr.tls_identity();
  proxy::ConnectionMetrics conn(ctx.metrics, labels);

  proxy::TransportHeader header;
  header.target_port = static_cast<std::uint16_t>(ep->addr.addr().port());
  // A client proxy's HTTP/2 session passes through whole, to one endpoint: the session protocol
  // travels on, so that the endpoint's proxy serves it as HTTP/2 and not as the application's
  // bytes.
  header.session = accepted->header.session;
  auto upstream = co_await proxy::connect_upstream(ctx, ep->addr, header);
  if (!upstream) {
    log::warn("gateway connect failed", {{"target", *authority},
                                         {"reason", upstream.error().code},
                                         {"detail", upstream.error().message}});
    conn.closed(upstream.error().code);
    co_return;
  }
  member.hold((*upstream)->socket().native_handle());
  // An HTTP/2 session passing through carries requests yet to come: cut it when a trust root is
  // withdrawn (the client proxy reconnects and must handshake against what is trusted now); an
  // opaque transfer in flight is left alone.
  proxy::Hooks::Guard trust;
  if (header.session == proxy::SessionProtocol::kHttp2) {
    trust = ctx.trust_withdrawn.add([s = accepted->stream.get()] {
      boost::system::error_code ec;
      s->socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    });
  }
  auto r = co_await proxy::relay(*accepted->stream, **upstream, conn.counters(),
                                 ctx.config.idle_timeout);
  conn.closed(r.error);
}

namespace {

class GatewayImpl final : public Gateway {
 public:
  GatewayImpl(std::unique_ptr<proxy::Runtime> rt, std::string admin_listen)
      : rt_(std::move(rt)), admin_listen_(std::move(admin_listen)) {}

  Result<void> init() {
    auto& ctx = rt_->context();
    auto gw = rt_->listen(rt_->config().inbound_listen, "gateway", [this, &ctx](tcp::socket s) {
      asio::co_spawn(rt_->io(), serve_gateway(ctx, std::move(s)), asio::detached);
    });
    if (!gw) return gw.error();
    probe_ = std::make_unique<ProbeServer>(*rt_);
    auto admin =
        rt_->listen(admin_listen_, "admin", [this](tcp::socket s) { probe_->serve(std::move(s)); });
    if (!admin) return admin.error();
    ports_ = {*gw, *admin};
    return {};
  }

  GatewayPorts ports() const override { return ports_; }
  void run() override {
    log::info("gateway serving", {{"gateway_port", static_cast<std::int64_t>(ports_.gateway)},
                                  {"admin_port", static_cast<std::int64_t>(ports_.admin)}});
    rt_->run();
  }
  void drain() override { rt_->drain(); }

 private:
  std::unique_ptr<proxy::Runtime> rt_;
  std::string admin_listen_;
  std::unique_ptr<ProbeServer> probe_;
  GatewayPorts ports_;
};

}  // namespace

Result<std::unique_ptr<Gateway>> Gateway::create(proxy::ProxyConfig config) {
  // The admin port speaks TLS (probes from other clusters come over mTLS): the runtime's plain
  // admin server is not started; ProbeServer serves /live, /ready and /metrics instead.
  std::string admin_listen = config.admin_listen;
  config.admin_listen.clear();
  auto rt = proxy::Runtime::create(std::move(config));
  if (!rt) return rt.error();
  auto g = std::make_unique<GatewayImpl>(std::move(*rt), std::move(admin_listen));
  if (auto r = g->init(); !r) return r.error();
  return std::unique_ptr<Gateway>(std::move(g));
}

}  // namespace strait::gateway
