// The outbound HTTP request path (see http_outbound.h).
#include "sidecar/proxy/http_outbound.h"

#include <algorithm>

#include "sidecar/proxy/http/orig_proto.h"
#include "sidecar/proxy/http_answer.h"

namespace strait::proxy {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

HttpLabels http_labels(const ConnLabels& c, std::string authority) {
  HttpLabels l;
  l.direction = c.direction;
  l.authority = std::move(authority);
  l.tls = c.tls;
  l.client_id = c.client_id;
  l.server_id = c.server_id;
  l.dst_namespace = c.dst_namespace;
  l.dst_service = c.dst_service;
  l.dst_cluster = c.dst_cluster;
  l.target_cluster = c.target_cluster;
  l.target_service = c.target_service;
  l.target_service_namespace = c.target_service_namespace;
  return l;
}

OutboundHttp::OutboundHttp(ProxyContext& ctx, H2Pool& pool, HttpMetricFamilies& families,
                           Route route, std::string target, Options options)
    : ctx_(ctx),
      pool_(pool),
      families_(families),
      route_(std::move(route)),
      target_(std::move(target)),
      options_(std::move(options)) {}

std::shared_ptr<RouteMetrics> OutboundHttp::metrics_for(const Pick& endpoint,
                                                        const std::string& authority) {
  auto key = std::make_pair(endpoint.key, authority);
  auto it = metrics_.find(key);
  if (it != metrics_.end()) return it->second;
  auto labels = http_labels(connection_labels(options_.direction, route_, &endpoint), authority);
  if (!options_.client_id.empty()) {
    labels.client_id = options_.client_id;
    labels.tls = "true";
  }
  if (!options_.target_service.empty()) {
    labels.target_cluster = options_.target_cluster;
    labels.target_service = options_.target_service;
    labels.target_service_namespace = options_.target_service_namespace;
  }
  auto m = std::make_shared<RouteMetrics>(families_, std::move(labels));
  metrics_.emplace(std::move(key), m);
  return m;
}

asio::awaitable<http::Response> OutboundHttp::handle(http::Request request) {
  auto ex = co_await asio::this_coro::executor;
  const auto start = Clock::now();
  auto chosen = co_await choose_endpoint(ctx_, route_, target_, start + ctx_.config.fail_fast);
  if (!chosen) {
    ctx_.refuse(options_.direction.c_str(), chosen.error().code, chosen.error().message);
    if (request.body) request.body->cancel("refused");
    co_return proxy_error(ex, request.head, 503, chosen.error().code);
  }
  const char* direction = options_.direction.c_str();
  if (options_.local_only && (!chosen->addr.authority_override().empty() ||
                              (!options_.local_cluster.empty() && !chosen->addr.cluster().empty() &&
                               chosen->addr.cluster() != options_.local_cluster))) {
    ctx_.refuse(direction, "loop", target_ + " resolves to a mirror, not a local workload");
    if (request.body) request.body->cancel("loop");
    co_return proxy_error(ex, request.head, 502, "loop");
  }
  auto metrics = metrics_for(*chosen, request.head.authority);
  metrics->request();
  auto fail = [&](const Error& why) {
    log::warn("outbound request failed", {{"target", target_},
                                          {"endpoint", chosen->key},
                                          {"reason", why.code},
                                          {"detail", why.message}});
    if (request.body) request.body->cancel(why.code);
    metrics->response(0, std::nullopt, true, Clock::now() - start);
    return proxy_error(ex, request.head, 502, why.code);
  };

  if (!options_.keep_orig_proto) http::mark_orig_proto(request.head, false);
  if (!options_.forwarded.empty()) {
    auto& f = request.head.fields;
    auto it =
        std::find_if(f.begin(), f.end(), [](const auto& kv) { return kv.first == "forwarded"; });
    if (it == f.end()) {
      f.emplace_back("forwarded", options_.forwarded);
    } else {
      it->second += ", " + options_.forwarded;
    }
  }
  const bool replayable = !request.body;  // nothing of it is consumed by a refused attempt
  Result<http::Response> response = Error{"connection_error", "not sent"};
  // The balancer learns the endpoint's latency from the request's send to its response's head:
  // opening a connection is not the endpoint's slowness (the reference measures the same way).
  auto sent = Clock::now();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto client = co_await pool_.get(chosen->key, chosen->addr,
                                     connection_labels(options_.direction, route_, &*chosen));
    if (!client) co_return fail(client.error());
    sent = Clock::now();
    // A connection the peer closed with GOAWAY before taking this stream: the request never
    // reached the application, so a request without a body is sent again on a new connection.
    http::Request copy{request.head, request.body};
    response = co_await (*client)->send(std::move(copy));
    if (response || response.error().code != "goaway_retryable" || !replayable) break;
  }
  if (!response) co_return fail(response.error());
  chosen->in_flight.observe(Clock::now() - sent);
  auto held = std::make_shared<InFlight>(std::move(chosen->in_flight));
  co_return observe_response(
      std::move(*response), [metrics, held, start](const ResponseEnd& end) mutable {
        metrics->response(end.status, end.grpc_status, end.broken, Clock::now() - start);
        held.reset();
      });
}

}  // namespace strait::proxy
