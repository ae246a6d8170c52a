// strait-gateway: target name checks, loop detection, routing to local endpoints.
#include "gateway/gateway.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "core/net/address.h"
#include "gateway/probe_server.h"
#include "sidecar/proxy/dial.h"
#include "sidecar/proxy/http/h2_session.h"
#include "sidecar/proxy/http_outbound.h"
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

namespace {

// RFC 7239 node: an IPv4 address as is, IPv6 in brackets and quotes.
std::string forwarded_node(const asio::ip::address& a) {
  return a.is_v6() ? "\"[" + a.to_string() + "]\"" : a.to_string();
}

// A client proxy's HTTP/2 session: every request balanced on its own over the target service's
// local endpoints, with the gateway's Forwarded element and golden metrics (direction gateway,
// the client's identity, the target_* labels).
asio::awaitable<void> serve_http(proxy::ProxyContext& ctx, proxy::Accepted& accepted,
                                 proxy::Route route, const std::string& authority,
                                 const std::string& client_id) {
  proxy::ConnLabels labels;
  labels.direction = "gateway";
  labels.tls = "true";
  labels.client_id = client_id;
  proxy::ConnectionMetrics conn(ctx.metrics, labels);
  proxy::OutboundHttp::Options o;
  o.direction = "gateway";
  o.keep_orig_proto = true;
  o.local_only = true;
  o.local_cluster = ctx.config.cluster_name;
  o.client_id = client_id;
  // local_authority() checked the shape: <svc>.<ns>.svc.<domain>:<port>.
  const auto dot = authority.find('.');
  const auto dot2 = authority.find('.', dot + 1);
  o.target_cluster = ctx.config.cluster_name;
  o.target_service = authority.substr(0, dot);
  o.target_service_namespace = authority.substr(dot + 1, dot2 - dot - 1);
  boost::system::error_code ec;
  const auto local = accepted.stream->socket().local_endpoint(ec);
  auto source = asio::ip::make_address(accepted.source_ip, ec);
  o.forwarded = "by=" + forwarded_node(local.address()) +
                ";for=" + (ec ? std::string("unknown") : forwarded_node(source)) + ";proto=http";
  proxy::OutboundHttp http(ctx, *ctx.h2_pool, ctx.metrics.http, std::move(route), authority, o);
  proxy::http::Handler handler = [&http](proxy::http::Request r) {
    return http.handle(std::move(r));
  };
  proxy::http::RefusalSink sink = [&ctx](std::string_view reason, std::string_view detail) {
    ctx.refuse("gateway", std::string(reason), std::string(detail));
  };
  proxy::http::H2Server server(ctx.io.get_executor(), ctx.config.h2_limits, handler, sink);
  auto drain = ctx.on_drain([&server] { server.drain(); });
  // Requests yet to come must be verified against what is trusted then.
  auto trust = ctx.trust_withdrawn.add([&server] { server.drain(); });
  co_await server.run(*accepted.stream, {});
  conn.closed("");
}

}  // namespace

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

  if (accepted->header.session == proxy::SessionProtocol::kHttp2 && ctx.h2_pool) {
    ep->in_flight = proxy::InFlight();  // the check's pick: requests choose their own
    co_await serve_http(ctx, *accepted, std::move(*route), *authority, client_id);
    co_return;
  }

  proxy::ConnLabels labels = proxy::connection_labels("gateway", *route, &*ep);
  labels.tls = "true";
  labels.client_id = client_id;
  labels.server_id = ep->addr.tls_identity();
  proxy::ConnectionMetrics conn(ctx.metrics, labels);

  proxy::TransportHeader header;
  header.target_port = static_cast<std::uint16_t>(ep->addr.addr().port());
  // An HTTP/2 session the gateway does not serve itself (protocol.http off) passes through
  // whole, to one endpoint: the session protocol travels on, so that the endpoint's proxy serves
  // it as HTTP/2 and not as the application's bytes.
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
